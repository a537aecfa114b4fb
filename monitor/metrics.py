"""Prometheus exposition of live state and live figures.

Names follow blackbox_exporter where the meaning is the same. Everything is
computed at scrape time from what the daemon publishes in memory (``Monitored``:
each target's status, the live figures' running totals), never by rescanning history.

Two paths, for speed: the few daemon-wide series go through a
prometheus-client custom collector (plus the standard process metrics); the
per-target and per-group families -- about 30 series per target, 300,000 at
10,000 targets -- are written straight to the text format with each target's
label set escaped once. prometheus-client's generic exposition escapes and
validates every label of every sample and took about 3 s for 10,000 targets;
see BENCHMARKS.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
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
from monitor.config import DEFAULT_OBJECTIVE, Config, Objective, Target
from monitor.figures.periods import LIVE_PERIODS, current_period
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
            "availmon_working_hours_open",
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
    ten lines per target.
    """
    out = _Families()
    family = out.family
    g = "gauge"
    counts = _Reprs()
    counts[0] = ZERO  # counters are ints: no negative zero
    schedules: dict[str, str] = {}
    details = _detail_families()
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
        if info is None:
            info = family(
                "availmon_target_info",
                g,
                "Static facts about a target: 1, with its schedule as a label.",
            )
        schedule = schedules.get(t.schedule)
        if schedule is None:
            schedule = schedules[t.schedule] = _escape(t.schedule)
        info.write(f'availmon_target_info{{{labels},schedule="{schedule}"}} {ONE}\n')
        if status.last_at is not None:
            if stamps is None:
                stamps = family(
                    "availmon_last_probe_timestamp_seconds", g, "When the target was last probed."
                )
            stamps.write(
                f"availmon_last_probe_timestamp_seconds{{{labels}}} {float(status.last_at)!r}\n"
            )
        if up is None or outages is None or starts is None or probes is None:
            up = family("availmon_target_up", g, "0 while an outage of the target is open, else 1.")
            outages = family(
                "availmon_outages_total", "counter", "Outages detected for the target, all time."
            )
            # Declared even with no sample, so that rules see the family exists.
            starts = family(
                "availmon_outage_start_timestamp_seconds",
                g,
                "Start of the open outage (absent when none is open).",
            )
            probes = family(
                "availmon_probes_total", "counter", "Probes run by this process, by result."
            )
        state = status.state
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
        probes.write(
            f'availmon_probes_total{{{labels},result="success"}}'
            f" {counts[status.successes]}\n"
            f'availmon_probes_total{{{labels},result="failure"}}'
            f" {counts[status.failures]}\n"
        )
    _render_figures(out, monitored, now)
    return out.chunks()


TARGET_FIGURES = (  # name, help: one sample per target and period
    (
        "availmon_uptime_ratio",
        "Working-hours uptime of the current period to date (absent without time).",
    ),
    ("availmon_scheduled_seconds", "Working hours less maintenance, period to date."),
    ("availmon_monitored_seconds", "Scheduled time whose state is known, period to date."),
    ("availmon_downtime_seconds", "Scheduled time in outages, period to date."),
    (
        "availmon_error_budget_remaining_seconds",
        "Allowed downtime for the whole period less downtime so far.",
    ),
    (
        "availmon_error_budget_seconds",
        "Allowed downtime for the whole period: (1 - objective) x its scheduled seconds.",
    ),
)
GROUP_FIGURES = (
    (
        "availmon_group_uptime_ratio",
        "Time-weighted working-hours uptime of the group, period to date.",
    ),
    ("availmon_group_scheduled_seconds", "Sum of the members' scheduled seconds."),
    ("availmon_group_monitored_seconds", "Sum of the members' monitored seconds."),
    ("availmon_group_downtime_seconds", "Sum of the members' downtime seconds."),
    (
        "availmon_group_error_budget_remaining_seconds",
        "The group's allowed downtime for the period less its downtime so far.",
    ),
    ("availmon_group_error_budget_seconds", "The group's allowed downtime for the whole period."),
)


TARGET_NAMES = tuple(name for name, _ in TARGET_FIGURES)
GROUP_NAMES = tuple(name for name, _ in GROUP_FIGURES)
_PERIODS = tuple(f',period="{kind}"}} ' for kind in LIVE_PERIODS)  # each line's last label


def _figure_lines(
    names: tuple[str, ...],
    labels: str,
    figures: LiveFigures,
    out: tuple[StringIO, ...],
    reprs: _Reprs,
) -> None:
    """Append one entity's figures for the five periods (the scrape's hot loop).

    Written out period by period, one string per family and entity rather than one per
    line: at 10,000 targets each microsecond per call is 10 ms of every scrape.
    """
    ratio, scheduled, monitored, down, budget, allowed = out
    n_ratio, n_sched, n_mon, n_down, n_budget, n_allowed = names
    q0, q1, q2, q3, q4 = _PERIODS
    f0, f1, f2, f3, f4 = figures
    s0, m0, _, d0, r0, b0 = f0
    s1, m1, _, d1, r1, b1 = f1
    s2, m2, _, d2, r2, b2 = f2
    s3, m3, _, d3, r3, b3 = f3
    s4, m4, _, d4, r4, b4 = f4
    o = "{" + labels  # each line: name, o, period, value
    if r0 is not None:
        ratio.write(f"{n_ratio}{o}{q0}{reprs[r0]}\n")
    if r1 is not None:
        ratio.write(f"{n_ratio}{o}{q1}{reprs[r1]}\n")
    if r2 is not None:
        ratio.write(f"{n_ratio}{o}{q2}{reprs[r2]}\n")
    if r3 is not None:
        ratio.write(f"{n_ratio}{o}{q3}{reprs[r3]}\n")
    if r4 is not None:
        ratio.write(f"{n_ratio}{o}{q4}{reprs[r4]}\n")
    scheduled.write(_five(n_sched, o, reprs, s0, s1, s2, s3, s4))
    monitored.write(_five(n_mon, o, reprs, m0, m1, m2, m3, m4))
    down.write(_five(n_down, o, reprs, d0, d1, d2, d3, d4))
    budget.write(_five(n_budget, o, reprs, b0, b1, b2, b3, b4))
    # shown as remaining + down, so the two budget lines always agree
    allowed.write(_five(n_allowed, o, reprs, b0 + d0, b1 + d1, b2 + d2, b3 + d3, b4 + d4))


def _five(
    name: str, o: str, reprs: _Reprs, v0: float, v1: float, v2: float, v3: float, v4: float
) -> str:
    """One family's five period lines for one entity, as one string."""
    q0, q1, q2, q3, q4 = _PERIODS
    return (
        f"{name}{o}{q0}{reprs[v0]}\n{name}{o}{q1}{reprs[v1]}\n{name}{o}{q2}{reprs[v2]}\n"
        f"{name}{o}{q3}{reprs[v3]}\n{name}{o}{q4}{reprs[v4]}\n"
    )


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
    lines = tuple(_family_text(name, g, help_text) for name, help_text in TARGET_FIGURES)
    # The objectives in force now: the current reporting year's (labelled once per scrape;
    # targets share a few Objective objects, so each is resolved once).
    year = current_period("year", now, config.timezone, config.year_start_month).label
    in_year: dict[int, str] = {}
    figures_of = snapshot.targets.get
    maintenance = snapshot.in_maintenance
    objectives = in_maint = None
    for t in config.targets:
        labels = _labels(t.name, t.group)
        if objectives is None:
            objectives = out.family(
                "availmon_uptime_objective_ratio",
                g,
                "The target's uptime objective in the current reporting year.",
            )
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
                    "1 while a maintenance window applies to the target.",
                )
            in_maint.write(f"availmon_in_maintenance{{{labels}}} {ONE if flag else ZERO}\n")
        figures = figures_of(t.name)
        if figures is not None:
            _figure_lines(TARGET_NAMES, labels, figures, lines, reprs)
    group_lines = tuple(_family_text(name, g, help_text) for name, help_text in GROUP_FIGURES)
    for group, figures in sorted(snapshot.groups.items()):
        _figure_lines(GROUP_NAMES, f'group="{_escape(group)}"', figures, group_lines, reprs)
    for name, spec in sorted(config.groups.items()):
        out.add(
            "availmon_group_uptime_objective_ratio",
            g,
            "The group's uptime objective in the current reporting year.",
            f'group="{_escape(name)}"',
            _in_year(spec.objective, year),
        )
    for (name, _), family in zip(
        (*TARGET_FIGURES, *GROUP_FIGURES), (*lines, *group_lines), strict=True
    ):
        out.order.append(name)
        out.texts[name] = family


def exposition(monitored: Monitored, registry: CollectorRegistry) -> list[bytes]:
    """The whole /metrics body, in chunks (one per family): never one 37 MB copy."""
    return [generate_latest(registry), *render_targets(monitored, monitored.clock.time())]
