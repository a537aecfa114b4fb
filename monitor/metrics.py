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


def build_registry(runner: Runner, status: DaemonStatus) -> CollectorRegistry:
    """A registry with availmon's collector plus the standard process metrics."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AvailmonCollector(runner, status))
    ProcessCollector(registry=registry)
    return registry
