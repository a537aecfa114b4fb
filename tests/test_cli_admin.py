"""The administrator's commands in-process (``cli.main`` with captured output): dates as
UK admins write them, and one clear line naming the flag and the value when they are wrong."""

from __future__ import annotations

import json

import pytest

from monitor import cli
from monitor.store import open_store

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
def files(tmp_path, monkeypatch):
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    config = tmp_path / "targets.yaml"
    config.write_text(CONFIG)
    db = tmp_path / "availmon.db"
    open_store(db).close()
    return ["-c", str(config), "--db", str(db)]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_day_first_dates_are_read_as_uk_dates(files, capsys):
    code, out, err = run(
        capsys, "outages", "add", *files, "--target", "web",
        "--start", "15/05/2024 09:00", "--end", "15/05/2024T10:30", "--cause", "power",
    )  # fmt: skip
    assert (code, err) == (0, "")
    code, out, _ = run(
        capsys, "outages", "list", *files, "--since", "15/05/2024", "--format", "json"
    )
    (outage,) = json.loads(out)
    assert (outage["start"], outage["end"]) == (
        "2024-05-15T09:00:00+01:00",
        "2024-05-15T10:30:00+01:00",
    )
    code, out, err = run(
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
    code, out, err = run(capsys, *command, *files, *argv[len(command) :])
    assert (code, out, err) == (2, "", f"availmon: error: {line}\n")
