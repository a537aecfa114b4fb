"""Target metadata labels (targets.yaml -> availmon_target_info, reports) and never-probed
targets."""

from __future__ import annotations

import csv
import io
import json

import pytest

from monitor import config as config_mod
from monitor import report
from monitor.config import ConfigError
from monitor.daemon import Monitor
from monitor.figures.history import History
from monitor.figures.periods import parse_period
from monitor.metrics import render_targets
from monitor.probes.base import ProbeResult
from monitor.store import CoverageSpan, open_store


def doc(group_labels: object = None, target_labels: object = None) -> dict[str, object]:
    group: dict[str, object] = {"objective": "99%"}
    if group_labels is not None:
        group["labels"] = group_labels
    target: dict[str, object] = {"name": "sw1", "group": "net", "type": "tcp"}
    target |= {"host": "127.0.0.1", "port": 9}
    if target_labels is not None:
        target["labels"] = target_labels
    plain = {"name": "web", "group": "other", "type": "tcp", "host": "127.0.0.1", "port": 9}
    return {"groups": {"net": group, "other": {}}, "targets": [target, plain]}


def test_target_labels_override_their_groups_and_are_sorted():
    config = config_mod.parse(
        doc({"site": "Town Hall", "owner": "networks"}, {"site": "Depot", "address": "10.0.0.1"}),
        "t.yaml",
        {},
    )
    assert config.target("sw1").labels == (
        ("address", "10.0.0.1"),
        ("owner", "networks"),
        ("site", "Depot"),
    )
    assert config.target("web").labels == ()


@pytest.mark.parametrize(
    ("group_labels", "target_labels", "expected"),
    [
        (None, {"site-name": "x"}, "targets[0] (sw1).labels.site-name: label names are letters"),
        (None, {"1site": "x"}, "targets[0] (sw1).labels.1site: label names are letters"),
        (None, {"__site": "x"}, "targets[0] (sw1).labels.__site: label names are letters"),
        (None, {"target": "x"}, "targets[0] (sw1).labels.target: 'target' is already a label"),
        (None, {"schedule": "x"}, "targets[0] (sw1).labels.schedule: 'schedule' is already"),
        ({"group": "x"}, None, "groups.net.labels.group: 'group' is already a label"),
        ({"instance": "x"}, None, "groups.net.labels.instance: 'instance' is already a label"),
        (None, {"site": ["a"]}, "targets[0] (sw1).labels.site: expected a text value"),
        (None, {"site": True}, "targets[0] (sw1).labels.site: expected a text value"),
        (None, {"site": None}, "targets[0] (sw1).labels.site: expected a text value"),
        (None, ["site"], "targets[0] (sw1).labels: expected a mapping"),
        ("site", None, "groups.net.labels: expected a mapping"),
    ],
)
def test_bad_labels_are_one_line_each(group_labels, target_labels, expected):
    with pytest.raises(ConfigError) as info:
        config_mod.parse(doc(group_labels, target_labels), "t.yaml", {})
    [line] = info.value.problems
    assert line.startswith(f"t.yaml: {expected}"), line


def test_a_number_is_taken_as_written():
    config = config_mod.parse(doc(None, {"floor": 3, "rack": 1.5}), "t.yaml", {})
    assert config.target("sw1").labels == (("floor", "3"), ("rack", "1.5"))


@pytest.fixture
def monitor(tmp_path, clock):
    labels = {"site": 'Depot "B"', "owner": "networks"}
    config = config_mod.parse(doc(None, labels), "t.yaml", {})
    store = open_store(tmp_path / "a.db")
    monitor = Monitor(config, store, clock)
    monitor.resume()
    yield monitor
    store.close()


def scrape(monitor: Monitor) -> list[str]:
    text = b"".join(render_targets(monitor, monitor.clock.time())).decode()
    return [line for line in text.splitlines() if not line.startswith("#")]


def test_target_info_carries_the_labels_only_for_targets_that_have_some(monitor):
    info = [line for line in scrape(monitor) if line.startswith("availmon_target_info")]
    assert info == [
        'availmon_target_info{target="sw1",group="net",type="tcp",schedule="always",'
        'owner="networks",site="Depot \\"B\\""} 1.0'
    ]


def test_target_up_is_absent_until_the_first_probe_then_follows_the_outage(monitor, clock):
    def up() -> dict[str, str]:
        return {
            line.split('"')[1]: line.rsplit(" ", 1)[1]
            for line in scrape(monitor)
            if line.startswith("availmon_target_up{")
        }

    assert up() == {}  # never probed: no claim either way
    clock.advance(30)
    monitor.recorder.record("sw1", ProbeResult(True, 0.01, None, {}), clock.now)
    assert up() == {"sw1": "1.0"}
    for _ in range(2):  # failures_before_down: 2
        clock.advance(30)
        monitor.recorder.record("web", ProbeResult(False, 0.01, "refused", {}), clock.now)
    assert up() == {"sw1": "1.0", "web": "0.0"}


def report_doc(labels: dict[str, object] | None) -> dict[str, object]:
    """A week's report of two targets, ``sw1`` with ``labels`` (from plain data)."""
    config = config_mod.parse(doc(None, labels), "t.yaml", {})
    week = parse_period("2024-W10", config.timezone, config.year_start_month)
    history = History(
        targets=config.targets,
        period=week,
        now=week.end,
        outages={t.name: () for t in config.targets},
        coverage={
            t.name: (CoverageSpan(t.name, week.start, week.end, False),) for t in config.targets
        },
        maintenance=(),
    )
    return report.gather(config, history)


def test_labels_in_every_report_format():
    d = report_doc({"site": "Depot", "owner": "networks"})
    assert [t.get("labels") for t in d["targets"]] == [{"owner": "networks", "site": "Depot"}, None]
    assert json.loads(report.render(d, "json"))["targets"][0]["labels"]["site"] == "Depot"
    rows = list(csv.DictReader(io.StringIO(report.render(d, "csv").decode("utf-8-sig"))))
    assert [(r["name"], r["labels"]) for r in rows] == [
        ("net", ""),
        ("other", ""),
        ("sw1", "owner=networks site=Depot"),
        ("web", ""),
    ]
    text = report.render(d, "text").decode()
    [header] = [line for line in text.splitlines() if line.startswith("TARGET ")]
    assert header.split()[:3] == ["TARGET", "GROUP", "LABELS"]
    assert "owner=networks site=Depot" in text
    html = report.render(d, "html").decode()
    assert "<th>Labels</th>" in html and "<td>owner=networks site=Depot</td>" in html


def test_without_labels_no_format_changes():
    d = report_doc(None)
    assert all("labels" not in t for t in d["targets"])
    assert "labels" not in report.render(d, "csv").decode("utf-8-sig").splitlines()[0]
    assert "LABELS" not in report.render(d, "text").decode()
    assert "<th>Labels</th>" not in report.render(d, "html").decode()
