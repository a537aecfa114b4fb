"""Prometheus exposition of live state and live figures.

Names follow blackbox_exporter where the meaning is the same. Everything is
computed at scrape time from what the daemon publishes in memory (``Monitored``:
each target's status, the live figures' running totals), never by rescanning history.

Two paths, for speed: the few daemon-wide series go through a
prometheus-client custom collector (plus the standard process metrics); the
per-target and per-group families -- about 10 series per target by default
(the series budget, ``Config.metrics``), up to 40 with every figure and extra --
are written straight to the text format with each target's label set escaped
once. prometheus-client's generic exposition escapes and
validates every label of every sample and took about 3 s for 10,000 targets;
see BENCHMARKS.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from io import StringIO
from typing import Protocol

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from monitor import __version__
from monitor.clock import Clock
from monitor.config import DEFAULT_OBJECTIVE, FIGURE_FAMILIES, Config, Objective, Target
from monitor.figures.fleet import FleetView
from monitor.figures.periods import LIVE_PERIODS, current_period
from monitor.figures.sla import Figures, GroupFigures
from monitor.figures.totals import LiveFigures, Snapshot
from monitor.probes import detail_metrics as probe_detail_metrics
from monitor.recording.outages import StoreHealth
from monitor.recording.recorder import IsolationStatus, TargetStatus

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _detail_families() -> dict[str, tuple[str, str, str]]:
    """ProbeResult.details key -> (metric name, help, extra labels as exposition text),
    as the registered probe types declare them."""
    return {
        key: (m.name, m.help, "".join(f',{k}="{_escape(v)}"' for k, v in m.labels))
        for key, m in probe_detail_metrics().items()
    }


class Monitored(Protocol):
    """What /metrics reads from the running daemon: published, read-only views."""

    @property
    def config(self) -> Config: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def status(self) -> Mapping[str, TargetStatus]: ...
    def store_health(self) -> StoreHealth: ...
    def lateness(self) -> Iterable[Metric]: ...
    def live_figures(self, now: float) -> Snapshot | None: ...
    def isolation(self) -> IsolationStatus: ...


@dataclass
class DaemonStatus:
    """Facts about the daemon itself that the collector reports."""

    reload_successful: bool = True
    reload_success_timestamp: float = 0.0


class DaemonCollector(Collector):
    """The daemon-wide series: build, config, store, schedules, probe lateness."""

    def __init__(self, monitored: Monitored, status: DaemonStatus) -> None:
        self.monitored = monitored
        self.status = status

    def collect(self) -> Iterator[Metric]:
        monitored = self.monitored
        config = monitored.config
        now = monitored.clock.time()
        store = monitored.store_health()
        hours = GaugeMetricFamily(
            "availmon_schedule_open",
            "1 while the schedule's working hours are open.",
            labels=["schedule"],
        )
        for name, schedule in config.schedules.items():
            hours.add_metric([name], 1.0 if schedule.is_open(now) else 0.0)
        yield hours
        targets = GaugeMetricFamily(
            "availmon_targets", "Configured targets per group.", labels=["group"]
        )
        per_group: dict[str, int] = dict.fromkeys(config.groups, 0)
        for t in config.targets:
            per_group[t.group] = per_group.get(t.group, 0) + 1
        for group, count in sorted(per_group.items()):
            targets.add_metric([group], count)
        yield targets
        info = GaugeMetricFamily("availmon_build_info", "availmon version.", labels=["version"])
        info.add_metric([__version__], 1.0)
        yield info
        yield GaugeMetricFamily(
            "availmon_config_last_reload_successful",
            "Whether the last configuration reload succeeded.",
            value=1.0 if self.status.reload_successful else 0.0,
        )
        yield GaugeMetricFamily(
            "availmon_config_last_reload_success_timestamp_seconds",
            "When the configuration was last loaded successfully.",
            value=self.status.reload_success_timestamp,
        )
        yield GaugeMetricFamily(
            "availmon_store_healthy",
            "Whether the last write to the database succeeded.",
            value=1.0 if store.healthy else 0.0,
        )
        yield CounterMetricFamily(
            "availmon_store_errors",
            "Database writes that failed (and were retried).",
            value=store.errors,
        )
        yield from monitored.lateness()
        yield from _isolation_families(monitored.isolation(), config, now)


def _isolation_families(isolation: IsolationStatus, config: Config, now: float) -> Iterator[Metric]:
    """Whether the monitor is cut off now (its witnesses failed), since when, and for how
    long in each current period (wall-clock seconds; that time is unmonitored)."""
    yield GaugeMetricFamily(
        "availmon_monitor_isolated",
        "1 while the monitor's witness targets fail: it is cut off, nothing is monitored.",
        value=0.0 if isolation.since is None else 1.0,
    )
    start = GaugeMetricFamily(
        "availmon_monitor_isolation_start_timestamp_seconds",
        "Start of the monitor's current isolation (absent when not isolated).",
    )
    if isolation.since is not None:
        start.add_metric([], isolation.since)
    yield start
    seconds = GaugeMetricFamily(
        "availmon_isolated_seconds",
        "Wall-clock seconds the monitor was isolated in the current period to date.",
        labels=["period"],
    )
    for kind in LIVE_PERIODS:
        period = current_period(kind, now, config.timezone, config.year_start_month)
        seconds.add_metric(
            [kind],
            sum(
                max(0.0, min(now if end is None else end, now) - max(begin, period.start))
                for begin, end in isolation.spans
            ),
        )
    yield seconds


def build_registry(monitored: Monitored, status: DaemonStatus) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DaemonCollector(monitored, status))
    ProcessCollector(registry=registry)
    return registry


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


@lru_cache(maxsize=65536)
def _labels(name: str, group: str) -> str:
    return f'target="{_escape(name)}",group="{_escape(group)}"'


def _target_labels(t: Target) -> str:
    return f'{_labels(t.name, t.group)},type="{t.type}"'


def _metadata(t: Target) -> str:
    """The target's labels from targets.yaml, as exposition text after its own."""
    return "".join(f',{name}="{_escape(value)}"' for name, value in t.labels)


def _family_text(name: str, kind: str, help_text: str) -> StringIO:
    text = StringIO()
    text.write(f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n")
    return text


class _Families:
    """Text-format families in order of their first sample, each HELP/TYPE once.

    Each family is a StringIO written sample by sample: a line's string is copied
    into the family's buffer and freed at once. Holding the 360,000 lines of a 10,000
    target scrape until a final join made each scrape allocate ~40 MB of small strings,
    and the allocator's arenas grew with them over hours (BENCHMARKS.md, soak).
    """

    def __init__(self) -> None:
        self.order: list[str] = []
        self.texts: dict[str, StringIO] = {}

    def family(self, name: str, kind: str, help_text: str) -> StringIO:
        """The family's text, to write samples to (created, with HELP/TYPE, if new)."""
        text = self.texts.get(name)
        if text is None:
            self.order.append(name)
            text = self.texts[name] = _family_text(name, kind, help_text)
        return text

    def add(self, name: str, kind: str, help_text: str, labels: str, value: float) -> None:
        self.family(name, kind, help_text).write(f"{name}{{{labels}}} {float(value)!r}\n")

    def chunks(self) -> list[bytes]:
        """The families in order, each encoded and its text freed before the next."""
        return [self.texts.pop(name).getvalue().encode() for name in list(self.order)]


class _Reprs(dict[float, str]):
    """``repr(float(v))`` by value, for one scrape.

    Most targets share most figures (a schedule's scheduled seconds, no downtime, a
    ratio of 1), and a float's repr costs several lookups.  Zero is not kept: 0.0 and
    -0.0 are one key but two texts.
    """

    def __missing__(self, value: float) -> str:
        text = repr(float(value))
        if value:
            self[value] = text
        return text


ONE, ZERO = repr(1.0), repr(0.0)


def render_targets(monitored: Monitored, now: float) -> list[bytes]:
    """The per-target and per-group families in the Prometheus text format.

    Each family's lines are fetched once, when its first sample appears (the order
    the families are written in), then appended to directly: this loop writes about
    five lines per target by default.
    """
    out = _Families()
    family = out.family
    g = "gauge"
    counts = _Reprs()
    counts[0] = ZERO  # counters are ints: no negative zero
    schedules: dict[str, str] = {}
    details = _detail_families()
    extras = monitored.config.metrics.target_extras  # metrics.target_extras: opt-in series
    with_info = "target_info" in extras  # else only for targets with labels
    with_stamps = "last_probe_timestamp_seconds" in extras
    with_probes = "probes_total" in extras
    success = duration = info = stamps = up = outages = starts = probes = None
    for status in list(monitored.status.values()):
        t = status.target
        labels = _target_labels(t)
        last = status.last
        if last is not None:
            if success is None or duration is None:
                success = family("probe_success", g, "Whether the last probe succeeded.")
                duration = family(
                    "probe_duration_seconds", g, "How many seconds the last probe took."
                )
            success.write(f"probe_success{{{labels}}} {ONE if last.success else ZERO}\n")
            duration.write(f"probe_duration_seconds{{{labels}}} {float(last.duration_seconds)!r}\n")
            for key, value in last.details.items():
                if key in details:
                    name, help_text, extra = details[key]
                    family(name, g, help_text).write(
                        f"{name}{{{labels}{extra}}} {float(value)!r}\n"
                    )
        if with_info or t.labels:
            if info is None:
                info = family(
                    "availmon_target_info",
                    g,
                    "Static facts about a target: 1, with its schedule and its labels"
                    " from targets.yaml.",
                )
            schedule = schedules.get(t.schedule)
            if schedule is None:
                schedule = schedules[t.schedule] = _escape(t.schedule)
            info.write(
                f'availmon_target_info{{{labels},schedule="{schedule}"{_metadata(t)}}} {ONE}\n'
            )
        if with_stamps and status.last_at is not None:
            if stamps is None:
                stamps = family(
                    "availmon_last_probe_timestamp_seconds", g, "When the target was last probed."
                )
            stamps.write(
                f"availmon_last_probe_timestamp_seconds{{{labels}}} {float(status.last_at)!r}\n"
            )
        if up is None or outages is None or starts is None:
            up = family(
                "availmon_target_up",
                g,
                "0 while an outage of the target is open, else 1 (absent until first probed).",
            )
            outages = family(
                "availmon_outages_total", "counter", "Outages detected for the target, all time."
            )
            # Declared even with no sample, so that rules see the family exists.
            starts = family(
                "availmon_outage_start_timestamp_seconds",
                g,
                "Start of the open outage (absent when none is open).",
            )
        state = status.state
        if last is not None or state.down:  # never probed (since start): no sample, as blackbox
            up.write(f"availmon_target_up{{{labels}}} {ZERO if state.down else ONE}\n")
        if t.depends_on:  # only a target with parents can be unreachable
            family(
                "availmon_target_unreachable",
                g,
                "1 while the target's outage is unreachable: a parent it depends on failed.",
            ).write(
                f"availmon_target_unreachable{{{labels}}} "
                f"{ZERO if status.outage_parent is None else ONE}\n"
            )
        outages.write(f"availmon_outages_total{{{labels}}} {counts[status.outages_total]}\n")
        if state.outage_start is not None:
            cause = _escape(status.outage_cause or "")
            starts.write(
                f'availmon_outage_start_timestamp_seconds{{{labels},cause="{cause}"}}'
                f" {float(state.outage_start)!r}\n"
            )
        if with_probes:
            if probes is None:
                probes = family(
                    "availmon_probes_total", "counter", "Probes run by this process, by result."
                )
            probes.write(
                f'availmon_probes_total{{{labels},result="success"}}'
                f" {counts[status.successes]}\n"
                f'availmon_probes_total{{{labels},result="failure"}}'
                f" {counts[status.failures]}\n"
            )
    _render_figures(out, monitored, now)
    return out.chunks()


FIGURE_HELP = {  # family (config.FIGURE_FAMILIES) -> help, per target and per group
    "uptime_ratio": (
        "Working-hours uptime of the current period to date (absent without time).",
        "Time-weighted working-hours uptime of the group, period to date.",
    ),
    "scheduled_seconds": (
        "Working hours less maintenance, period to date.",
        "Sum of the members' scheduled seconds.",
    ),
    "monitored_seconds": (
        "Scheduled time whose state is known, period to date.",
        "Sum of the members' monitored seconds.",
    ),
    "downtime_seconds": (
        "Scheduled time in outages, period to date.",
        "Sum of the members' downtime seconds.",
    ),
    "error_budget_remaining_seconds": (
        "Allowed downtime for the whole period less downtime so far.",
        "The group's allowed downtime for the period less its downtime so far.",
    ),
    "error_budget_seconds": (
        "Allowed downtime for the whole period: (1 - objective) x its scheduled seconds.",
        "The group's allowed downtime for the whole period.",
    ),
}
# Where each family's value sits in a PeriodRow; the allowed downtime (-1) is shown as
# remaining + down, so the two budget lines always agree.
_ROW_INDEX = {
    "uptime_ratio": 4,
    "scheduled_seconds": 0,
    "monitored_seconds": 1,
    "downtime_seconds": 3,
    "error_budget_remaining_seconds": 5,
    "error_budget_seconds": -1,
}
ALL_FIGURES = {kind: FIGURE_FAMILIES for kind in LIVE_PERIODS}

# One figure column: the family's text, the line's head (name and "{"), its tail
# (',period="..."} '), the period's index in LiveFigures and the value's _ROW_INDEX.
_Column = tuple[StringIO, str, str, int, int]


def _columns(
    prefix: str, chosen: Mapping[str, Sequence[str]], scope: int, out: _Families
) -> list[_Column]:
    """The figure lines to write per entity, family by family then period by period (the
    order of the text), decided once per scrape. ``scope``: 0 per target, 1 per group."""
    columns = []
    for family in FIGURE_FAMILIES:
        name = f"availmon_{prefix}{family}"
        for k, kind in enumerate(LIVE_PERIODS):
            if family in chosen.get(kind, ()):
                text = out.family(name, "gauge", FIGURE_HELP[family][scope])
                columns.append((text, f"{name}{{", f',period="{kind}"}} ', k, _ROW_INDEX[family]))
    return columns


def _figure_lines(labels: str, figures: LiveFigures, columns: list[_Column], reprs: _Reprs) -> None:
    """Append one entity's figure lines (the scrape's hot loop: a few per target)."""
    for text, head, tail, k, i in columns:
        row = figures[k]
        value = row[5] + row[3] if i < 0 else row[i]
        if value is not None:
            text.write(f"{head}{labels}{tail}{reprs[value]}\n")


def _in_year(objective: Objective, year: str) -> float:
    ratio = objective.for_year(year)
    return DEFAULT_OBJECTIVE if ratio is None else ratio


def _render_figures(out: _Families, monitored: Monitored, now: float) -> None:
    """Working-hours figures for the current day/week/month/quarter/year to date."""
    config = monitored.config
    snapshot = monitored.live_figures(now)
    if snapshot is None:
        return
    g = "gauge"
    reprs = _Reprs()
    # The objectives in force now: the current reporting year's (labelled once per scrape;
    # targets share a few Objective objects, so each is resolved once).
    year = current_period("year", now, config.timezone, config.year_start_month).label
    in_year: dict[int, str] = {}
    figures_of = snapshot.targets.get
    maintenance = snapshot.in_maintenance
    objectives = out.family(
        "availmon_uptime_objective_ratio",
        g,
        "The target's uptime objective in the current reporting year.",
    )
    in_maint = None
    columns = _columns("", config.metrics.target_figures, 0, out)
    for t in config.targets:
        labels = _labels(t.name, t.group)
        objective = in_year.get(id(t.objective))
        if objective is None:
            objective = in_year[id(t.objective)] = reprs[_in_year(t.objective, year)]
        objectives.write(f"availmon_uptime_objective_ratio{{{labels}}} {objective}\n")
        flag = maintenance.get(t.name)
        if flag is not None:
            if in_maint is None:
                in_maint = out.family(
                    "availmon_in_maintenance",
                    g,
                    "1 while a maintenance window applies to the target "
                    "(only targets with maintenance windows).",
                )
            in_maint.write(f"availmon_in_maintenance{{{labels}}} {ONE if flag else ZERO}\n")
        figures = figures_of(t.name)
        if figures is not None:
            _figure_lines(labels, figures, columns, reprs)
    group_columns = _columns("group_", ALL_FIGURES, 1, out)
    for group, figures in sorted(snapshot.groups.items()):
        _figure_lines(f'group="{_escape(group)}"', figures, group_columns, reprs)
    for name, spec in sorted(config.groups.items()):
        out.add(
            "availmon_group_uptime_objective_ratio",
            g,
            "The group's uptime objective in the current reporting year.",
            f'group="{_escape(name)}"',
            _in_year(spec.objective, year),
        )


def render_fleet(view: FleetView) -> list[bytes]:
    """The fleet's combined figures (``--fleet-figures``): per target its confirmed state
    and, per target and per group, the figures the series budget exports per target."""
    out = _Families()
    reprs = _Reprs()
    g = "gauge"
    out.add(
        "availmon_fleet_computed_timestamp_seconds",
        g,
        "The instant the fleet's figures describe (recomputed periodically).",
        "",
        view.now,
    )
    up = out.family(
        "availmon_fleet_target_up",
        g,
        "0 while the vantages monitoring the target agree it fails, else 1"
        " (absent while no vantage monitors it).",
    )
    chosen = view.config.metrics.target_figures
    columns = [
        (family, kind) for family in FIGURE_FAMILIES for kind in LIVE_PERIODS
        if family in chosen.get(kind, ())
    ]  # fmt: skip
    for t in view.config.targets:
        labels = _labels(t.name, t.group)
        state = view.up.get(t.name)
        if state is not None:
            up.write(f"availmon_fleet_target_up{{{labels}}} {ONE if state else ZERO}\n")
        _fleet_lines(out, "fleet_", 0, labels, view.targets[t.name], columns, reprs)
    for group, figures in sorted(view.groups.items()):
        _fleet_lines(out, "fleet_group_", 1, f'group="{_escape(group)}"', figures, columns, reprs)
    return out.chunks()


def _fleet_lines(
    out: _Families,
    prefix: str,
    scope: int,
    labels: str,
    by_period: Mapping[str, Figures | GroupFigures],
    columns: Sequence[tuple[str, str]],
    reprs: _Reprs,
) -> None:
    """One target's or group's fleet figures, family by family then period by period."""
    for family, kind in columns:
        value = getattr(by_period[kind], family)
        if value is not None:
            name = f"availmon_{prefix}{family}"
            out.family(name, "gauge", FIGURE_HELP[family][scope]).write(
                f'{name}{{{labels},period="{kind}"}} {reprs[value]}\n'
            )


def exposition(
    monitored: Monitored, registry: CollectorRegistry, fleet: FleetView | None = None
) -> list[bytes]:
    """The whole /metrics body, in chunks (one per family): never one 37 MB copy; with
    ``fleet``, the fleet's figures too."""
    return [
        generate_latest(registry),
        *render_targets(monitored, monitored.clock.time()),
        *(render_fleet(fleet) if fleet is not None else ()),
    ]
