"""The administrator's commands in-process (``cli.main`` with captured output): dates as
UK admins write them, one clear line naming the flag and the value when they are wrong, and
no new database from a mistyped --db."""

from __future__ import annotations

import json
import logging

import pytest
import yaml

from tests.support import config_and_db, in_process

CONFIG = """
timezone: Europe/London
schedules:
  office: {hours: {mon-fri: "08:00-18:00"}}
defaults: {schedule: office}
targets:
  - {name: web, type: http, url: "http://127.0.0.1:9/"}
"""
WRITE = "write dates as 2024-05-15 (or 15/05/2024, day first)"


@pytest.fixture
def files(tmp_path, alice):
    return config_and_db(tmp_path, CONFIG)


def test_day_first_dates_are_read_as_uk_dates(files, capsys):
    code, out, err = in_process(
        capsys, "outages", "add", *files, "--target", "web",
        "--start", "15/05/2024 09:00", "--end", "15/05/2024T10:30", "--cause", "power",
    )  # fmt: skip
    assert (code, err) == (0, "")
    code, out, _ = in_process(
        capsys, "outages", "list", *files, "--since", "15/05/2024", "--format", "json"
    )
    (outage,) = json.loads(out)
    assert (outage["start"], outage["end"]) == (
        "2024-05-15T09:00:00+01:00",
        "2024-05-15T10:30:00+01:00",
    )
    code, out, err = in_process(
        capsys, "report", *files, "--from", "01/04/2024", "--to", "30/06/2024", "--format", "json"
    )
    assert (code, err) == (0, "")
    assert json.loads(out)["period"]["label"] == "2024-04-01..2024-06-30"


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ("outages", "add", "--target", "web", "--start", "15-05-2024", "--end", "2024-05-16",
             "--cause", "x"),
            "--start: expected a date-time like 2024-05-15T07:00 or 15/05/2024 07:00 (day first), "
            "got '15-05-2024'",
        ),
        (
            ("outages", "list", "--since", "05/15/2024"),
            "--since: expected a date-time like 2024-05-15T07:00 or 15/05/2024 07:00 (day first), "
            "got '05/15/2024'",
        ),
        (
            ("report", "--from", "31/04/2024", "--to", "30/06/2024"),
            f"--from '31/04/2024': not a real date (day is out of range for month); {WRITE}",
        ),
        (
            ("report", "--from", "01/04/2024", "--to", "June"),
            f"--to 'June': not a date: {WRITE}",
        ),
        (
            ("report", "--from", "30/06/2024", "--to", "01/04/2024"),
            "--from '30/06/2024' is after --to '01/04/2024'",
        ),
    ],
)  # fmt: skip
def test_bad_dates_name_the_flag_and_what_was_typed(files, capsys, argv, line):
    command = argv[:2] if argv[0] == "outages" else argv[:1]
    code, out, err = in_process(capsys, *command, *files, *argv[len(command) :])
    assert (code, out, err) == (2, "", f"availmon: error: {line}\n")


# ------------------------------------------------------------------ safe database handling

WRITES = [
    ("outages", "add", "--target", "web", "--start", "2024-05-15T09:00", "--end",
     "2024-05-15T10:00", "--cause", "power"),
    ("maintenance", "add", "--all", "--start", "2024-05-15T09:00", "--end", "2024-05-15T10:00",
     "--reason", "patching"),
    ("outages", "exclude", "1", "--reason", "false alarm"),
    ("outages", "include", "1"),
    ("maintenance", "remove", "1", "--reason", "cancelled"),
]  # fmt: skip


@pytest.mark.parametrize("argv", WRITES, ids=[" ".join(a[:2]) for a in WRITES])
def test_a_mistyped_db_is_refused_not_created(files, capsys, tmp_path, argv):
    typo = tmp_path / "availmon.bd"
    config = files[:2]
    code, out, err = in_process(capsys, *argv[:2], *config, "--db", str(typo), *argv[2:])
    assert (code, out) == (2, "")
    assert err == (
        f"availmon: error: no database at {typo} (availmon run creates it on first start; "
        "a command that writes creates it only when given --create)\n"
    )
    assert not typo.exists()


def test_the_default_path_is_named_absolute(files, capsys, tmp_path, monkeypatch):
    """Without --db under systemd: $STATE_DIRECTORY/availmon.db, named in full."""
    state = tmp_path / "state"
    monkeypatch.setenv("STATE_DIRECTORY", str(state))
    code, _, err = in_process(capsys, *WRITES[0][:2], *files[:2], *WRITES[0][2:])
    assert code == 2 and f"no database at {state}/availmon.db (" in err


@pytest.mark.parametrize("argv", WRITES[:2], ids=["outages add", "maintenance add"])
def test_create_starts_a_new_database(files, capsys, tmp_path, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    code, out, err = in_process(
        capsys, *argv[:2], *files[:2], "--db", "new/a.db", "--create", *argv[2:]
    )
    assert (code, err) == (0, "")
    assert out.startswith("recorded outage 1 for web" if argv[0] == "outages" else "added")
    assert (tmp_path / "new" / "a.db").exists()


def test_run_creates_the_database_and_logs_its_absolute_path(tmp_path, monkeypatch, caplog):
    from monitor import config as config_mod
    from monitor.daemon import Daemon

    monkeypatch.chdir(tmp_path)
    config = config_mod.parse(yaml.safe_load(CONFIG), "targets.yaml", {})
    caplog.set_level(logging.INFO, logger="availmon")
    daemon = Daemon(lambda: config, config, "state/availmon.db", ("127.0.0.1", 0))
    try:
        assert daemon.db_path == f"{tmp_path}/state/availmon.db"
        assert f"created a new database at {tmp_path}/state/availmon.db (first start)" in (
            caplog.messages
        )
    finally:
        daemon.store.close()
    caplog.clear()
    again = Daemon(lambda: config, config, "state/availmon.db", ("127.0.0.1", 0))
    again.store.close()
    assert not any("created" in m for m in caplog.messages)


@pytest.mark.parametrize("flag", ["--instance", "--vantage"])
def test_a_blank_instance_or_vantage_name_is_one_line(files, capsys, flag):
    code, out, err = in_process(capsys, "run", *files, flag, " ")
    assert (code, out) == (2, "")
    assert err == f"availmon: error: {flag} ' ': give a name, e.g. {flag} monitor-a\n"
