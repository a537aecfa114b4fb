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
