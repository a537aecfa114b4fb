"""targets.yaml: the metrics: section (the series budget per target)."""

from __future__ import annotations

import pytest

from monitor.config import FIGURE_FAMILIES, MetricsSpec
from tests.test_config_dependencies import config_with, problems


def test_defaults_are_the_quarter_and_the_years_uptime_without_extras(tmp_path):
    spec = config_with(tmp_path).metrics
    assert spec == MetricsSpec()
    assert dict(spec.target_figures) == {
        "quarter": (
            "uptime_ratio",
            "scheduled_seconds",
            "downtime_seconds",
            "error_budget_remaining_seconds",
        ),
        "year": ("uptime_ratio",),
    }
    assert spec.target_extras == frozenset()


def test_configured_figures_all_and_extras(tmp_path):
    section = {
        "target_figures": {
            "day": ["error_budget_seconds", "uptime_ratio"],
            "year": "all",
            "month": [],
        },
        "target_extras": ["probes_total"],
    }
    spec = config_with(tmp_path, metrics=section).metrics
    assert dict(spec.target_figures) == {
        "day": ("uptime_ratio", "error_budget_seconds"),  # in the exported order
        "year": FIGURE_FAMILIES,
        "month": (),
    }
    assert spec.target_extras == {"probes_total"}


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("none", "metrics: expected a mapping, got str"),
        (
            {"target_periods": ["year"]},
            "metrics.target_periods: unknown key (did you mean 'target_",
        ),
        ({"target_figures": {"decade": "all"}}, "metrics.target_figures.decade: unknown key"),
        ({"target_figures": ["year"]}, "metrics.target_figures: expected a mapping, got list"),
        (
            {"target_figures": {"year": ["uptime"]}},
            "metrics.target_figures.year: unknown figure 'uptime' (expected all or some of:",
        ),
        ({"target_figures": {"year": [1]}}, "metrics.target_figures.year: expected a list of"),
        (
            {"target_extras": ["target_up"]},
            "metrics.target_extras: unknown series 'target_up' (expected some of:",
        ),
        ({"target_extras": {"a": 1}}, "metrics.target_extras: expected a list, got dict"),
    ],
)
def test_metrics_errors_are_one_line_each(tmp_path, section, expected):
    [line] = problems(tmp_path, metrics=section)
    assert line.startswith(expected), line
