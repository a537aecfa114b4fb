"""Issue 17: history from before availmon (coverage declared by a person, baselines typed in)
and coverage in every headline (insufficient data, on track / at risk), by hand.

Schedule ``office`` is mon-fri 08:00-18:00 in Europe/London with no public holidays, so a
working day is 36 000 s. 2024-Q1 has 65 weekdays (January 23, February 21, March 21):
2 340 000 s scheduled; at 99% its budget is 23 400 s.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
import yaml

from monitor import config as config_mod
from monitor import report
from monitor.figures.history import History
from monitor.figures.periods import parse_period
from monitor.store import CoverageSpan, Outage
from tests.support import at, in_process

CONFIG = """
timezone: Europe/London
schedules:
  office: {hours: {mon-fri: "08:00-18:00"}}
defaults: {schedule: office, objective: 99%}
groups:
  network: {objective: 99%}
  systems: {objective: 99%}
reporting:
  baselines: {2023: {network: 99.6%, systems: 99.77%}}
targets:
  - {name: core-switch, type: tcp, host: 127.0.0.1, port: 9, group: network}
  - {name: web, type: http, url: "http://127.0.0.1:9/", group: systems}
"""


@pytest.fixture
def files(tmp_path, alice):
    path = tmp_path / "targets.yaml"
    path.write_text(CONFIG)
    return ["-c", str(path), "--db", str(tmp_path / "availmon.db")]


def back_fill(capsys, files, *, nagios: bool) -> None:
    for start, end, cause in (
        ("2024-01-10T09:00", "2024-01-10T11:00", "switch reboot (helpdesk 101)"),
        ("2024-02-14T17:00", "2024-02-15T09:00", "fibre cut (helpdesk 202)"),
    ):
        code, _, err = in_process(
            capsys, "outages", "add", *files, "--create", "--target", "core-switch",
            "--start", start, "--end", end, "--cause", cause,
        )  # fmt: skip
        assert (code, err) == (0, "")
    if nagios:
        code, out, err = in_process(
            capsys, "coverage", "add", *files, "--all", "--start", "2024-01-01",
            "--end", "2024-04-01", "--source", "Nagios",
        )  # fmt: skip
        assert (code, err) == (0, "")
        assert "declared 2 coverage span(s) watched by Nagios" in out


def quarter(capsys, files, *extra: str) -> dict:
    code, out, err = in_process(
        capsys, "report", *files, "--period", "2024-Q1", "--format", "json", *extra
    )
    assert (code, err) == (0, "")
    return json.loads(out)


def test_a_back_filled_quarter_watched_by_nagios_has_its_exact_uptime(files, capsys):
    back_fill(capsys, files, nagios=True)
    doc = quarter(capsys, files)
    (switch, web) = doc["targets"]
    # Down: 2 h on 10 January + (17:00-18:00 and 08:00-09:00) = 4 h = 14 400 s of 2 340 000
    # scheduled, all of it watched by Nagios: 1 - 14 400 / 2 340 000 = 0.993846...
    assert (switch["scheduled_seconds"], switch["monitored_seconds"]) == (2_340_000, 2_340_000)
    assert switch["downtime_seconds"] == 14_400
    assert switch["uptime_ratio"] == pytest.approx(1 - 14_400 / 2_340_000, abs=1e-15)
    assert (switch["coverage_ratio"], switch["status"], switch["met"]) == (1.0, "met", True)
    assert (web["uptime_ratio"], web["coverage_ratio"], web["status"]) == (1.0, 1.0, "met")

    # The trail: who declared which span, shown by the list command.
    _, out, _ = in_process(capsys, "coverage", "list", *files)
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "TARGET", "START", "END", "SOURCE"]
    assert lines[1].split() == [
        "1", "core-switch", "2024-01-01T00:00:00+00:00", "2024-04-01T00:00:00+01:00", "Nagios"
    ]  # fmt: skip
    assert [line.split()[:2] + line.split()[-2:] for line in lines[3:]] == [
        ["#1", "coverage-add", "by", "alice"],
        ["#2", "coverage-add", "by", "alice"],
    ]


def test_without_declared_coverage_the_back_filled_quarter_is_insufficient_data(files, capsys):
    back_fill(capsys, files, nagios=False)
    (switch, _) = quarter(capsys, files)["targets"]
    # Only the outages themselves are known: 14 400 s monitored, all of it down. 0% uptime,
    # but 0.61% coverage and 14 400 s is within the 23 400 s budget: nothing to judge by.
    assert (switch["monitored_seconds"], switch["uptime_ratio"]) == (14_400, 0.0)
    assert switch["coverage_ratio"] == round(14_400 / 2_340_000, 6)
    assert (switch["met"], switch["status"]) == (False, "insufficient data")


def test_a_declared_span_can_be_withdrawn_with_a_trail(files, capsys):
    back_fill(capsys, files, nagios=True)
    assert in_process(capsys, "coverage", "remove", *files, "1")[:2] == (
        0,
        "removed coverage span 1\n",
    )
    assert quarter(capsys, files)["targets"][0]["status"] == "insufficient data"
    code, out, _ = in_process(capsys, "coverage", "list", *files, "--format", "json")
    assert [(r["id"], r["target"], r["source"]) for r in json.loads(out)] == [(2, "web", "Nagios")]
    code, _, err = in_process(capsys, "coverage", "remove", *files, "1")
    assert (code, err) == (2, "availmon: error: no declared coverage span with id 1\n")


def test_the_previous_period_takes_the_baseline_where_nothing_was_recorded(files, capsys):
    back_fill(capsys, files, nagios=True)
    # systems was watched (by the helpdesk log) in 2023-Q4; network was not.
    code, _, err = in_process(
        capsys, "coverage", "add", *files, "--group", "systems", "--start", "2023-10-01",
        "--end", "2024-01-01", "--source", "helpdesk log",
    )  # fmt: skip
    assert (code, err) == (0, "")
    previous = quarter(capsys, files, "--compare", "previous")["previous"]
    network, systems = previous["groups"]
    assert (network["uptime_ratio"], network["status"], network["figures_from"]) == (
        0.996,
        "met",
        "typed in",
    )
    assert (systems["uptime_ratio"], systems["status"], systems["figures_from"]) == (
        1.0,
        "met",
        "recorded",
    )
    code, out, _ = in_process(
        capsys, "report", *files, "--period", "2024-Q1", "--compare", "previous"
    )
    groups = out.split("\nGROUPS\n")[1].split("\n\n")[0].splitlines()
    assert groups[1].startswith("network") and groups[1].endswith("99.60% met (typed in)")
    assert groups[2].startswith("systems") and groups[2].endswith("100.00% met")
    assert "marked '(typed in)' are baselines from before availmon" in out


def test_coverage_add_refuses_the_future_and_unknown_names(files, capsys):
    add = ["coverage", "add", *files, "--create", "--source", "Nagios"]
    code, _, err = in_process(capsys, *add, "--all", "--start", "2024-01-01", "--end", "2099-01-01")
    assert (code, err) == (
        2,
        "availmon: error: --end is in the future: declare only time that was watched\n",
    )
    code, _, err = in_process(capsys, *add, "--group", "netwrk", "--start", "2024-01-01", "--end",
                       "2024-02-01")  # fmt: skip
    assert err.startswith("availmon: error: unknown group 'netwrk'") and code == 2


@pytest.mark.parametrize(
    ("reporting", "line"),
    [
        (
            "{baselines: {2023: {netwrk: 99%}}}",
            "reporting.baselines.2023.netwrk: unknown group (did you mean 'network'?)",
        ),
        (
            "{baselines: {2023: {network: 150%}}}",
            "reporting.baselines.2023.network: baseline uptime must be more than 0% and at "
            "most 100%, got '150%'",
        ),
        (
            "{baselines: {2023/24: {network: 99%}}}",
            "reporting.baselines.2023/24: expected default or a reporting year like 2024 "
            "(reporting.year_start_month is 1): reporting years are calendar years, got "
            "'2023/24'",
        ),
        (
            "{minimum_coverage: lots}",
            "reporting.minimum_coverage: minimum coverage must be a percentage like 99% or a "
            "ratio like 0.99, got 'lots'",
        ),
    ],
)
def test_baselines_and_minimum_coverage_are_checked_in_one_line(tmp_path, reporting, line):
    path = tmp_path / "targets.yaml"
    path.write_text(CONFIG.replace(
        "reporting:\n  baselines: {2023: {network: 99.6%, systems: 99.77%}}",
        f"reporting: {reporting}",
    ))  # fmt: skip
    with pytest.raises(config_mod.ConfigError) as error:
        config_mod.load(str(path))
    assert error.value.problems == [f"{path}: {line}"]


# -- by hand, from plain data ------------------------------------------------------


def figures(period: str, now: float, outages=(), coverage=(), minimum=None) -> dict:
    config = config_mod.parse(yaml.safe_load(CONFIG), "targets.yaml", {})
    if minimum is not None:
        config = dataclasses.replace(config, minimum_coverage=minimum)
    targets = tuple(t for t in config.targets if t.name == "web")
    recorded = History(
        targets=targets,
        period=parse_period(period, "Europe/London", 1),
        now=now,
        outages={"web": tuple(outages)},
        coverage={"web": tuple(coverage)},
        maintenance=(),
    )
    return report.gather(config, recorded)["targets"][0]


def test_a_year_monitored_for_fifteen_minutes_is_insufficient_data():
    start = at("2024-06-03T09:00")
    blip = Outage(1, "web", start + 600, start + 660, "timeout", "detected", False, None)
    web = figures(
        "2024",
        at("2025-01-10T12:00"),
        [blip],
        [CoverageSpan("web", start, start + 900, False)],
    )
    # 900 s monitored of 262 weekdays x 36 000 = 9 432 000 s scheduled: 60 s down is
    # 93.33% uptime and 0.0095% coverage, and the 94 320 s budget is far from spent.
    assert (web["scheduled_seconds"], web["monitored_seconds"]) == (9_432_000, 900)
    assert web["uptime_ratio"] == pytest.approx(1 - 60 / 900)
    assert web["coverage_ratio"] == round(900 / 9_432_000, 6)
    assert (web["met"], web["status"]) == (False, "insufficient data")


@pytest.mark.parametrize(
    ("down", "status"),
    [
        (8_280, "on track"),  # 23 400 - 8 280 = 15 120: exactly 1% of what is to come
        (8_281, "at risk"),
        (23_400, "at risk"),  # the whole budget used, not yet overrun
        (23_401, "MISSED"),  # overrun: missed whatever the rest of the quarter brings
    ],
)
def test_an_unfinished_quarter_is_on_track_or_at_risk_never_missed_before_the_budget_is_spent(
    down, status
):
    # At 1 February 00:00, 23 weekdays have passed (828 000 s, all watched) and 42 are to
    # come (1 512 000 s), whose allowance at 99% is 15 120 s. On track while the budget
    # left (23 400 - down) covers it: down <= 8 280 s.
    now = at("2024-02-01T00:00")
    outages = [
        Outage(1, "web", at("2024-01-02T08:00"), at("2024-01-02T08:00") + min(down, 36_000),
               "HTTP 503", "manual", False, None),
        Outage(2, "web", at("2024-01-03T08:00"), at("2024-01-03T08:00") + max(0, down - 36_000),
               "HTTP 503", "manual", False, None),
    ]  # fmt: skip
    web = figures(
        "2024-Q1", now, outages, [CoverageSpan("web", at("2024-01-01T00:00"), now, False)]
    )
    assert (web["scheduled_seconds"], web["downtime_seconds"]) == (828_000, down)
    assert web["coverage_ratio"] == 1.0
    assert web["status"] == status


def test_the_minimum_coverage_is_configurable():
    now = at("2024-02-01T00:00")
    half = [CoverageSpan("web", at("2024-01-01T00:00"), at("2024-01-16T00:00"), False)]
    # 1-15 January: 11 weekdays = 396 000 s of 828 000: 47.8% coverage.
    assert figures("2024-Q1", now, coverage=half)["status"] == "insufficient data"
    assert figures("2024-Q1", now, coverage=half, minimum=0.4)["status"] == "on track"
