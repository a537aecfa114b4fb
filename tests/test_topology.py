"""The namespace network of tests/topology.py behaves as the isolation and dependency
tests assume: seen from MON, each fault takes away exactly the addresses it should, and
availmon's own probes, run inside MON, see the same."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support import ROOT, availmon_argv
from tests.topology import Topology, topology

pytestmark = pytest.mark.slow

ADDRESSES = ("gateway", "witness_a", "witness_b", "core", "host_a", "host_b")
URLS = ("url_a", "url_b")


@pytest.fixture
def net():
    with topology() as topo:
        yield topo


def reachable(topo: Topology) -> dict[str, bool]:
    """Every address pinged and every URL fetched from MON, all at once (each is bounded)."""
    with ThreadPoolExecutor(len(ADDRESSES) + len(URLS)) as pool:
        pings = {a: pool.submit(topo.pings, getattr(topo, a)) for a in ADDRESSES}
        pages = {u: pool.submit(topo.fetch, getattr(topo, u)) for u in URLS}
        return {a: f.result() for a, f in pings.items()} | {
            u: f.result() == "ok\n" for u, f in pages.items()
        }


def only(*names: str) -> dict[str, bool]:
    return {name: name in names for name in (*ADDRESSES, *URLS)}


EVERYTHING = only(*ADDRESSES, *URLS)


def test_every_address_answers_ping_and_http_from_mon(net):
    assert reachable(net) == EVERYTHING


def test_uplink_down_cuts_mon_off_from_everything_and_up_restores_it(net):
    net.uplink_down()
    assert reachable(net) == only()
    net.uplink_up()
    assert reachable(net) == EVERYTHING


def test_core_downstream_down_leaves_core_answering_but_not_the_hosts(net):
    net.core_downstream_down()
    assert reachable(net) == only("gateway", "witness_a", "witness_b", "core")
    net.core_downstream_up()
    assert reachable(net) == EVERYTHING


def test_core_down_takes_core_and_hosts_away_but_not_the_witnesses(net):
    net.core_down()
    assert reachable(net) == only("gateway", "witness_a", "witness_b")
    net.core_up()
    assert reachable(net) == EVERYTHING


def test_block_cuts_only_mons_path_to_one_host(net):
    net.block(net.host_a)
    everything_but_a = only("gateway", "witness_a", "witness_b", "core", "host_b", "url_b")
    assert reachable(net) == everything_but_a
    assert net.fetch(net.url_a, role="gw") == "ok\n"  # GW's path is untouched
    net.unblock(net.host_a)
    assert reachable(net) == EVERYTHING


def test_availmon_probe_inside_mon_sees_the_core_fall_and_return(net, tmp_path: Path):
    config = tmp_path / "targets.yaml"
    config.write_text(
        "targets:\n"
        f"  - {{name: core-router, type: icmp, host: {net.core}, count: 1, timeout: 1s}}\n"
        f"  - {{name: web-a, type: http, url: '{net.url_a}', timeout: 1s}}\n"
    )

    def probe(name: str) -> subprocess.CompletedProcess[str]:
        # PYTHONPATH: the code under test is this checkout's, whatever the venv installed.
        run = ("env", f"PYTHONPATH={ROOT}", *availmon_argv("probe", "-c", config, name))
        return net.exec(*run, timeout=30)

    for name in ("core-router", "web-a"):
        done = probe(name)
        assert done.returncode == 0, done.stdout + done.stderr
        assert ": UP in" in done.stdout
    net.core_down()
    for name in ("core-router", "web-a"):
        done = probe(name)
        assert done.returncode == 1, done.stdout + done.stderr
        assert ": DOWN (" in done.stdout


def test_teardown_removes_every_namespace_and_process_even_after_a_failure():
    with pytest.raises(RuntimeError, match="the test failed"), topology() as topo:
        server = topo.popen("sleep", "60")
        names = set(topo.namespaces.values())
        raise RuntimeError("the test failed")
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10)
    assert not names & {line.split()[0] for line in listed.stdout.splitlines() if line}
    assert server.poll() is not None
