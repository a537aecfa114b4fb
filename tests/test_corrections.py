"""Corrections with a full trail, in-process (``cli.main`` with captured output): who, when
and why for every change, manual outages edited and deleted (detected ones refused), weekly
windows from the command line, warnings for outages that cannot count, and each outage's
counted working-hours time beside its wall-clock duration."""

from __future__ import annotations

import json

import pytest

from monitor.store import open_store
from tests.support import at, config_and_db, in_process

CONFIG = """
timezone: Europe/London
schedules:
  office:
    hours: {mon-fri: "08:00-18:00"}
    holidays: {country: GB, subdiv: ENG}
defaults: {schedule: office}
targets:
  - {name: web, type: http, url: "http://127.0.0.1:9/"}
"""


@pytest.fixture
def files(tmp_path, alice):
    return config_and_db(tmp_path, CONFIG)


def listed(capsys, files) -> list[dict]:
    code, out, err = in_process(capsys, "outages", "list", *files, "--format", "json")
    assert (code, err) == (0, "")
    return json.loads(out)


def add_outage(capsys, files, start: str, end: str, cause: str = "power") -> tuple[int, str, str]:
    return in_process(
        capsys, "outages", "add", *files, "--target", "web", "--start", start, "--end", end,
        "--cause", cause,
    )  # fmt: skip


def test_a_bank_holiday_outage_is_accepted_with_a_warning_and_counts_nothing(files, capsys):
    # Monday 6 May 2024 is the early May bank holiday in England: 09:00-12:00 is 3 h of wall
    # clock and none of web's working hours.
    code, out, err = add_outage(capsys, files, "06/05/2024 09:00", "06/05/2024 12:00")
    assert (code, out) == (0, "recorded outage 1 for web\n")
    assert err == (
        "availmon: warning: outage 1 is wholly outside web's working hours (schedule office, "
        "public holidays and closures included): it counts 0:00:00\n"
    )
    [outage] = listed(capsys, files)
    assert (outage["duration_seconds"], outage["counted_seconds"]) == (10_800, 0)
    code, out, _ = in_process(capsys, "outages", "list", *files)
    assert "3:00:00" in out and "0:00:00" in out


def test_an_outage_ending_in_the_future_is_accepted_with_a_warning(files, capsys):
    code, out, err = add_outage(capsys, files, "2099-01-05T09:00", "2099-01-05T10:00")
    assert (code, out) == (0, "recorded outage 1 for web\n")
    assert err == (
        "availmon: warning: outage 1 ends in the future (2099-01-05T10:00:00+00:00); check --end\n"
    )


def test_counted_time_is_working_hours_less_weekly_maintenance(files, capsys):
    # Tuesday 7 May 2024 09:00-10:30: 1 h 30 of working hours.
    code, _, err = add_outage(capsys, files, "2024-05-07T09:00", "2024-05-07T10:30")
    assert (code, err) == (0, "")
    assert listed(capsys, files)[0]["counted_seconds"] == 5_400
    code, out, err = in_process(
        capsys, "maintenance", "add", *files, "--target", "web", "--weekly", "tue 09:00-10:00",
        "--reason", "patching",
    )  # fmt: skip
    assert (code, out, err) == (0, "added maintenance window 1\n", "")
    # Less the weekly hour of maintenance: 30 min, as the report counts it.
    assert listed(capsys, files)[0]["counted_seconds"] == 1_800
    code, out, _ = in_process(
        capsys, "report", *files, "--from", "07/05/2024", "--to", "07/05/2024", "--format", "json"
    )
    doc = json.loads(out)
    assert [(m["id"], m["start"]) for m in doc["maintenance"]] == [(1, "2024-05-07T09:00:00+01:00")]
    assert [o["downtime_seconds"] for o in doc["outages"]] == [1_800]

    code, out, err = in_process(
        capsys, "maintenance", "remove", "1", *files, "--reason", "cancelled"
    )
    assert (code, err) == (0, "")
    assert listed(capsys, files)[0]["counted_seconds"] == 5_400
    code, out, _ = in_process(
        capsys, "report", *files, "--from", "07/05/2024", "--to", "07/05/2024", "--format", "json"
    )
    doc = json.loads(out)
    assert doc["maintenance"] == []  # removed: out of the figures, still in the trail
    assert [(c["subject"], c["action"], c["reason"]) for c in doc["corrections"]] == [
        (1, "outage-add", "power"),
        (1, "maintenance-add", "patching"),
        (1, "maintenance-remove", "cancelled"),
    ]
    code, out, _ = in_process(capsys, "maintenance", "list", *files, "--format", "json")
    [window] = json.loads(out)
    assert (window["weekly"], window["start"], window["end"], window["removed"]) == (
        "tue 09:00-10:00",
        None,
        None,
        True,
    )
    trail = [(c["action"], c["user"], c["reason"]) for c in window["corrections"]]
    assert trail == [
        ("maintenance-add", "alice", "patching"),
        ("maintenance-remove", "alice", "cancelled"),
    ]
    code, out, _ = in_process(capsys, "maintenance", "list", *files)
    assert "weekly tue 09:00-10:00" in out and "database (removed)" in out
    assert "  #1 maintenance-remove at " in out and " by alice: cancelled" in out


def test_a_manual_outage_is_edited_and_deleted_with_a_trail(files, capsys):
    add_outage(capsys, files, "2024-05-07T09:00", "2024-05-07T10:30", cause="power")
    code, out, err = in_process(
        capsys, "outages", "edit", "1", *files, "--end", "2024-05-07T10:00",
        "--reason", "UPS log says 10:00",
    )  # fmt: skip
    assert (code, out, err) == (0, "corrected outage 1 (web)\n", "")
    [outage] = listed(capsys, files)
    assert (outage["end"], outage["counted_seconds"]) == ("2024-05-07T10:00:00+01:00", 3_600)
    edit = outage["corrections"][1]
    assert (edit["action"], edit["reason"]) == ("outage-edit", "UPS log says 10:00")
    assert edit["was"]["end"] == "2024-05-07T10:30:00+01:00"

    code, out, err = in_process(capsys, "outages", "delete", "1", *files, "--reason", "duplicate")
    assert (code, err) == (0, "")
    assert listed(capsys, files) == []
    code, out, _ = in_process(capsys, "outages", "list", *files)
    assert "  #1 outage-delete at " in out
    assert (
        " by alice: duplicate (was web 2024-05-07T09:00:00+01:00 to 2024-05-07T10:00:00+01:00, "
        "power)" in out
    )
    code, out, _ = in_process(
        capsys, "report", *files, "--from", "07/05/2024", "--to", "07/05/2024"
    )
    assert "\nCORRECTIONS\n#1 outage-add at " in out
    assert "#1 outage-delete at " in out and ": duplicate (was web 2024-05-07T09:00:00" in out
    code, out, _ = in_process(
        capsys, "report", *files, "--from", "08/05/2024", "--to", "08/05/2024"
    )
    assert "CORRECTIONS" not in out  # the deleted outage was not in this period
    code, out, _ = in_process(capsys, "outages", "list", *files, "--target", "other")
    assert "(no outages)" in out and "outage-delete" not in out


def test_a_detected_outage_is_refused_in_one_line(files, capsys):
    store = open_store(files[-1])
    store.insert_outage("web", at("2024-05-07T09:00"), "timeout", at("2024-05-07T09:00"))
    store.close()
    for argv in (("edit", "1", "--cause", "x"), ("delete", "1")):
        code, out, err = in_process(capsys, "outages", *argv, *files, "--reason", "why")
        assert (code, out) == (2, "")
        assert err == "availmon: error: detected outages can be excluded, not edited\n"


def test_an_open_outage_stops_at_the_last_instant_monitored(files, capsys):
    start = at("2024-05-07T09:00")
    store = open_store(files[-1])
    store.begin_coverage([("web", False)], start - 100)
    store.extend_coverage(start + 500)
    store.insert_outage("web", start, "timeout", start)
    store.close()
    [outage] = listed(capsys, files)
    assert (outage["end"], outage["duration_seconds"], outage["counted_seconds"]) == (
        None,
        500,
        500,
    )


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (("--all", "--reason", "x"), "give --start and --end, or --weekly 'DAYS HH:MM-HH:MM'"),
        (("--all", "--weekly", "tue 9-10", "--reason", "x"), "--weekly: "),
        (("--all", "--weekly", "tue 09:00-10:00", "--start", "2024-05-07", "--end",
          "2024-05-01", "--reason", "x"), "--end must be after --start"),
    ],
)  # fmt: skip
def test_bad_maintenance_windows_are_one_line(files, capsys, argv, line):
    code, out, err = in_process(capsys, "maintenance", "add", *files, *argv)
    assert (code, out) == (2, "")
    assert err.startswith(f"availmon: error: {line}") and err.count("\n") == 1
