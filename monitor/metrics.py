"""Prometheus exposition of live state and live figures.

Names follow blackbox_exporter where the meaning is the same. Everything is
computed at scrape time from state already in memory (running totals, the
runner's live targets), never by rescanning history.

Two paths, for speed: the few daemon-wide series go through a
prometheus-client custom collector (plus the standard process metrics); the
per-target and per-group families -- about 30 series per target, 300,000 at
10,000 targets -- are written straight to the text format with each target's
label set escaped once. prometheus-client's generic exposition escapes and
validates every label of every sample and took about 3 s for 10,000 targets;
see BENCHMARKS.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from monitor import __version__
from monitor.config import DEFAULT_OBJECTIVE, Objective, Target
from monitor.periods import current_period
from monitor.runner import Runner
from monitor.totals import KINDS, Live

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# ProbeResult.details key -> (metric name, help, extra labels as exposition text)
DETAIL_METRICS: dict[str, tuple[str, str, str]] = {
    "http_status_code": ("probe_http_status_code", "Response HTTP status code.", ""),
    "ssl_earliest_cert_expiry": (
        "probe_ssl_earliest_cert_expiry", "Earliest SSL cert expiry in unixtime.", ""),
    "icmp_rtt_seconds": (
        "probe_icmp_duration_seconds", "Duration of ICMP request by phase.", ',phase="rtt"'),
    "icmp_packet_loss_ratio": (
        "availmon_icmp_packet_loss_ratio", "Share of ICMP echo requests unanswered.", ""),
}


@dataclass
class DaemonStatus:
    """Facts about the daemon itself that the collector reports."""

    reload_successful: bool = True
    reload_success_timestamp: float = 0.0


class DaemonCollector(Collector):
    """The daemon-wide series: build, config, store, schedules, probe lateness."""

    def __init__(self, runner: Runner, status: DaemonStatus) -> None:
        self.runner = runner
        self.status = status

    def collect(self) -> Iterator[Metric]:
        runner = self.runner
        config = runner.config
        now = runner.clock.time()
        hours = GaugeMetricFamily("availmon_working_hours_open",
                                  "1 while the schedule's working hours are open.",
                                  labels=["schedule"])
        for name, schedule in config.schedules.items():
            hours.add_metric([name], 1.0 if schedule.is_open(now) else 0.0)
        yield hours
        targets = GaugeMetricFamily("availmon_targets", "Configured targets per group.",
                                    labels=["group"])
        per_group: dict[str, int] = dict.fromkeys(config.groups, 0)
        for t in config.targets:
            per_group[t.group] = per_group.get(t.group, 0) + 1
        for group, count in sorted(per_group.items()):
            targets.add_metric([group], count)
        yield targets
        info = GaugeMetricFamily("availmon_build_info", "availmon version.", labels=["version"])
        info.add_metric([__version__], 1.0)
        yield info
        yield GaugeMetricFamily("availmon_config_last_reload_successful",
                                "Whether the last configuration reload succeeded.",
                                value=1.0 if self.status.reload_successful else 0.0)
        yield GaugeMetricFamily("availmon_config_last_reload_success_timestamp_seconds",
                                "When the configuration was last loaded successfully.",
                                value=self.status.reload_success_timestamp)
        yield GaugeMetricFamily("availmon_store_healthy",
                                "Whether the last write to the database succeeded.",
                                value=1.0 if runner.store_healthy else 0.0)
        yield CounterMetricFamily("availmon_store_errors",
                                  "Database writes that failed (and were retried).",
                                  value=runner.store_errors)
        yield from runner.lateness.collect()


def build_registry(runner: Runner, status: DaemonStatus) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DaemonCollector(runner, status))
    ProcessCollector(registry=registry)
    return registry


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


@lru_cache(maxsize=65536)
def _labels(name: str, group: str) -> str:
    return f'target="{_escape(name)}",group="{_escape(group)}"'


def _target_labels(t: Target) -> str:
    return f'{_labels(t.name, t.group)},type="{t.type}"'


class _Families:
    """Text-format families, filled sample by sample."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self.lines: dict[str, list[str]] = {}

    def add(self, name: str, kind: str, help_text: str, labels: str, value: float) -> None:
        lines = self.lines.get(name)
        if lines is None:
            self.order.append(name)
            lines = self.lines[name] = [f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n"]
        lines.append(f"{name}{{{labels}}} {float(value)!r}\n")

    def declare(self, name: str, kind: str, help_text: str) -> None:
        """A family with no samples yet still gets its HELP/TYPE (so rules see it exists)."""
        if name not in self.lines:
            self.order.append(name)
            self.lines[name] = [f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n"]

    def text(self) -> str:
        return "".join("".join(self.lines[name]) for name in self.order)


def render_targets(runner: Runner, now: float) -> str:
    """The per-target and per-group families in the Prometheus text format."""
    out = _Families()
    g = "gauge"
    for live in list(runner.live.values()):
        t = live.target
        labels = _target_labels(t)
        last = live.last
        if last is not None:
            out.add("probe_success", g, "Whether the last probe succeeded.", labels,
                    1.0 if last.success else 0.0)
            out.add("probe_duration_seconds", g, "How many seconds the last probe took.",
                    labels, last.duration_seconds)
            for key, value in last.details.items():
                if key in DETAIL_METRICS:
                    name, help_text, extra = DETAIL_METRICS[key]
                    out.add(name, g, help_text, labels + extra, value)
        out.add("availmon_target_info", g,
                "Static facts about a target: 1, with its schedule as a label.",
                f'{labels},schedule="{_escape(t.schedule)}"', 1.0)
        if live.last_at is not None:
            out.add("availmon_last_probe_timestamp_seconds", g,
                    "When the target was last probed.", labels, live.last_at)
        state = live.state
        out.add("availmon_target_up", g, "0 while an outage of the target is open, else 1.",
                labels, 0.0 if state.down else 1.0)
        out.add("availmon_outages_total", "counter", "Outages detected for the target, all time.",
                labels, live.outages_total)
        out.declare("availmon_outage_start_timestamp_seconds", g,
                    "Start of the open outage (absent when none is open).")
        if state.outage_start is not None:
            out.add("availmon_outage_start_timestamp_seconds", g, "",
                    f'{labels},cause="{_escape(live.outage.cause if live.outage else "")}"',
                    state.outage_start)
        out.add("availmon_probes_total", "counter", "Probes run by this process, by result.",
                f'{labels},result="success"', live.successes)
        out.add("availmon_probes_total", "counter", "", f'{labels},result="failure"',
                live.failures)
    _render_figures(out, runner, now)
    return out.text()


TARGET_FIGURES = (  # name, help: one sample per target and period
    ("availmon_uptime_ratio",
     "Working-hours uptime of the current period to date (absent without time)."),
    ("availmon_scheduled_seconds", "Working hours less maintenance, period to date."),
    ("availmon_monitored_seconds", "Scheduled time whose state is known, period to date."),
    ("availmon_downtime_seconds", "Scheduled time in outages, period to date."),
    ("availmon_error_budget_remaining_seconds",
     "Allowed downtime for the whole period less downtime so far."),
    ("availmon_error_budget_seconds",
     "Allowed downtime for the whole period: (1 - objective) x its scheduled seconds."),
)
GROUP_FIGURES = (
    ("availmon_group_uptime_ratio",
     "Time-weighted working-hours uptime of the group, period to date."),
    ("availmon_group_scheduled_seconds", "Sum of the members' scheduled seconds."),
    ("availmon_group_monitored_seconds", "Sum of the members' monitored seconds."),
    ("availmon_group_downtime_seconds", "Sum of the members' downtime seconds."),
    ("availmon_group_error_budget_remaining_seconds",
     "The group's allowed downtime for the period less its downtime so far."),
    ("availmon_group_error_budget_seconds",
     "The group's allowed downtime for the whole period."),
)


def _figure_lines(names: tuple[tuple[str, str], ...], labels: str, lives: tuple[Live, ...],
                  out: tuple[list[str], ...]) -> None:
    """Append one entity's five figures for every period (the scrape's hot loop)."""
    ratio, scheduled, monitored, down, budget, allowed = out
    n_ratio, n_sched, n_mon, n_down, n_budget, n_allowed = (name for name, _ in names)
    for kind, live in zip(KINDS, lives, strict=True):
        pl = f'{labels},period="{kind}"}} '
        seconds = live.seconds
        if live.uptime_ratio is not None:
            ratio.append(f"{n_ratio}{{{pl}{live.uptime_ratio!r}\n")
        scheduled.append(f"{n_sched}{{{pl}{float(seconds.scheduled)!r}\n")
        monitored.append(f"{n_mon}{{{pl}{float(seconds.monitored)!r}\n")
        down.append(f"{n_down}{{{pl}{float(seconds.down)!r}\n")
        budget.append(f"{n_budget}{{{pl}{float(live.error_budget_remaining)!r}\n")
        allowed.append(f"{n_allowed}{{{pl}{float(live.error_budget_remaining + seconds.down)!r}\n")


def _in_year(objective: Objective, year: str) -> float:
    ratio = objective.for_year(year)
    return DEFAULT_OBJECTIVE if ratio is None else ratio


def _render_figures(out: _Families, runner: Runner, now: float) -> None:
    """Working-hours figures for the current day/week/month/quarter/year to date."""
    config = runner.config
    snapshot = runner.totals.snapshot(config, now)
    if snapshot is None:
        return
    g = "gauge"
    lines = tuple([f"# HELP {name} {help_text}\n# TYPE {name} gauge\n"]
                  for name, help_text in TARGET_FIGURES)
    # The objectives in force now: the current reporting year's (labelled once per scrape).
    year = current_period("year", now, config.timezone, config.year_start_month).label
    for t in config.targets:
        labels = _labels(t.name, t.group)
        out.add("availmon_uptime_objective_ratio", g,
                "The target's uptime objective in the current reporting year.", labels,
                _in_year(t.objective, year))
        if t.name in snapshot.in_maintenance:
            out.add("availmon_in_maintenance", g,
                    "1 while a maintenance window applies to the target.", labels,
                    1.0 if snapshot.in_maintenance[t.name] else 0.0)
        lives = snapshot.targets.get(t.name)
        if lives is not None:
            _figure_lines(TARGET_FIGURES, labels, lives, lines)
    group_lines = tuple([f"# HELP {name} {help_text}\n# TYPE {name} gauge\n"]
                        for name, help_text in GROUP_FIGURES)
    for group, lives in sorted(snapshot.groups.items()):
        _figure_lines(GROUP_FIGURES, f'group="{_escape(group)}"', lives, group_lines)
    for name, group in sorted(config.groups.items()):
        out.add("availmon_group_uptime_objective_ratio", g,
                "The group's uptime objective in the current reporting year.",
                f'group="{_escape(name)}"', _in_year(group.objective, year))
    for (name, _), family in zip((*TARGET_FIGURES, *GROUP_FIGURES), (*lines, *group_lines),
                                 strict=True):
        out.order.append(name)
        out.lines[name] = family


def exposition(runner: Runner, registry: CollectorRegistry) -> bytes:
    """The whole /metrics body."""
    return generate_latest(registry) + render_targets(runner, runner.clock.time()).encode()
