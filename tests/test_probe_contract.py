"""The probe contract: every registered type satisfies ``ProbeType``, and a new type is
one module plus one registry line (this module plays that module for a fake type)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from monitor import config as config_mod
from monitor.daemon import check_probe_types
from monitor.probes import REGISTRY, begin, detail_metrics, probe_once, probe_type
from monitor.probes.base import (
    BlockingProbeType,
    DetailMetric,
    ProbeResult,
    ProbeSetupError,
    ProbeType,
    SettingError,
)

# -- the fake type: everything a registered module must offer ---------------------------

setup_checked: list[list[int]] = []


def _parse(raw: Mapping[str, Any], env: Mapping[str, str]) -> int:
    answer = raw.get("answer")
    if answer == 13:
        raise TypeError("a bug in the parser, its text naming a secret")
    if not isinstance(answer, int):
        raise SettingError("answer", "'answer' must be a whole number")
    return answer


def _run(answer: int, timeout: float) -> ProbeResult:
    if answer == 7:
        raise RuntimeError("a bug in the probe")
    return ProbeResult(answer == 42, 0.001, None if answer == 42 else "wrong answer", {"fake": 1})


def _check_setup(settings: Sequence[int]) -> None:
    setup_checked.append(list(settings))
    if 0 in settings:
        raise ProbeSetupError("cannot answer 0 here")


PROBE_TYPE = BlockingProbeType(
    frozenset({"answer"}),
    _parse,
    lambda answer: f"answer {answer}",
    _run,
    detail_metrics={"fake": DetailMetric("availmon_fake_answers", "Answers given.")},
    check_setup=_check_setup,
)


@pytest.fixture
def fake_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(REGISTRY, "fake", __name__)
    setup_checked.clear()


def parse_config(*targets: dict[str, Any]) -> config_mod.Config:
    raw = {
        "defaults": {"interval": "30s", "timeout": "5s", "schedule": "always"},
        "targets": list(targets),
    }
    return config_mod.parse(raw, "targets.yaml", {})


# -- every real type ----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_registered_type_satisfies_the_contract(name: str) -> None:
    implementation = probe_type(name)
    assert isinstance(implementation, ProbeType)
    assert implementation.keys and all(isinstance(k, str) for k in implementation.keys)
    assert all(isinstance(m, DetailMetric) for m in implementation.detail_metrics.values())


def test_detail_keys_and_metric_names_belong_to_one_type_each() -> None:
    keys = [k for name in REGISTRY for k in probe_type(name).detail_metrics]
    names = [m.name for name in REGISTRY for m in probe_type(name).detail_metrics.values()]
    assert len(set(keys)) == len(keys) and len(set(names)) == len(names)
    assert detail_metrics().keys() == set(keys)


def test_only_icmp_begins_without_holding_a_thread() -> None:
    assert {name for name in REGISTRY if probe_type(name).event_driven} == {"icmp"}


# -- a new type is one module and one registry line ---------------------------------------


def test_a_new_type_flows_through_config_setup_and_probing(fake_registered: None) -> None:
    config = parse_config(
        {"name": "right", "type": "fake", "answer": 42},
        {"name": "wrong", "type": "fake", "answer": 41},
    )
    right, wrong = config.targets
    assert (right.type, right.settings, right.describe) == ("fake", 42, "answer 42")
    check_probe_types(config)
    assert setup_checked == [[42, 41]]
    assert probe_once(right.type, right.settings, right.timeout) == ProbeResult(
        True, 0.001, None, {"fake": 1}
    )
    assert probe_once(wrong.type, wrong.settings, wrong.timeout).cause == "wrong answer"
    assert detail_metrics()["fake"].name == "availmon_fake_answers"


def test_a_new_types_setup_check_refuses_to_start(fake_registered: None) -> None:
    config = parse_config({"name": "zero", "type": "fake", "answer": 0})
    with pytest.raises(ProbeSetupError, match="cannot answer 0"):
        check_probe_types(config)


def test_a_new_types_keys_and_setting_errors_reach_the_config_problems(
    fake_registered: None,
) -> None:
    with pytest.raises(config_mod.ConfigError) as info:
        parse_config(
            {"name": "bad", "type": "fake", "answer": "many"},
            {"name": "extra", "type": "fake", "answer": 42, "port": 25},
            {"name": "buggy", "type": "fake", "answer": 13},
        )
    text = "\n".join(info.value.problems)
    assert "targets[0] (bad).answer: 'answer' must be a whole number" in text
    assert "targets[1] (extra)" in text and "port" in text
    # a parser bug is one problem line, without the exception's text
    assert "targets[2] (buggy).type: invalid fake settings (TypeError)" in text
    assert "secret" not in text


def test_a_probe_that_raises_becomes_a_failed_result(fake_registered: None) -> None:
    result = probe_once("fake", 7, 1.0)
    assert not result.success
    assert result.cause == "internal error: a bug in the probe"


def test_an_error_in_done_reaches_the_caller_and_done_runs_once(fake_registered: None) -> None:
    calls: list[ProbeResult] = []

    def done(result: ProbeResult) -> None:
        calls.append(result)
        raise ValueError("recording failed")

    with pytest.raises(ValueError, match="recording failed"):
        begin("fake", 42, 1.0, done)
    assert [r.success for r in calls] == [True]
