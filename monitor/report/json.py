"""JSON: the document itself (the machine contract)."""

from __future__ import annotations

import json

from monitor.report.formatting import Doc


def render_json(doc: Doc) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
