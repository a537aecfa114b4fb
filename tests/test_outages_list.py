"""``availmon outages list --format json`` says why an outage was not simply down."""

from __future__ import annotations

import json

from monitor.cli import main
from monitor.store import ISOLATION, PARENT_RECOVERED, open_store

T0 = 1_780_000_000.0


def test_json_lists_state_parent_end_reason_and_continuation(tmp_path, capsys):
    db = tmp_path / "availmon.db"
    store = open_store(db)
    core = store.insert_outage("core", T0, "timeout", T0)
    store.close_outage(core, T0 + 60)
    behind = store.insert_outage("host", T0 + 1, "timeout", T0 + 1, parent="core")
    store.close_outage(behind, T0 + 60, PARENT_RECOVERED)
    still = store.insert_outage("host", T0 + 60, "timeout", T0 + 61, continues=behind)
    store.close_outage(still, T0 + 90)
    cut = store.insert_outage("web", T0 + 100, "timeout", T0 + 101)
    store.close_outage(cut, T0 + 102, ISOLATION)
    store.close()

    assert main(["outages", "list", "--format", "json", "--db", str(db)]) == 0
    listed = json.loads(capsys.readouterr().out)
    keys = ("id", "state", "parent", "end_reason", "continues")
    assert [tuple(o[k] for k in keys) for o in listed] == [
        (core, "down", None, None, None),
        (behind, "unreachable", "core", "parent-recovered", None),
        (still, "down", None, None, behind),
        (cut, "down", None, "isolation", None),
    ]


def test_a_fleets_outages_say_who_saw_them(tmp_path, capsys):
    db = tmp_path / "availmon.db"
    for name, vantage, last in (("a", "leeds", T0 + 500), ("b", "york", T0 + 900)):
        store = open_store(db, instance=name, vantage=vantage)
        store.begin_coverage([("web", False)], T0)
        store.insert_outage("web", T0 + 100, "HTTP 503", T0 + 100)  # still open
        store.extend_coverage(last)
        store.close()

    assert main(["outages", "list", "--format", "json", "--db", str(db)]) == 0
    listed = json.loads(capsys.readouterr().out)
    # An open outage lasts until its own daemon's last heartbeat, not another's.
    assert [(o["instance"], o["vantage"], o["duration_seconds"]) for o in listed] == [
        ("a", "leeds", 400),
        ("b", "york", 800),
    ]
    assert main(["outages", "list", "--db", str(db)]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.split()[-2:] == ["INSTANCE", "VANTAGE"]
    assert [row.split()[-2:] for row in rows] == [["a", "leeds"], ["b", "york"]]


def test_one_daemons_outages_need_no_instance_column(tmp_path, capsys):
    db = tmp_path / "availmon.db"
    store = open_store(db, instance="a", vantage="a")
    store.insert_outage("web", T0, "HTTP 503", T0)
    store.close()
    assert main(["outages", "list", "--db", str(db)]) == 0
    assert "INSTANCE" not in capsys.readouterr().out
