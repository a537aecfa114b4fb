"""Sharding end to end: two real availmon daemons (--shard 1/2 and --shard 2/2, one
targets.yaml) scraped by a real Prometheus that loads the shipped rules (loopback only).

The shards must own disjoint target sets covering every target, their series must never
collide, and the availmon.shards recording rules must combine the group figures of both
shards exactly as the raw sums do."""

from __future__ import annotations

import math
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from monitor.shard import owner
from tests.support import availmon_argv, free_port, http_server, need
from tests.test_prometheus import Stack, daemon, start_prometheus, stop

# Real daemons (one per shard) scraped by a real Prometheus.
pytestmark = pytest.mark.slow

SHARDS = 2
WAIT = 60.0  # bound on all the waiting for data, together
TOLERANCE = 1e-9
# name -> (group, kind); kind "ok" probes the loopback HTTP server, "refused" a closed port.
TARGETS = {
    "web": ("systems", "http"),
    "api": ("systems", "http"),
    "dead": ("systems", "refused"),
    "router": ("network", "tcp"),
    "switch": ("network", "tcp"),
    "vpn": ("network", "http"),
}
SUMS = ("downtime", "monitored", "scheduled", "error_budget")


@dataclass
class Shards:
    stack: Stack
    instances: dict[str, int]  # Prometheus instance label -> shard K


def wait_all(
    stack: Stack, procs: list[subprocess.Popen[bytes]], conditions: list[tuple[str, str]]
) -> None:
    """Each (what, expr) in turn until it has a result, all within WAIT seconds."""
    end = time.monotonic() + WAIT
    for what, expr in conditions:
        stack.wait_for(what, expr, procs, end)


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shards]:
    need("prometheus", "prometheus")  # skipped (failed in CI) before anything starts
    tmp = tmp_path_factory.mktemp("shards-e2e")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with http_server() as plain:
            plain_port = plain.server.server_address[1]
            dead_port, prom_port = free_port(), free_port()
            ports = {k: free_port() for k in range(1, SHARDS + 1)}
            lines = []
            for name, (group, kind) in TARGETS.items():
                if kind == "http":
                    lines.append(
                        f"  - {{name: {name}, group: {group}, type: http, url: '{plain.url}'}}"
                    )
                else:
                    port = dead_port if kind == "refused" else plain_port
                    lines.append(
                        f"  - {{name: {name}, group: {group}, type: tcp, "
                        f"host: 127.0.0.1, port: {port}}}"
                    )
            (tmp / "targets.yaml").write_text(
                "storage: {heartbeat: 1s}\n"
                "defaults: {interval: 1s, timeout: 500ms, schedule: always, "
                "failures_before_down: 1}\n"
                "groups: {systems: {objective: 99%}, network: {objective: 99.9%}}\n"
                "targets:\n" + "\n".join(lines) + "\n"
            )
            logs = [tmp / f"availmon-{k}.log" for k in ports] + [tmp / "prometheus.log"]
            config = tmp / "targets.yaml"
            for k, port in ports.items():
                run = availmon_argv("run", "-c", config, "--db", tmp / f"shard{k}.db")
                run += ["--listen", f"127.0.0.1:{port}", "--shard", f"{k}/{SHARDS}"]
                procs.append(daemon(run, logs[k - 1]))
            procs.append(start_prometheus(tmp, prom_port, list(ports.values()), logs[-1]))
            stack = Stack(f"http://127.0.0.1:{prom_port}", list(TARGETS), logs)
            combined = 'availmon:group_uptime_ratio:excluded{group="systems",period="quarter"}'
            wait_all(
                stack,
                procs,
                [
                    ("both shards scraped", f'count(up{{job="availmon"}} == 1) == {SHARDS}'),
                    ("every target reported", f"count(availmon_target_up) == {len(TARGETS)}"),
                    ("dead target down", 'availmon_target_up{target="dead"} == 0'),
                    ("downtime in the combined ratio", f"{combined} < 1"),
                    (
                        "several evaluations with downtime",
                        f"count_over_time(({combined} < 1)[30s:1s]) >= 6",
                    ),
                ],
            )
            yield Shards(stack, {f"127.0.0.1:{p}": k for k, p in ports.items()})
    finally:
        for proc in reversed(procs):
            stop(proc)


def test_shards_own_disjoint_target_sets_covering_every_target(shards):
    owned: dict[str, set[str]] = {}
    for r in shards.stack.result('availmon_target_up{job="availmon"}'):
        owned.setdefault(r["metric"]["instance"], set()).add(r["metric"]["target"])
    assert set(owned) == set(shards.instances)
    sets = list(owned.values())
    assert all(sets), owned
    assert not set.intersection(*sets), owned
    assert set.union(*sets) == set(TARGETS)
    # ... and each owns exactly what rendezvous hashing gives it.
    for instance, k in shards.instances.items():
        expected = {n for n in TARGETS if owner(n, SHARDS) == k}
        assert owned[instance] == expected, (instance, k)


def test_series_of_different_shards_never_collide(shards):
    # Every series with a target label (figures, outages, probe metrics, recording rules)
    # comes from exactly one instance.
    per_target = shards.stack.result(
        'count by (target) (count by (target, instance) ({job="availmon", target!=""}))'
    )
    assert {r["metric"]["target"]: r["value"][1] for r in per_target} == {
        name: "1" for name in TARGETS
    }
    # Group figures: one series per (instance, group, period), both groups on both shards.
    for r in shards.stack.result(
        "count by (instance, group, period) (availmon_group_downtime_seconds)"
    ):
        assert r["value"][1] == "1", r
    groups = shards.stack.result(
        'count by (group) (availmon_group_downtime_seconds{period="quarter"})'
    )
    assert {r["metric"]["group"]: r["value"][1] for r in groups} == {
        "systems": str(SHARDS),
        "network": str(SHARDS),
    }


def raw_sums(stack: Stack, group: str, at: float) -> dict[str, float] | None:
    """The shards' group figures summed by (group, period), as of evaluation time ``at``
    (None before the first scrape)."""
    sums = {}
    for name in SUMS:
        result = stack.result(
            f"sum by (group, period) (availmon_group_{name}_seconds"
            f'{{group="{group}",period="quarter"}} @ {at:.3f})'
        )
        if not result:
            return None
        [r] = result
        sums[name] = float(r["value"][1])
    return sums


EXPECTED = {  # recording rule -> its value from the raw sums
    "availmon:group_uptime_ratio:excluded": lambda s: 1 - s["downtime"] / s["monitored"],
    "availmon:group_uptime_ratio:up": lambda s: 1 - s["downtime"] / s["scheduled"],
    "availmon:group_uptime_ratio:down": lambda s: (
        1 - (s["downtime"] + s["scheduled"] - s["monitored"]) / s["scheduled"]
    ),
    "availmon:group_error_budget_remaining_seconds:sum": lambda s: (
        s["error_budget"] - s["downtime"]
    ),
}


def candidate_times(stack: Stack, group: str, at: float) -> list[float]:
    """``at``, and just before each shard's latest scrape if that scrape began under half a
    second before ``at``: Prometheus stamps a scrape with its start time but commits it when
    it ends, so the rule evaluated at ``at`` may not have seen it yet."""
    times = [at]
    for r in stack.result(
        f'timestamp(availmon_group_downtime_seconds{{group="{group}",period="quarter"}} @ {at:.3f})'
    ):
        scraped = float(r["value"][1])
        if at - scraped < 0.5:
            times.append(scraped - 0.001)
    return times


@pytest.mark.parametrize("group", ["systems", "network"])
@pytest.mark.parametrize("rule", list(EXPECTED))
def test_combined_group_figures_equal_the_raw_sums(shards, rule, group):
    stack = shards.stack
    [series] = stack.result(f'{rule}{{group="{group}",period="quarter"}}[8s]')
    samples = [(float(t), float(v)) for t, v in series["values"]]
    assert len(samples) >= 4, samples
    exact = 0
    for at, value in samples:
        sums = [raw_sums(stack, group, t) for t in candidate_times(stack, group, at)]
        expected = [EXPECTED[rule](s) for s in sums if s is not None]
        assert any(math.isclose(value, e, rel_tol=0, abs_tol=TOLERANCE) for e in expected), (
            f"{rule}{{group={group}}} @ {at}: {value}, raw sums give {expected}"
        )
        exact += math.isclose(value, expected[0], rel_tol=0, abs_tol=TOLERANCE)
    # Scrapes racing the evaluation are the exception, not the rule.
    assert exact * 2 > len(samples), (
        f"{rule}: only {exact} of {len(samples)} samples equal the raw sums at their own "
        "evaluation time"
    )
    if rule.startswith("availmon:group_uptime_ratio:"):
        last = samples[-1][1]
        if group == "systems":  # the refused target's outage counts against the group
            assert last < 1, samples
        else:
            assert 0 < last <= 1, samples


def test_single_shard_figures_are_not_the_combined_ones(shards):
    # The reason for the rules: each shard's own group ratio covers only its share.
    own = {
        r["metric"]["instance"]: float(r["value"][1])
        for r in shards.stack.result(
            'availmon_group_uptime_ratio{group="systems",period="quarter"}'
        )
    }
    assert set(own) == set(shards.instances)
    dead_shard = next(inst for inst, k in shards.instances.items() if owner("dead", SHARDS) == k)
    for instance, ratio in own.items():
        assert (ratio < 1) == (instance == dead_shard), own
