"""Prometheus exposition: one custom collector over the runner's live state.

Figures are computed at scrape time from state already in memory and yielded
as metric families (prometheus/client_python's custom-collector pattern),
rather than thousands of gauge objects poked on every probe. Names follow
blackbox_exporter where the meaning is the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from monitor import __version__
from monitor.runner import Runner
from monitor.totals import KINDS

TARGET_LABELS = ["target", "group", "type"]

# ProbeResult.details key -> (metric name, help, extra label names, extra label values)
DETAIL_METRICS: dict[str, tuple[str, str, tuple[str, ...], tuple[str, ...]]] = {
    "http_status_code": ("probe_http_status_code", "Response HTTP status code.", (), ()),
    "ssl_earliest_cert_expiry": (
        "probe_ssl_earliest_cert_expiry",
        "Earliest SSL cert expiry in unixtime.", (), ()),
    "icmp_rtt_seconds": (
        "probe_icmp_duration_seconds", "Duration of ICMP request by phase.", ("phase",), ("rtt",)),
    "icmp_packet_loss_ratio": (
        "availmon_icmp_packet_loss_ratio", "Share of ICMP echo requests unanswered.", (), ()),
}


@dataclass
class DaemonStatus:
    """Facts about the daemon itself that the collector reports."""

    reload_successful: bool = True
    reload_success_timestamp: float = 0.0


class AvailmonCollector(Collector):
    def __init__(self, runner: Runner, status: DaemonStatus) -> None:
        self.runner = runner
        self.status = status

    def collect(self) -> Iterator[Metric]:
        runner = self.runner
        now = runner.clock.time()
        lives = list(runner.live.values())

        success = GaugeMetricFamily("probe_success", "Whether the last probe succeeded.",
                                    labels=TARGET_LABELS)
        duration = GaugeMetricFamily("probe_duration_seconds",
                                     "How many seconds the last probe took.",
                                     labels=TARGET_LABELS)
        details: dict[str, GaugeMetricFamily] = {}
        up = GaugeMetricFamily("availmon_target_up",
                               "0 while an outage of the target is open, else 1.",
                               labels=TARGET_LABELS)
        outages = CounterMetricFamily("availmon_outages",
                                      "Outages detected for the target, all time.",
                                      labels=TARGET_LABELS)
        started = GaugeMetricFamily("availmon_outage_start_timestamp_seconds",
                                    "Start of the open outage (absent when none is open).",
                                    labels=[*TARGET_LABELS, "cause"])
        probes = CounterMetricFamily("availmon_probes", "Probes run by this process, by result.",
                                     labels=[*TARGET_LABELS, "result"])
        for live in lives:
            t = live.target
            labels = [t.name, t.group, t.type]
            if live.last is not None:
                success.add_metric(labels, 1.0 if live.last.success else 0.0)
                duration.add_metric(labels, live.last.duration_seconds)
                for key, value in live.last.details.items():
                    if key not in DETAIL_METRICS:
                        continue
                    name, help_text, extra_names, extra_values = DETAIL_METRICS[key]
                    family = details.get(name) or details.setdefault(
                        name, GaugeMetricFamily(name, help_text,
                                                labels=[*TARGET_LABELS, *extra_names]))
                    family.add_metric([*labels, *extra_values], value)
            state = live.state
            up.add_metric(labels, 0.0 if state.down else 1.0)
            outages.add_metric(labels, live.outages_total)
            if state.outage_start is not None:
                started.add_metric([*labels, live.outage_cause or ""], state.outage_start)
            probes.add_metric([*labels, "success"], live.successes)
            probes.add_metric([*labels, "failure"], live.failures)
        yield from (success, duration, *details.values(), up, outages, started, probes)

        hours = GaugeMetricFamily("availmon_working_hours_open",
                                  "1 while the schedule's working hours are open.",
                                  labels=["schedule"])
        for name, schedule in runner.config.schedules.items():
            hours.add_metric([name], 1.0 if schedule.is_open(now) else 0.0)
        yield hours

        targets = GaugeMetricFamily("availmon_targets", "Configured targets per group.",
                                    labels=["group"])
        per_group: dict[str, int] = dict.fromkeys(runner.config.groups, 0)
        for t in runner.config.targets:
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
        yield from runner.lateness.collect()
        yield from self._figures(now)

    def _figures(self, now: float) -> Iterator[Metric]:
        """Working-hours figures for the current day/week/month/quarter/year to date."""
        config = self.runner.config
        snapshot = self.runner.totals.snapshot(config, now)
        if snapshot is None:
            return
        labels = ["target", "group", "period"]
        ratio = GaugeMetricFamily(
            "availmon_uptime_ratio", "Working-hours uptime of the current period to date "
            "(absent without monitored time).", labels=labels)
        scheduled = GaugeMetricFamily("availmon_scheduled_seconds",
                                      "Working hours less maintenance, period to date.",
                                      labels=labels)
        monitored = GaugeMetricFamily("availmon_monitored_seconds",
                                      "Scheduled time whose state is known, period to date.",
                                      labels=labels)
        down = GaugeMetricFamily("availmon_downtime_seconds",
                                 "Scheduled time in outages, period to date.", labels=labels)
        budget = GaugeMetricFamily(
            "availmon_error_budget_remaining_seconds",
            "Allowed downtime for the whole period less downtime so far.", labels=labels)
        objective = GaugeMetricFamily("availmon_uptime_objective_ratio",
                                      "The target's uptime objective.",
                                      labels=["target", "group"])
        maintenance = GaugeMetricFamily("availmon_in_maintenance",
                                        "1 while a maintenance window applies to the target.",
                                        labels=["target", "group"])
        for target in config.targets:
            objective.add_metric([target.name, target.group], target.objective)
            if target.name in snapshot.in_maintenance:
                maintenance.add_metric([target.name, target.group],
                                       1.0 if snapshot.in_maintenance[target.name] else 0.0)
            for kind in KINDS:
                live = snapshot.targets.get((target.name, kind))
                if live is None:
                    continue
                values = [target.name, target.group, kind]
                if live.uptime_ratio is not None:
                    ratio.add_metric(values, live.uptime_ratio)
                scheduled.add_metric(values, live.seconds.scheduled)
                monitored.add_metric(values, live.seconds.monitored)
                down.add_metric(values, live.seconds.down)
                budget.add_metric(values, live.error_budget_remaining)
        yield from (ratio, scheduled, monitored, down, budget, objective, maintenance)

        g_labels = ["group", "period"]
        g_ratio = GaugeMetricFamily("availmon_group_uptime_ratio",
                                    "Time-weighted working-hours uptime of the group.",
                                    labels=g_labels)
        g_scheduled = GaugeMetricFamily("availmon_group_scheduled_seconds",
                                        "Sum of the members' scheduled seconds.", labels=g_labels)
        g_monitored = GaugeMetricFamily("availmon_group_monitored_seconds",
                                        "Sum of the members' monitored seconds.", labels=g_labels)
        g_down = GaugeMetricFamily("availmon_group_downtime_seconds",
                                   "Sum of the members' downtime seconds.", labels=g_labels)
        g_budget = GaugeMetricFamily("availmon_group_error_budget_remaining_seconds",
                                     "The group's allowed downtime for the period less its "
                                     "downtime so far.", labels=g_labels)
        g_objective = GaugeMetricFamily("availmon_group_uptime_objective_ratio",
                                        "The group's uptime objective.", labels=["group"])
        for (group, kind), live in sorted(snapshot.groups.items()):
            if live.uptime_ratio is not None:
                g_ratio.add_metric([group, kind], live.uptime_ratio)
            g_scheduled.add_metric([group, kind], live.seconds.scheduled)
            g_monitored.add_metric([group, kind], live.seconds.monitored)
            g_down.add_metric([group, kind], live.seconds.down)
            g_budget.add_metric([group, kind], live.error_budget_remaining)
        for name, group in sorted(config.groups.items()):
            g_objective.add_metric([name], group.objective)
        yield from (g_ratio, g_scheduled, g_monitored, g_down, g_budget, g_objective)


def build_registry(runner: Runner, status: DaemonStatus) -> CollectorRegistry:
    """A registry with availmon's collector plus the standard process metrics."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AvailmonCollector(runner, status))
    ProcessCollector(registry=registry)
    return registry
