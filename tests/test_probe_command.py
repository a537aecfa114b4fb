"""`availmon probe NAME... | --all | --group G`: one line per target, exit 1 if any failed."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.cli import main
from tests.support import free_port, http_server


def write_config(tmp_path: Path, url: str) -> str:
    path = tmp_path / "targets.yaml"
    path.write_text(
        "groups: {systems: {}, ports: {}, empty: {}}\n"
        "targets:\n"
        f"  - {{name: web, group: systems, type: http, url: '{url}', timeout: 2s}}\n"
        f"  - {{name: dead, group: ports, type: tcp, host: 127.0.0.1, port: {free_port()}}}\n"
        f"  - {{name: web-again, group: systems, type: http, url: '{url}'}}\n"
    )
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], str]:
    code = main(["probe", *argv])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


@pytest.mark.slow  # a loopback HTTP server
def test_probe_all_and_group(tmp_path, capsys):
    with http_server() as server:
        config = write_config(tmp_path, server.url)
        code, lines, _ = run(capsys, "-c", config, "--all")
        assert code == 1
        assert [line.split(" ", 1)[0] for line in lines] == ["web", "dead", "web-again"]
        assert ": UP in " in lines[0] and ": UP in " in lines[2]
        assert ": DOWN (" in lines[1]

        code, lines, _ = run(capsys, "-c", config, "--group", "systems")
        assert code == 0
        assert [line.split(" ", 1)[0] for line in lines] == ["web", "web-again"]

        code, lines, _ = run(capsys, "-c", config, "--group", "ports", "--group", "systems")
        assert code == 1 and len(lines) == 3

        server.status = 503
        code, lines, _ = run(capsys, "-c", config, "web")
        assert code == 1 and lines == [lines[0]] and "DOWN (" in lines[0]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ((), "probe: give target NAMEs, --all or --group G (one of them)"),
        (("web", "--all"), "probe: give target NAMEs, --all or --group G (one of them)"),
        (("--all", "--group", "systems"), "probe: give target NAMEs, --all or --group G"),
        (("--group", "sytems"), "unknown group(s): 'sytems'"),
        (("--group", "empty"), "no targets in group(s) 'empty'"),
        (("nope",), "unknown target(s): 'nope'"),
    ],
)
def test_probe_selection_mistakes_are_one_line(tmp_path, capsys, argv, message):
    config = write_config(tmp_path, "http://127.0.0.1:9/")
    code, lines, err = run(capsys, "-c", config, *argv)
    assert (code, lines) == (2, [])
    [line] = err.splitlines()
    assert line.startswith(f"availmon: error: {message}"), line
