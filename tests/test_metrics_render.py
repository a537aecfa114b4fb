"""The fast /metrics paths: same numbers and same text as the plain definitions."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime

import pytest

from monitor import config as config_mod
from monitor.daemon import Monitor
from monitor.figures.periods import LIVE_PERIODS
from monitor.figures.sla import Policy, _terms, live_ratio
from monitor.metrics import DaemonStatus, _Reprs, build_registry, exposition, render_targets
from monitor.probes.base import ProbeResult
from monitor.scheduling import in_hours
from monitor.store import open_store


def utc(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


def plain_ratio(policy: Policy, *seconds: float) -> float | None:
    """The formula as written in sla.py, through the generic ``_terms``."""
    numerator, denominator = _terms(policy, *seconds)
    if denominator <= 0:
        return None
    return min(1.0, max(0.0, 1 - numerator / denominator))


@pytest.mark.parametrize("policy", list(Policy))
def test_live_ratio_is_the_policy_formula(policy):
    ratio = live_ratio(policy)
    rng = random.Random(7)
    odd = [0.0, -0.0, 1.0, 36_000.0, -5.0, 1e-300, math.inf, -math.inf, math.nan]
    for _ in range(20_000):
        seconds = [
            rng.choice(odd) if rng.random() < 0.3 else rng.uniform(-10, 1e6) for _ in range(4)
        ]
        try:
            expected = repr(plain_ratio(policy, *seconds))
        except ZeroDivisionError:
            expected = "ZeroDivisionError"
        try:
            got = repr(ratio(*seconds))
        except ZeroDivisionError:
            got = "ZeroDivisionError"
        assert got == expected, seconds


def test_reprs_keep_signed_zero_and_ints_as_floats():
    reprs = _Reprs()
    assert (reprs[0.0], reprs[-0.0], reprs[0], reprs[5], reprs[5.0]) == (
        "0.0",
        "-0.0",
        "0.0",
        "5.0",
        "5.0",
    )
    assert reprs[0.1 + 0.2] == repr(0.1 + 0.2) and reprs[math.nan] == "nan"


CONFIG = {
    "timezone": "Europe/London",
    "defaults": {"interval": "1m", "timeout": "5s"},
    "schedules": {"office": {"hours": {"mon-fri": "08:00-18:00"}}},
    "groups": {"systems": {"objective": "99%"}, "net": {"objective": "99.5%"}},
    "reporting": {"year_start_month": 4},
    "maintenance": [
        {
            "targets": ["t2"],
            "start": "2024-03-06T10:30",
            "end": "2024-03-06T14:00",
            "reason": "patching",
        }
    ],
    "targets": [
        {
            "name": f"t{i}",
            "group": ["systems", "net"][i % 2],
            "type": "tcp",
            "host": "127.0.0.1",
            "port": 9,
            "schedule": ["office", "always"][i % 3 == 0],
            "probe_outside_hours": i == 4,
        }
        for i in range(7)
    ],
}


@pytest.fixture
def monitor(tmp_path, clock):
    """Seven targets probed with a fractional clock: outages, one still open, maintenance."""
    config = config_mod.parse(CONFIG, "t.yaml", {})
    store = open_store(tmp_path / "a.db")
    clock.advance(0.123456)
    monitor = Monitor(config, store, clock)
    monitor.resume()
    step = 0
    while clock.now < utc(2024, 3, 6, 12, 30):
        clock.now += 60.000137
        step += 1
        for name, live in monitor.recorder.status.items():
            k = int(name[1:])
            if in_hours(monitor.config, live.target, clock.now):
                down = (k == 1 and 60 < step < 90) or (k == 3 and step > 250)
                details = {"http_status_code": 503 if down else 200} if k % 2 else {}
                monitor.recorder.record(
                    name,
                    ProbeResult(not down, 0.0101 * k, "HTTP 503" if down else None, details),
                    clock.now,
                )
        if step % 15 == 0:
            monitor.heartbeat()
        monitor.maintain_totals()
    clock.now += 17.25  # mid-way between folds: every figure has a tail
    yield monitor
    store.close()


def test_text_families_are_contiguous_with_one_header(monitor):
    text = b"".join(exposition(monitor, build_registry(monitor, DaemonStatus()))).decode()
    seen: list[str] = []
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split()[2]
            assert name not in seen, f"{name} has two headers"
            seen.append(name)
        elif not line.startswith("#"):
            name = line.split("{")[0].split()[0]
            family = seen[-1]
            assert name == family or name.startswith(family + "_"), (family, line)
    assert "availmon_outage_start_timestamp_seconds" in seen
    assert 'availmon_in_maintenance{target="t2",group="systems"} 1.0' in text


def test_figures_in_text_are_the_snapshot_values(monitor):
    now = monitor.clock.now
    snapshot = monitor.totals.snapshot(monitor.config, now)
    text = b"".join(render_targets(monitor, now)).decode()
    for t in monitor.config.targets:
        for kind in LIVE_PERIODS:
            live = snapshot.target(t.name, kind)
            labels = f'{{target="{t.name}",group="{t.group}",period="{kind}"}}'
            assert f"availmon_downtime_seconds{labels} {live.down!r}\n" in text
            assert f"availmon_monitored_seconds{labels} {live.monitored!r}\n" in text
            budget = live.error_budget_remaining
            assert f"availmon_error_budget_remaining_seconds{labels} {budget!r}\n" in text
            if live.uptime_ratio is None:
                assert f"availmon_uptime_ratio{labels}" not in text
            else:
                assert f"availmon_uptime_ratio{labels} {live.uptime_ratio!r}\n" in text


def test_group_sums_add_members_in_configuration_order(monitor):
    """Exactly the one-by-one float sums (not merely close): the text must not drift."""
    config = monitor.config
    snapshot = monitor.totals.snapshot(config, monitor.clock.now)
    assert any(v % 1 for row in snapshot.targets.values() for v in row[0][:4])  # fractions
    ratio = live_ratio(Policy(config.unmonitored))
    for group in config.groups:
        members = [snapshot.targets[t.name] for t in config.targets if t.group == group]
        for k, kind in enumerate(LIVE_PERIODS):
            sums = [0.0] * 4
            for row in members:
                for f in range(4):
                    sums[f] += row[k][f]
            live = snapshot.group(group, kind)
            assert tuple(live[:4]) == tuple(sums)
            assert live.uptime_ratio == ratio(*sums)
