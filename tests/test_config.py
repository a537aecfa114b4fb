"""targets.yaml validation: every mistake is one line naming file, key path and problem."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

import pytest
import yaml

from monitor import config as config_mod
from monitor.cli import db_path
from monitor.config import ConfigError, Objective, load, parse_duration, parse_ratio
from tests.support import availmon

ROOT = Path(__file__).resolve().parent.parent

BASE = """
timezone: Europe/London
defaults: {interval: 30s, timeout: 5s, schedule: office}
schedules:
  office:
    hours: {mon-fri: "08:00-18:00"}
    holidays: {country: GB, subdiv: ENG}
groups:
  network: {objective: 99%}
  systems: {objective: 99.5%}
targets:
  - {name: sw1, group: network, type: icmp, host: 127.0.0.1}
  - {name: web, group: systems, type: http, url: "http://127.0.0.1:8080/"}
  - {name: smtp, group: systems, type: tcp, host: 127.0.0.1, port: 25}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "targets.yaml"
    path.write_text(text)
    return path


def with_change(change: dict) -> str:
    doc = yaml.safe_load(BASE)
    for dotted, value in change.items():
        node = doc
        *parents, last = dotted.split(".")
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if isinstance(node, list):
            node[int(last)] = value
        elif value is DELETE:
            del node[last]
        else:
            node[last] = value
    return yaml.safe_dump(doc)


DELETE = object()


def test_shipped_targets_yaml_is_valid():
    config = load(ROOT / "targets.yaml", env={})
    assert {t.type for t in config.targets} == {"icmp", "http", "tcp"}
    assert config.year_start_month == 4
    assert config.schedules["office"].holiday_country == "GB"
    # Every host in the shipped example is loopback, so the demo touches no network.
    for t in config.targets:
        assert "127.0.0.1" in t.describe or t.describe.startswith("127.")


def test_base_config_and_objective_inheritance(tmp_path):
    config = load(write(tmp_path, BASE), env={})
    assert [t.name for t in config.targets] == ["sw1", "web", "smtp"]
    web = config.target("web")
    assert web is not None
    assert web.interval == 30 and web.timeout == 5 and web.schedule == "office"
    assert web.objective == Objective(0.995)  # the group's, since the target sets none
    assert web.failures_before_down == 2 and web.probe_outside_hours is False


def test_target_objective_beats_group_beats_defaults(tmp_path):
    text = with_change({"defaults.objective": "98%", "targets.0.objective": 0.97})
    text = text.replace("network: {objective: 0.99}", "network: {}")
    doc = yaml.safe_load(text)
    doc["groups"]["network"] = None
    doc["targets"].append({"name": "sw2", "group": "network", "type": "icmp", "host": "127.0.0.2"})
    config = config_mod.parse(doc, "t.yaml", {})
    assert config.target("sw1").objective == Objective(0.97)
    assert config.target("sw2").objective == Objective(0.98)  # group without one -> global
    assert config.target("web").objective == Objective(0.995)
    assert config.groups["network"].objective == Objective(0.98)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"targets.0.interval": "soon"}, "targets[0] (sw1).interval: expected a duration"),
        ({"targets.0.timeout": "30s"}, "targets[0] (sw1).timeout: must be less than the interval"),
        ({"targets.0.timeout": "1m"}, "targets[0] (sw1).timeout: must be less than the interval"),
        ({"targets.0.interval": "0s"}, "targets[0] (sw1).interval: duration must be more than 0"),
        ({"targets.1.name": "sw1"}, "targets[1].name: duplicate target name 'sw1'"),
        ({"targets.1.name": "bad name!"}, "targets[1].name: required"),
        (
            {"targets.0.type": "snmp"},
            "targets[0] (sw1).type: expected one of: icmp, http, tcp, dns",
        ),
        ({"targets.0.colour": "red"}, "targets[0] (sw1).colour: unknown key"),
        ({"targets.0.group": "nope"}, "targets[0] (sw1).group: unknown group 'nope'"),
        ({"targets.0.schedule": "nights"}, "targets[0] (sw1).schedule: unknown schedule"),
        ({"targets.0.objective": "101%"}, "targets[0] (sw1).objective: objective must be more"),
        ({"targets.0.objective": 0}, "targets[0] (sw1).objective: objective must be more"),
        ({"targets.0.objective": "high"}, "targets[0] (sw1).objective: objective must be"),
        ({"targets.0.failures_before_down": 0}, "targets[0] (sw1).failures_before_down"),
        ({"targets.0.probe_outside_hours": "yes"}, "targets[0] (sw1).probe_outside_hours"),
        ({"targets.1.url": "ftp://x/"}, "targets[1] (web).url"),
        ({"targets.1.url": DELETE}, "targets[1] (web).url"),
        ({"targets.2.port": 70000}, "targets[2] (smtp).port"),
        ({"targets.0.host": DELETE}, "targets[0] (sw1).host"),
        ({"schedules.office.hours": {"mon-fri": "08:00-25:00"}}, "schedules.office.hours.mon-fri:"),
        ({"schedules.office.hours": {"funday": "08:00-18:00"}}, "schedules.office.hours.funday:"),
        (
            {"schedules.office.holidays": {"country": "XX"}},
            "schedules.office.holidays.country: unknown",
        ),
        ({"schedules.office.closed": ["2024-13-01"]}, "schedules.office.closed[0]:"),
        ({"schedules.office.timezone": "Mars/Olympus"}, "schedules.office.timezone: unknown"),
        ({"timezone": "Nowhere"}, "timezone: unknown time zone"),
        ({"listen": "9430"}, "listen: expected HOST:PORT"),
        ({"reporting": {"unmonitored": "maybe"}}, "reporting.unmonitored: expected one of"),
        ({"reporting": {"year_start_month": 13}}, "reporting.year_start_month"),
        ({"reporting": {"title": " "}}, "reporting.title: expected the organisation's name"),
        (
            {"maintenance": [{"targets": ["ghost"], "weekly": "tue 07:00-08:00", "reason": "x"}]},
            "maintenance[0].targets: unknown target 'ghost'",
        ),
        (
            {"maintenance": [{"groups": ["network"], "weekly": "tue 07:00-08:00"}]},
            "maintenance[0].reason: required",
        ),
        (
            {
                "maintenance": [
                    {
                        "all": True,
                        "start": "2024-03-02T09:00",
                        "end": "2024-03-02T07:00",
                        "reason": "x",
                    }
                ]
            },
            "maintenance[0].end: must be after start",
        ),
        (
            {"maintenance": [{"all": True, "weekly": "someday", "reason": "x"}]},
            "maintenance[0].weekly",
        ),
        ({"targets": DELETE}, "targets: missing"),
        ({"extra": 1}, "extra: unknown key"),
    ],
)
def test_config_errors(tmp_path, change, expected):
    path = write(tmp_path, with_change(change))
    with pytest.raises(ConfigError) as info:
        load(path, env={})
    lines = info.value.problems
    assert any(line.startswith(f"{path}: {expected}") for line in lines), lines
    assert all("\n" not in line for line in lines)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "file is empty"),
        ("targets: [\n  - name: a\n", "not valid YAML"),
        ("- a\n- b\n", "expected a mapping"),
        ("just a string", "expected a mapping"),
        ("targets: 5", "targets: expected a list"),
        ("targets: [5]", "targets[0]: expected a mapping"),
        ("\x00\x01", "not valid YAML"),
    ],
)
def test_unusable_files(tmp_path, text, expected):
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, text), env={})
    assert expected in info.value.problems[0]


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load(tmp_path / "nope.yaml")


def test_all_problems_reported_at_once(tmp_path):
    text = with_change({"targets.0.interval": "soon", "targets.2.port": 0, "timezone": "X"})
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, text), env={})
    assert len(info.value.problems) == 3


@pytest.mark.parametrize(
    ("text", "seconds"), [("500ms", 0.5), ("30s", 30), ("5m", 300), ("1h", 3600), (15, 15)]
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "ratio"), [("99%", 0.99), ("99.5 %", 0.995), (0.99, 0.99), ("100%", 1.0), (1, 1.0)]
)
def test_ratios(text, ratio):
    assert parse_ratio(text) == pytest.approx(ratio)


def test_local_datetime_without_offset_is_configured_zone():
    # 2024-07-01 09:00 in London is BST (UTC+1): 08:00Z
    assert config_mod.parse_local_datetime("2024-07-01T09:00", "Europe/London") == 1719820800
    assert config_mod.parse_local_datetime("2024-07-01T09:00+00:00", "Europe/London") == 1719824400


@pytest.mark.slow
def test_check_command_summary_and_exit_codes(tmp_path):
    ok = availmon("check", "-c", str(write(tmp_path, BASE)))
    assert ok.returncode == 0, ok.stderr
    assert "3 targets (network: 1, systems: 2; http: 1, icmp: 1, tcp: 1)" in ok.stdout

    bad = availmon("check", "-c", str(write(tmp_path, with_change({"targets.0.timeout": "1h"}))))
    assert bad.returncode == 2
    assert bad.stderr.startswith("availmon: error: ")
    assert "targets[0] (sw1).timeout" in bad.stderr
    assert "Traceback" not in bad.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    "content",
    [
        "",
        "targets: [\n  - name: a\n",
        "- a\n- b\n",
        "targets:\n  - {name: a, type: icmp, host: 127.0.0.1, interval: soon}\n",
    ],
)
def test_cli_user_mistakes_never_traceback(tmp_path, content):
    result = availmon("check", "-c", str(write(tmp_path, content)))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") >= 1 and result.stderr.startswith("availmon: error:")
    missing = availmon("check", "-c", str(tmp_path / "missing.yaml"))
    assert missing.returncode == 2 and "file not found" in missing.stderr


def test_storage_url_names_a_postgres_database_and_is_never_echoed(tmp_path, monkeypatch):
    url = "postgresql://availmon:s3cret@db.example/fleet"
    config = load(write(tmp_path, with_change({"storage": {"url": url}})), env={})
    assert (config.storage_url, config.storage_path) == (url, None)
    # A shared database named in the config wins over systemd's state folder.
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path))
    assert db_path(argparse.Namespace(db=None), config) == url
    assert db_path(argparse.Namespace(db="other.db"), config) == "other.db"
    for storage, expected in (
        ({"url": "mysql://availmon:s3cret@db/fleet"}, "storage.url: expected a postgresql:// URL"),
        ({"url": url, "path": "a.db"}, "storage: give path or url, not both"),
    ):
        path = write(tmp_path, with_change({"storage": storage}))
        with pytest.raises(ConfigError) as info:
            load(path, env={})
        assert info.value.problems == [f"{path}: {expected}"]


@pytest.mark.parametrize(
    ("change", "line"),
    [
        # A broken definition is reported once; the targets using its name say nothing.
        (
            {"schedules.office.hours": {"mon-fri": "8am-6pm"}},
            "schedules.office.hours.mon-fri: bad time range '8am-6pm': "
            "expected HH:MM-HH:MM like 08:00-18:00",
        ),
        (
            {"groups.network.objective": 99},
            "groups.network.objective: objective must be more than 0% and at most 100%, "
            "got 99 (did you mean 99%?)",
        ),
        (
            {
                "schedules": {"my office": {"hours": {"mon-fri": "08:00-18:00"}}},
                "defaults.schedule": "my office",
            },
            "schedules.my office: schedule names are letters, digits and ._- "
            "('always' is built in), got 'my office'",
        ),
        (
            {"groups": {"net work": {}, "systems": {}}, "targets.0.group": "net work"},
            "groups.net work: group names are letters, digits and ._-, got 'net work'",
        ),
        (
            {
                "groups.network.objective": "99",
                "maintenance": [
                    {"groups": ["network"], "weekly": "tue 07:00-08:00", "reason": "x"}
                ],
            },
            "groups.network.objective: objective must be more than 0% and at most 100%, "
            "got '99'",
        ),
        (
            {
                "targets.0.type": "snmp",
                "targets.1.depends_on": ["sw1"],
                "monitor": {"witnesses": ["sw1"]},
                "maintenance": [{"targets": ["sw1"], "weekly": "tue 07:00-08:00", "reason": "x"}],
            },
            "targets[0] (sw1).type: expected one of: icmp, http, tcp, dns, got 'snmp'",
        ),
        # Every message echoes the value and suggests the nearest valid name or form.
        (
            {"targets.1.name": "my web"},
            "targets[1].name: required: letters, digits and ._- (at most 128), got 'my web'",
        ),
        (
            {"targets.0.schedule": "offce"},
            "targets[0] (sw1).schedule: unknown schedule 'offce' (did you mean 'office'?)",
        ),
        (
            {"targets.0.group": "netwrok"},
            "targets[0] (sw1).group: unknown group 'netwrok' (did you mean 'network'?)",
        ),
        (
            {"targets.0.group": "storage"},
            "targets[0] (sw1).group: unknown group 'storage' (not under groups:)",
        ),
        (
            {"targets.0.intervl": "30s"},
            "targets[0] (sw1).intervl: unknown key (did you mean 'interval'?)",
        ),
        (
            {"targets.0.type": "icpm"},
            "targets[0] (sw1).type: expected one of: icmp, http, tcp, dns, got 'icpm' "
            "(did you mean 'icmp'?)",
        ),
        (
            {"targets.1.depends_on": ["sw2"]},
            "targets[1] (web).depends_on: unknown target 'sw2' (did you mean 'sw1'?)",
        ),
        (
            {"schedules.office.closed": ["2024-13-01"]},
            "schedules.office.closed[0]: '2024-13-01': not a real date (month must be in "
            "1..12); write dates as 2024-05-15 (or 15/05/2024, day first)",
        ),
        (
            {"maintenance": [{"all": True, "start": "tomorrow", "end": "2024-03-02T09:00",
                              "reason": "x"}]},
            "maintenance[0].start: expected a date-time like 2024-05-15T07:00 or "
            "15/05/2024 07:00 (day first), got 'tomorrow'",
        ),
    ],
)  # fmt: skip
def test_one_mistake_one_line(tmp_path, change, line):
    path = write(tmp_path, with_change(change))
    with pytest.raises(ConfigError) as info:
        load(path, env={})
    assert info.value.problems == [f"{path}: {line}"]


def test_dates_day_first_as_uk_admins_write_them(tmp_path):
    change = {
        "schedules.office.closed": ["27/12/2024", "2024-12-30"],
        "maintenance": [
            {"all": True, "start": "02/03/2024 07:00", "end": "2024-03-02T09:00", "reason": "x"}
        ],
    }
    config = load(write(tmp_path, with_change(change)), env={})
    assert config.schedules["office"].closed == {date(2024, 12, 27), date(2024, 12, 30)}
    (window,) = config.maintenance
    assert window.end - window.start == 2 * 3600  # 07:00 to 09:00 GMT, 2 March
