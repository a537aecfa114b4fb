"""targets.yaml: monitor witnesses, depends_on and reporting.unreachable."""

from __future__ import annotations

import pytest
import yaml

from monitor.config import ConfigError, dependency_cycle, load
from tests.test_config import BASE, write


def config_with(tmp_path, **top):
    doc = yaml.safe_load(BASE)
    targets = top.pop("targets", None)
    if targets is not None:
        for i, extra in targets.items():
            doc["targets"][i].update(extra)
    doc.update(top)
    return load(write(tmp_path, yaml.safe_dump(doc)), env={})


def problems(tmp_path, **top) -> list[str]:
    with pytest.raises(ConfigError) as info:
        config_with(tmp_path, **top)
    return [line.split(": ", 1)[1] for line in info.value.problems]


def test_witnesses_and_quorum(tmp_path):
    config = config_with(tmp_path, monitor={"witnesses": ["sw1", "web"]})
    assert (config.witnesses, config.isolated_when) == (("sw1", "web"), 2)
    config = config_with(tmp_path, monitor={"witnesses": ["sw1", "web"], "isolated_when": 1})
    assert config.isolated_when == 1


def test_no_monitor_section_means_never_isolated(tmp_path):
    config = config_with(tmp_path)
    assert (config.witnesses, config.isolated_when, config.unreachable) == ((), 0, "down")


@pytest.mark.parametrize(
    ("monitor", "expected"),
    [
        ({"witnesses": ["ghost"]}, "monitor.witnesses: unknown target 'ghost'"),
        ({"witnesses": ["sw1", "sw1"]}, "monitor.witnesses: a witness is listed twice"),
        ({"witnesses": ["sw1"], "isolated_when": 2}, "monitor.isolated_when: expected all or"),
        ({"witnesses": ["sw1"], "isolated_when": "most"}, "monitor.isolated_when: expected"),
        ({"isolated_when": 1}, "monitor.isolated_when: needs monitor.witnesses"),
        ({"witness": ["sw1"]}, "monitor.witness: unknown key"),
    ],
)
def test_monitor_section_errors(tmp_path, monitor, expected):
    assert any(line.startswith(expected) for line in problems(tmp_path, monitor=monitor))


def test_depends_on(tmp_path):
    config = config_with(tmp_path, targets={1: {"depends_on": ["sw1"]}, 2: {"depends_on": "sw1"}})
    assert config.target("web").depends_on == ("sw1",)
    assert config.target("smtp").depends_on == ("sw1",)
    assert config.target("sw1").depends_on == ()


@pytest.mark.parametrize(
    ("targets", "expected"),
    [
        ({1: {"depends_on": ["ghost"]}}, "targets[1] (web).depends_on: unknown target 'ghost'"),
        (
            {1: {"depends_on": ["web"]}},
            "targets[1] (web).depends_on: a target cannot depend on itself",
        ),
        ({1: {"depends_on": [1]}}, "targets[1] (web).depends_on: expected a list of names"),
        (
            {0: {"depends_on": ["smtp"]}, 1: {"depends_on": ["sw1"]}, 2: {"depends_on": ["web"]}},
            "targets: depends_on goes round in a cycle: sw1 -> smtp -> web -> sw1",
        ),
    ],
)
def test_dependency_errors(tmp_path, targets, expected):
    assert expected in problems(tmp_path, targets=targets)


def test_unreachable_policy(tmp_path):
    config = config_with(tmp_path, reporting={"unreachable": "unmonitored"})
    assert config.unreachable == "unmonitored"
    assert any(
        line.startswith("reporting.unreachable: expected one of down, unmonitored")
        for line in problems(tmp_path, reporting={"unreachable": "up"})
    )


@pytest.mark.parametrize(
    ("graph", "cycle"),
    [
        ({}, None),
        ({"a": ["b"], "b": ["c"], "c": []}, None),
        ({"a": ["b", "c"], "b": ["d"], "c": ["d"], "d": []}, None),  # a diamond is fine
        ({"a": ["a"]}, ["a", "a"]),
        ({"a": ["b"], "b": ["a"]}, ["a", "b", "a"]),
        ({"x": ["a"], "a": ["b"], "b": ["c"], "c": ["a"]}, ["a", "b", "c", "a"]),
    ],
)
def test_dependency_cycle(graph, cycle):
    assert dependency_cycle(graph) == cycle
