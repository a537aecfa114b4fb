"""The fast /metrics paths: same numbers and same text as the plain definitions."""

from __future__ import annotations

import math
import random
from collections import Counter
from datetime import UTC, datetime

import pytest

from monitor import config as config_mod
from monitor.config import FIGURE_FAMILIES, TARGET_EXTRAS
from monitor.daemon import Monitor
from monitor.figures.periods import LIVE_PERIODS
from monitor.figures.sla import Policy, _terms, live_ratio
from monitor.metrics import DaemonStatus, _Reprs, build_registry, exposition, render_targets
from monitor.probes.base import ProbeResult
from monitor.scheduling import in_hours
from monitor.store import open_store
from tests.support import assert_promtool_accepts


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


EVERYTHING = {  # the metrics: section that exports every per-target series
    "target_figures": dict.fromkeys(LIVE_PERIODS, "all"),
    "target_extras": list(TARGET_EXTRAS),
}


@pytest.fixture
def monitor(tmp_path, clock, request):
    """Seven targets probed with a fractional clock: outages, one still open, maintenance.

    Parametrize indirectly with a ``metrics:`` section (default: none, the defaults)."""
    doc = {**CONFIG, "metrics": request.param} if hasattr(request, "param") else CONFIG
    config = config_mod.parse(doc, "t.yaml", {})
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


@pytest.mark.parametrize("monitor", [None, EVERYTHING], indirect=True)
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


@pytest.mark.parametrize("monitor", [EVERYTHING], indirect=True)
def test_figures_in_text_are_the_snapshot_values(monitor):
    now = monitor.clock.now
    snapshot = monitor.totals.snapshot(monitor.config, now)
    text = b"".join(render_targets(monitor, now)).decode()
    for t in monitor.config.targets:
        for kind in LIVE_PERIODS:
            live = snapshot.target(t.name, kind)
            labels = f'{{target="{t.name}",group="{t.group}",period="{kind}"}}'
            budget = live.error_budget_remaining
            for family, value in [
                ("scheduled_seconds", live.scheduled),
                ("monitored_seconds", live.monitored),
                ("downtime_seconds", live.down),
                ("error_budget_remaining_seconds", budget),
                ("error_budget_seconds", budget + live.down),
            ]:
                assert f"availmon_{family}{labels} {value!r}\n" in text
            if live.uptime_ratio is None:
                assert f"availmon_uptime_ratio{labels}" not in text
            else:
                assert f"availmon_uptime_ratio{labels} {live.uptime_ratio!r}\n" in text


def figure_samples(text: str) -> dict[str, set[tuple[str, str]]]:
    """target (or group) -> its (figure family, period) samples in the text."""
    found: dict[str, set[tuple[str, str]]] = {}
    for line in text.splitlines():
        if ',period="' not in line or line.startswith("#"):
            continue
        name, labels = line.split("{", 1)
        who = labels.split('"')[1]
        period = labels.split('period="')[1].split('"')[0]
        found.setdefault(who, set()).add((name.removeprefix("availmon_"), period))
    return found


QUARTER = {"uptime_ratio", "scheduled_seconds", "downtime_seconds"}
QUARTER |= {"error_budget_remaining_seconds"}


def test_by_default_targets_get_the_quarter_and_the_years_uptime_and_groups_everything(monitor):
    text = b"".join(render_targets(monitor, monitor.clock.now)).decode()
    samples = figure_samples(text)
    expected = {(f, "quarter") for f in QUARTER} | {("uptime_ratio", "year")}
    for t in monitor.config.targets:
        assert samples[t.name] == expected, t.name
    everything = {(f"group_{f}", kind) for f in FIGURE_FAMILIES for kind in LIVE_PERIODS}
    for group in monitor.config.groups:
        assert samples[group] == everything, group
    for extra in TARGET_EXTRAS:
        assert f"availmon_{extra}" not in text


@pytest.mark.parametrize(
    "monitor",
    [
        {
            "target_figures": {"day": ["downtime_seconds"], "week": "all"},
            "target_extras": ["probes_total", "target_info"],
        }
    ],
    indirect=True,
)
def test_configured_figures_and_extras_are_exported(monitor):
    text = b"".join(render_targets(monitor, monitor.clock.now)).decode()
    samples = figure_samples(text)
    expected = {("downtime_seconds", "day")} | {(f, "week") for f in FIGURE_FAMILIES}
    for t in monitor.config.targets:
        assert samples[t.name] == expected, t.name
        assert (
            f'availmon_probes_total{{target="{t.name}",group="{t.group}",type="tcp",result=' in text
        )
        assert f'availmon_target_info{{target="{t.name}",' in text
    assert "availmon_last_probe_timestamp_seconds" not in text


def per_target_samples(tmp_path, clock, extra: dict[str, object]) -> Counter[str]:
    """Samples in the whole /metrics body per target, after a few good probes each."""
    details: dict[str, dict[str, float]] = {
        "ping": {"icmp_rtt_seconds": 0.001, "icmp_packet_loss_ratio": 0.0},
        "web": {"http_status_code": 200, "ssl_earliest_cert_expiry": 2e9},
        "port": {},
        "behind": {},
    }
    doc = {
        **extra,
        "groups": {"g": {"objective": "99%"}},
        "targets": [
            {"name": "ping", "group": "g", "type": "icmp", "host": "127.0.0.1"},
            {"name": "web", "group": "g", "type": "http", "url": "https://127.0.0.1/"},
            {"name": "port", "group": "g", "type": "tcp", "host": "127.0.0.1", "port": 9},
            {
                **{"name": "behind", "group": "g", "type": "tcp", "host": "127.0.0.1"},
                **{"port": 9, "depends_on": ["port"]},
            },
        ],
    }
    store = open_store(tmp_path / "count.db")
    monitor = Monitor(config_mod.parse(doc, "t.yaml", {}), store, clock)
    monitor.resume()
    for _ in range(3):
        clock.now += 60
        for name, result in details.items():
            monitor.recorder.record(name, ProbeResult(True, 0.01, None, result), clock.now)
        monitor.heartbeat()
        monitor.maintain_totals()
    text = b"".join(exposition(monitor, build_registry(monitor, DaemonStatus()))).decode()
    store.close()
    counts: Counter[str] = Counter()
    for line in text.splitlines():
        if 'target="' in line and not line.startswith("#"):
            counts[line.split('target="')[1].split('"')[0]] += 1
    return counts


def test_the_default_series_budget_per_target(tmp_path, clock):
    """README: 12 samples for an ICMP target, 12 for HTTPS, 10 for TCP, +1 with depends_on."""
    counts = per_target_samples(tmp_path, clock, {})
    assert counts == {"ping": 12, "web": 12, "port": 10, "behind": 11}


def test_everything_per_target_is_what_it_was_before_the_budget(tmp_path, clock):
    """README: 30 figure samples per target for all periods, 4 for the extras."""
    counts = per_target_samples(tmp_path, clock, {"metrics": EVERYTHING})
    assert counts == {"ping": 12 - 5 + 30 + 4, "web": 12 - 5 + 30 + 4, "port": 39, "behind": 40}


@pytest.mark.slow
@pytest.mark.parametrize("monitor", [None, EVERYTHING], indirect=True)
def test_promtool_check_metrics_is_clean(monitor):
    """Every name and unit follows Prometheus' conventions, as promtool checks them."""
    body = b"".join(exposition(monitor, build_registry(monitor, DaemonStatus())))
    assert_promtool_accepts(body)


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
