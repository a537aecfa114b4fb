"""Prometheus: the shipped rules and config check and pass their unit tests, and every
expression in the rules and dashboards evaluates against a real Prometheus scraping a
real availmon (loopback only)."""

from __future__ import annotations

import json
import re
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme
import yaml

from tests.support import availmon_argv, free_port, http_server, need, unavailable

# A real Prometheus scraping a real daemon, and promtool.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
PROM = ROOT / "prometheus"
RULES = PROM / "rules" / "availmon.rules.yml"
DASHBOARDS = ROOT / "grafana" / "dashboards"
DEADLINE = 45.0  # bound on every wait in this file
# Grafana's built-in variables, as the e2e test substitutes them.
GRAFANA_VARS = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h"}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [need("promtool", "prometheus"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


# --- static checks ---------------------------------------------------------------------


def test_promtool_check_rules():
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_check_config():
    result = promtool("check", "config", str(PROM / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_test_rules():
    tests = sorted(str(p) for p in (PROM / "tests").glob("*.yml"))
    assert tests
    result = promtool("test", "rules", *tests)
    assert result.returncode == 0, result.stdout + result.stderr


def test_alertmanager_example_is_valid_and_inhibits_target_alerts_while_isolated():
    amtool = need("amtool", "prometheus-alertmanager")
    example = PROM / "alertmanager.yml"
    result = subprocess.run(
        [amtool, "check-config", str(example)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    [inhibit] = yaml.safe_load(example.read_text())["inhibit_rules"]
    names = {r["alert"] for r in rules() if "alert" in r}
    assert inhibit["source_matchers"] == ["alertname = AvailmonMonitorIsolated"]
    assert "AvailmonMonitorIsolated" in names
    [target] = inhibit["target_matchers"]
    pattern = re.fullmatch(r'alertname =~ "(.*)"', target)
    assert pattern is not None
    inhibited = {n for n in names if re.fullmatch(pattern.group(1), n)}
    # Every per-target page and ticket, and nothing about the monitor itself.
    assert inhibited == {
        n for n in names if n.startswith(("AvailmonTarget", "AvailmonErrorBudget"))
    }
    assert {"AvailmonTargetDown", "AvailmonErrorBudgetFastBurn"} <= inhibited
    assert inhibit["equal"] == ["instance"]


def rules() -> list[dict[str, Any]]:
    data = yaml.safe_load(RULES.read_text())
    return [rule for group in data["groups"] for rule in group["rules"]]


def test_every_alert_has_severity_annotations_and_unit_tests():
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in (PROM / "tests").glob("*.yml"):
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    alerts = [r for r in rules() if "alert" in r]
    assert len(alerts) >= 12
    for rule in alerts:
        name = rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical"), name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name
        assert name in firing, f"{name}: no promtool test where it fires"
        assert name in quiet, f"{name}: no promtool test where it does not fire"


# --- end to end ------------------------------------------------------------------------


def icmp_possible() -> bool:
    for kind in (socket.SOCK_RAW, socket.SOCK_DGRAM):
        try:
            socket.socket(socket.AF_INET, kind, socket.IPPROTO_ICMP).close()
            return True
        except OSError:
            continue
    return False


def https_server(tmp_path: Path) -> tuple[ThreadingHTTPServer, str, Path]:
    """A loopback HTTPS server with a throwaway CA (so the TLS expiry metric has data)."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "3")
            self.end_headers()
            self.wfile.write(b"ok\n")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"https://127.0.0.1:{server.server_address[1]}/health", ca_file


@dataclass
class Stack:
    prometheus: str  # http://127.0.0.1:PORT
    targets: list[str]  # availmon target names
    logs: list[Path]

    def query(self, expr: str) -> dict[str, Any]:
        """Instant query; returns the parsed JSON body (status "success" or "error")."""
        url = f"{self.prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                return json.load(resp)
        except urllib.error.HTTPError as exc:  # 400/422 carry the PromQL error as JSON
            return json.load(exc)

    def result(self, expr: str) -> list[dict[str, Any]]:
        body = self.query(expr)
        assert body["status"] == "success", f"{expr}: {body}\n{self.log_text()}"
        return body["data"]["result"]

    def log_text(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in self.logs if p.exists())

    def wait_for(
        self, what: str, expr: str, procs: list[subprocess.Popen[bytes]], end: float | None = None
    ) -> None:
        """Until ``expr`` has a result (asked at least once): by ``end`` (a monotonic
        instant), else within DEADLINE."""
        end = time.monotonic() + DEADLINE if end is None else end
        while True:
            for proc in procs:
                assert proc.poll() is None, f"{proc.args} exited\n{self.log_text()}"
            try:
                body = self.query(expr)
                if body["status"] == "success" and body["data"]["result"]:
                    return
            except OSError:
                pass
            assert time.monotonic() < end, (
                f"timed out waiting for {what} ({expr})\n{self.log_text()}"
            )
            time.sleep(0.5)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def daemon(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    """``availmon run`` in the background, its log appended to ``log``."""
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log.open("ab"))


def start_prometheus(
    tmp: Path, port: int, availmon_ports: list[int], log: Path
) -> subprocess.Popen[bytes]:
    """A Prometheus on ``port`` loading the shipped rules and scraping every availmon
    /metrics port each second, its data in ``tmp`` and its log appended to ``log``."""
    scrape = {
        "job_name": "availmon",
        "scrape_interval": "1s",
        "scrape_timeout": "1s",
        "static_configs": [{"targets": [f"127.0.0.1:{p}" for p in availmon_ports]}],
    }
    config = tmp / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(RULES)],
                "scrape_configs": [scrape],
            }
        )
    )
    command = [
        need("prometheus", "prometheus"),
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    return subprocess.Popen(command, cwd=tmp, stdout=subprocess.DEVNULL, stderr=log.open("ab"))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    need("prometheus", "prometheus")  # skipped (failed in CI) before anything starts
    if not icmp_possible():
        unavailable("no ICMP socket here (root, CAP_NET_RAW or net.ipv4.ping_group_range)")
    tmp = tmp_path_factory.mktemp("prometheus-e2e")
    tls_server, tls_url, ca_file = https_server(tmp)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with http_server() as plain:
            availmon_port, prom_port, dead_port = free_port(), free_port(), free_port()
            (tmp / "targets.yaml").write_text(
                f"listen: 127.0.0.1:{availmon_port}\n"
                "storage: {heartbeat: 1s}\n"
                "defaults: {interval: 1s, timeout: 500ms, schedule: always}\n"
                "groups: {systems: {objective: 99%}, network: {objective: 99.9%}}\n"
                "targets:\n"
                f"  - {{name: web, group: systems, type: http, url: '{plain.url}'}}\n"
                f"  - {{name: secure, group: systems, type: http, url: '{tls_url}', "
                f"ca_file: '{ca_file}'}}\n"
                f"  - {{name: dead, group: systems, type: tcp, host: 127.0.0.1, "
                f"port: {dead_port}, labels: {{site: Depot, owner: networks}}}}\n"
                f"  - {{name: behind, group: systems, type: tcp, host: 127.0.0.1, "
                f"port: {dead_port}, depends_on: [dead]}}\n"
                "  - {name: loop, group: network, type: icmp, host: 127.0.0.1}\n"
            )
            logs = [tmp / "availmon.log", tmp / "prometheus.log"]
            run = availmon_argv("run", "-c", tmp / "targets.yaml", "--db", tmp / "availmon.db")
            procs.append(daemon(run, logs[0]))
            procs.append(start_prometheus(tmp, prom_port, [availmon_port], logs[1]))
            s = Stack(
                f"http://127.0.0.1:{prom_port}", ["web", "secure", "dead", "behind", "loop"], logs
            )
            # Enough samples for rate()/increase() and the recording rules built on them.
            s.wait_for("availmon scraped", 'up{job="availmon"} == 1', procs)
            s.wait_for("figures", 'availmon_uptime_ratio{period="quarter"}', procs)
            s.wait_for("dead target down", 'availmon_target_up{target="dead"} == 0', procs)
            s.wait_for("unreachable", 'availmon_target_unreachable{target="behind"} == 1', procs)
            s.wait_for("TLS probe", "probe_ssl_earliest_cert_expiry", procs)
            s.wait_for(
                "samples for rates",
                'count_over_time(availmon_downtime_seconds{target="dead"}[1m]) >= 3',
                procs,
            )
            s.wait_for("recording rules", "availmon:error_budget_burn_rate:rate5m", procs)
            yield s
    finally:
        for proc in reversed(procs):
            stop(proc)
        tls_server.shutdown()
        tls_server.server_close()


def dashboard_exprs() -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, expr) for every query in every dashboard."""
    found = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        dashboard = json.loads(path.read_text())
        panels = []
        for panel in dashboard["panels"]:
            panels.append(panel)
            panels.extend(panel.get("panels", []))
        for panel in panels:
            for target in panel.get("targets", []):
                found.append((path.name, panel["title"], target["expr"]))
    return found


DASHBOARD_EXPRS = dashboard_exprs()


def substitute(expr: str, target: str) -> str:
    expr = expr.replace("${target}", target).replace("$target", target)
    for var, value in GRAFANA_VARS.items():
        expr = expr.replace(var, value)
    assert "$" not in expr, f"unsubstituted variable in {expr}"
    return expr


def test_availmon_is_scraped_and_the_dead_target_is_down(stack):
    [up] = stack.result('up{job="availmon"}')
    assert up["value"][1] == "1"
    states = {r["metric"]["target"]: r["value"][1] for r in stack.result("availmon_target_up")}
    assert states == {"web": "1", "secure": "1", "dead": "0", "behind": "0", "loop": "1"}


def test_target_labels_join_in_promql(stack):
    [info] = stack.result('availmon_target_info{site="Depot"}')
    assert info["metric"]["target"] == "dead" and info["metric"]["owner"] == "networks"
    joined = stack.result(
        "availmon_target_up"
        " * on(job, instance, target, group) group_left(site) availmon_target_info"
    )
    assert [(r["metric"]["target"], r["metric"]["site"]) for r in joined] == [("dead", "Depot")]


def panel_exprs(title: str) -> list[str]:
    return [expr for _, t, expr in DASHBOARD_EXPRS if t == title]


def test_down_now_and_unreachable_now_tables_separate_the_two(stack):
    for title, expected in [
        ("Down now", ["dead"]),
        ("Unreachable now (behind a failed parent)", ["behind"]),
    ]:
        for expr in panel_exprs(title):
            rows = stack.result(substitute(expr, ""))
            assert [r["metric"]["target"] for r in rows] == expected, (title, expr)
            assert all(r["metric"]["cause"] for r in rows), rows


def test_budget_panels_rank_the_targets_with_downtime(stack):
    for title in ("Error budget consumed (top 10)", "Downtime (top 10)"):
        [expr] = panel_exprs(title)
        found = {r["metric"]["target"] for r in stack.result(substitute(expr, ""))}
        assert found == {"dead", "behind"}, (title, found)


def test_uptime_panels_judge_each_group_by_its_own_objective(stack):
    """systems (99%, with a dead target) misses; network (99.9%, loopback ping) meets."""
    [met, missed] = panel_exprs("Quarter-to-date uptime")
    assert [r["metric"]["group"] for r in stack.result(met)] == ["network"]
    assert [r["metric"]["group"] for r in stack.result(missed)] == ["systems"]


def test_target_down_alert_expression_sees_exactly_the_dead_target(stack):
    [rule] = [r for r in rules() if r.get("alert") == "AvailmonTargetDown"]
    # schedule: always, so working hours are open and the join keeps the dead target.
    result = stack.result(rule["expr"])
    assert [r["metric"]["target"] for r in result] == ["dead"]


def test_every_rule_expression_evaluates(stack):
    for rule in rules():
        stack.result(rule["expr"])  # asserts status "success"; alerts are usually empty


def test_every_recording_rule_has_data(stack):
    for rule in rules():
        if "record" in rule:
            assert stack.result(rule["record"]), f"{rule['record']}: no data"


@pytest.mark.parametrize(
    ("dashboard", "title", "expr"),
    DASHBOARD_EXPRS,
    ids=[f"{d}:{t}:{i}" for i, (d, t, _) in enumerate(DASHBOARD_EXPRS)],
)
def test_dashboard_expression_returns_data(stack, dashboard, title, expr):
    if "$target" not in expr and "${target}" not in expr:
        assert stack.result(substitute(expr, "")), f"{dashboard} / {title}: no data for {expr}"
        return
    # Some target-detail panels apply to one probe type only (HTTP status, TLS expiry,
    # ICMP loss, the open outage): each must have data for at least one target.
    with_data = [t for t in stack.targets if stack.result(substitute(expr, t))]
    assert with_data, f"{dashboard} / {title}: no data for any target: {expr}"
