"""The shipped Grafana dashboards and provisioning files are well formed."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.config import FIGURE_FAMILIES, TARGET_EXTRAS, MetricsSpec

ROOT = Path(__file__).resolve().parent.parent
DASHBOARDS = ROOT / "grafana" / "dashboards"
EXPECTED_UIDS = {
    "availmon-overview.json": "availmon-overview",
    "availmon-target.json": "availmon-target",
}
DATASOURCE_VAR = "${datasource}"
NEEDS_UNIT = {"stat", "gauge", "timeseries", "bargauge"}


def load(name: str) -> dict[str, Any]:
    return json.loads((DASHBOARDS / name).read_text())


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in (collapsed) rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def is_datasource_var(ds: object) -> bool:
    return ds == DATASOURCE_VAR or (
        isinstance(ds, dict) and ds.get("type") == "prometheus" and ds.get("uid") == DATASOURCE_VAR
    )


def test_every_dashboard_is_expected():
    assert {p.name for p in DASHBOARDS.glob("*.json")} == set(EXPECTED_UIDS)


@pytest.mark.parametrize("name", sorted(EXPECTED_UIDS))
def test_dashboard_basics(name):
    d = load(name)
    assert d["uid"] == EXPECTED_UIDS[name]
    assert d["schemaVersion"] >= 36
    assert d["title"]
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in panels(d)]
    assert len(ids) == len(set(ids)), "duplicate panel ids"


@pytest.mark.parametrize("name", sorted(EXPECTED_UIDS))
def test_panels_use_the_datasource_variable_and_set_units(name):
    d = load(name)
    for panel in panels(d):
        if panel["type"] == "row":
            continue
        title = panel["title"]
        assert is_datasource_var(panel.get("datasource")), title
        assert panel["targets"], title
        for target in panel["targets"]:
            assert is_datasource_var(target.get("datasource")), title
            assert target["expr"].strip(), title
            assert "${datasource}" not in target["expr"], title
        defaults = panel["fieldConfig"]["defaults"]
        if panel["type"] in NEEDS_UNIT:
            assert defaults.get("unit"), f"{title}: no unit"
            if defaults["unit"] == "percentunit" and panel["type"] != "timeseries":
                # 99.0% and 99.9% must look different.
                assert defaults.get("decimals") in (2, 3), f"{title}: decimals"
            assert defaults.get("thresholds", {}).get("steps"), f"{title}: no thresholds"
    # No data source uid is hard-coded anywhere (Grafana's built-in annotation aside).
    text = json.dumps({k: v for k, v in d.items() if k != "annotations"})
    assert "availmon-prometheus" not in text


def test_target_dashboard_has_target_variable():
    d = load("availmon-target.json")
    variables = {v["name"]: v for v in d["templating"]["list"]}
    target = variables["target"]
    assert target["type"] == "query"
    # Every configured target, probed yet or not (availmon_target_up waits for a probe).
    assert target["definition"] == "label_values(availmon_outages_total, target)"
    assert is_datasource_var(target["datasource"])
    exprs = [t["expr"] for p in panels(d) for t in p.get("targets", [])]
    assert all("$target" in e for e in exprs), [e for e in exprs if "$target" not in e]


def test_overview_has_the_panels_the_issue_asks_for():
    d = load("availmon-overview.json")
    kinds = {p["type"] for p in panels(d)}
    assert {"gauge", "stat", "table", "state-timeline"} <= kinds
    timeline = [p for p in panels(d) if p["type"] == "state-timeline"]
    assert any("availmon_target_up" in t["expr"] for p in timeline for t in p["targets"])
    exprs = " ".join(t["expr"] for p in panels(d) for t in p.get("targets", []))
    for metric in (
        'availmon_group_uptime_ratio{period="quarter"}',
        'availmon_group_uptime_ratio{period="year"}',
        "availmon_group_error_budget_remaining_seconds",
        "availmon_schedule_open",
        "availmon_uptime_objective_ratio",
    ):
        assert metric in exprs, metric


# A per-target figure with its period, in a PromQL selector: availmon_NAME{...period="P"...}
FIGURE_SELECTOR = re.compile(rf'availmon_({"|".join(FIGURE_FAMILIES)})\{{[^}}]*period="(\w+)"')


def queries() -> Iterator[tuple[str, str]]:
    """(where, expr) for every dashboard query and every rule expression."""
    for name in EXPECTED_UIDS:
        for panel in panels(load(name)):
            for target in panel.get("targets", []):
                yield f"{name} / {panel['title']}", target["expr"]
    rules = yaml.safe_load((ROOT / "prometheus/rules/availmon.rules.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            yield rule.get("alert") or rule["record"], rule["expr"]


def test_dashboards_and_rules_query_only_the_default_series_budget():
    """Nothing shipped reads a per-target series that /metrics leaves out by default."""
    budget = MetricsSpec().target_figures
    figures = 0
    for where, expr in queries():
        for family, period in FIGURE_SELECTOR.findall(expr):
            figures += 1
            assert family in budget.get(period, ()), f"{where}: {family} {period}"
        for extra in TARGET_EXTRAS:
            assert f"availmon_{extra}" not in expr, f"{where}: {extra}"
    assert figures > 10  # the pattern does find the figures


def test_provisioning_files():
    ds = yaml.safe_load((ROOT / "grafana/provisioning/datasources/availmon.yml").read_text())
    [source] = ds["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://localhost:9090"
    dash = yaml.safe_load((ROOT / "grafana/provisioning/dashboards/availmon.yml").read_text())
    [provider] = dash["providers"]
    assert provider["type"] == "file"
    path = provider["options"]["path"]
    assert path in (ROOT / "grafana" / "README.md").read_text()


def install_commands(text: str) -> list[str]:
    """The shell lines of the first ``sh`` block of ``text`` (continuations joined)."""
    block = text.split("```sh\n", 1)[1].split("```", 1)[0]
    return block.replace("||\n", "|| ").splitlines()


@pytest.mark.slow  # runs sh
def test_grafana_install_is_safe_to_run_twice_and_keeps_an_edited_data_source(tmp_path):
    root = tmp_path / "root"
    lines = [
        line.replace(" /etc/", f" {root}/etc/").replace(" /var/lib/", f" {root}/var/lib/")
        for line in install_commands((ROOT / "grafana" / "README.md").read_text())
        if not line.startswith(("chown", "systemctl"))  # as root, on a real Grafana host
    ]
    assert all(str(root) in line for line in lines), lines
    script = "set -e\n" + "\n".join(lines) + "\n"
    edited = root / "etc/grafana/provisioning/datasources/availmon.yml"
    edited.parent.mkdir(parents=True)
    edited.write_text("# edited by the admin\n")

    def tree() -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}

    subprocess.run(["sh", "-c", script], cwd=ROOT, check=True)
    first = tree()
    subprocess.run(["sh", "-c", script], cwd=ROOT, check=True)
    assert tree() == first
    assert edited.read_text() == "# edited by the admin\n"
    installed = sorted(p for p in first if p.startswith("var/lib/grafana/dashboards/availmon/"))
    assert installed == [f"var/lib/grafana/dashboards/availmon/{n}" for n in sorted(EXPECTED_UIDS)]


def test_no_instruction_copies_over_an_existing_prometheus_yml():
    found = False
    for doc in (ROOT / "README.md", ROOT / "prometheus" / "prometheus.yml"):
        for line in doc.read_text().splitlines():
            command = line.lstrip("# ")
            if command.startswith(("cp ", "install ")) and "/etc/prometheus" in command:
                assert not command.rstrip().endswith(("/etc/prometheus/", "prometheus.yml")), line
                found = True
    assert found  # the rules' install line is there, in README.md and prometheus.yml
