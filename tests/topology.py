"""A small routed network of network namespaces, for end-to-end tests of monitor isolation
and parent dependencies: real ICMP and HTTP, with links that break and heal on demand.

    MON --- GW --- UP      (witness_a, witness_b)
             \\
              CORE --- HOSTS (host_a, host_b: ping and an HTTP server each)

MON is where the monitor runs; GW is its gateway; UP holds two upstream "witness"
addresses; CORE is a router with HOSTS behind it. Every address lives inside namespaces
this module creates and removes; nothing is configured in the caller's namespace. Link
changes are ``ip link set down/up`` on one end, so they take effect at once: the far end
loses carrier, as when a cable is pulled.
"""

from __future__ import annotations

import itertools
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support import ROOT, availmon_argv

COMMAND_TIMEOUT = 10.0  # seconds any one ip/sysctl call may take
HTTP_PORT = 8080

# Point-to-point /30 links and the HOSTS LAN; 10.201/16 never leaves the namespaces.
MON_ADDR, GATEWAY = "10.201.0.1", "10.201.0.2"
GW_TO_UP, UP_ADDR = "10.201.1.1", "10.201.1.2"
GW_TO_CORE, CORE = "10.201.2.1", "10.201.2.2"
HOSTS_LAN, CORE_LAN, HOST_A, HOST_B = "10.201.3.0/24", "10.201.3.1", "10.201.3.10", "10.201.3.11"
WITNESS_A, WITNESS_B = "10.201.10.1", "10.201.11.1"

# Fetches a URL from inside a namespace: the body on stdout, exit 0 only for a 2xx answer.
_FETCH = """
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[2])) as answer:
    sys.stdout.buffer.write(answer.read())
"""

# Each link: a veth pair between two (namespace role, device, address) ends.
LINKS = (
    (("mon", "to-gw", f"{MON_ADDR}/30"), ("gw", "to-mon", f"{GATEWAY}/30")),
    (("gw", "to-up", f"{GW_TO_UP}/30"), ("up", "to-gw", f"{UP_ADDR}/30")),
    (("gw", "to-core", f"{GW_TO_CORE}/30"), ("core", "to-gw", f"{CORE}/30")),
    (("core", "to-hosts", f"{CORE_LAN}/24"), ("hosts", "to-core", f"{HOST_A}/24")),
)
MORE_ADDRESSES = (
    ("hosts", "to-core", f"{HOST_B}/24"),
    ("up", "lo", f"{WITNESS_A}/32"),
    ("up", "lo", f"{WITNESS_B}/32"),
)
# Static routes (destination, next hop) per namespace; GW and CORE forward.
ROUTES = {
    "mon": (("default", GATEWAY),),
    "gw": ((f"{WITNESS_A}/32", UP_ADDR), (f"{WITNESS_B}/32", UP_ADDR), (HOSTS_LAN, CORE)),
    "up": (("default", GW_TO_UP),),
    "core": (("default", GW_TO_CORE),),
    "hosts": (("default", CORE_LAN),),
}
ROUTERS = ("gw", "core")

# A static-file HTTP server (http.server) on one address, in the working directory. It
# skips the reverse lookup HTTPServer.server_bind does (getfqdn): no resolver answers
# inside the namespaces, so that lookup alone would take the resolver's 5 s timeout.
# The banner is printed once it listens.
_SERVE = """
import socketserver, sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

class Server(ThreadingHTTPServer):
    def server_bind(self):
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

with Server((sys.argv[1], int(sys.argv[2])), SimpleHTTPRequestHandler) as server:
    print("Serving HTTP", flush=True)
    server.serve_forever()
"""

_instances = itertools.count()


def _run(*cmd: str) -> str:
    """Run a setup or link command: its output, or an error with the command and message."""
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {done.stderr.strip()}")
    return done.stdout


@dataclass
class Topology:
    """The running network. ``namespaces`` maps each role (mon, gw, up, core, hosts) to a
    namespace name unique to this process and instance."""

    namespaces: dict[str, str]
    gateway: str = GATEWAY
    witness_a: str = WITNESS_A
    witness_b: str = WITNESS_B
    core: str = CORE
    host_a: str = HOST_A
    host_b: str = HOST_B
    url_a: str = f"http://{HOST_A}:{HTTP_PORT}/"
    url_b: str = f"http://{HOST_B}:{HTTP_PORT}/"
    _processes: list[subprocess.Popen[Any]] = field(default_factory=list)

    @property
    def mon(self) -> str:
        """The namespace the monitor runs in."""
        return self.namespaces["mon"]

    def exec(
        self, *cmd: str, role: str = "mon", timeout: float = COMMAND_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        """Run ``cmd`` inside MON (or the namespace of ``role``) and wait for it (never
        raises on a non-zero exit)."""
        return subprocess.run(
            ["ip", "netns", "exec", self.namespaces[role], *cmd],
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def popen(self, *cmd: str, role: str = "mon", **kwargs: Any) -> subprocess.Popen[Any]:
        """Start ``cmd`` inside MON (or the namespace of ``role``: a second monitor in GW);
        ``kwargs`` as for Popen. Teardown stops it if it is still running."""
        return self._start(role, list(cmd), **kwargs)

    def availmon(self, *args: str | Path, log: Path, role: str = "mon") -> subprocess.Popen[Any]:
        """``availmon ARGS`` inside MON (or the namespace of ``role``), this checkout's code
        whatever the venv installed; its stderr appended to ``log``."""
        return self.popen(
            *("env", f"PYTHONPATH={ROOT}", *availmon_argv(*args)),
            role=role,
            stdout=subprocess.DEVNULL,
            stderr=log.open("ab"),
        )

    def pings(self, address: str) -> bool:
        """One real ICMP echo from MON, waiting at most a second for the reply."""
        return self.exec("ping", "-n", "-q", "-c1", "-W1", address).returncode == 0

    def fetch(self, url: str, timeout: float = 2.0, role: str = "mon") -> str | None:
        """GET ``url`` from MON (or the namespace of ``role``): the body of a 2xx answer,
        else None."""
        done = self.exec(
            sys.executable, "-c", _FETCH, url, str(timeout), role=role, timeout=timeout + 5
        )
        return done.stdout if done.returncode == 0 else None

    def block(self, address: str) -> None:
        """MON's route to ``address`` becomes a blackhole: only MON's path to it fails,
        while every other namespace still reaches it."""
        _run("ip", "-n", self.mon, "route", "add", "blackhole", f"{address}/32")

    def unblock(self, address: str) -> None:
        _run("ip", "-n", self.mon, "route", "del", "blackhole", f"{address}/32")

    def uplink_down(self) -> None:
        """Cut MON from its gateway: from MON's view every address fails (isolation)."""
        self._set("down", ("gw", "to-mon"))

    def uplink_up(self) -> None:
        self._set("up", ("gw", "to-mon"))

    def core_downstream_down(self) -> None:
        """Cut CORE from HOSTS: CORE still answers, the hosts behind it do not."""
        self._set("down", ("hosts", "to-core"))

    def core_downstream_up(self) -> None:
        self._set("up", ("hosts", "to-core"))

    def core_down(self) -> None:
        """CORE dies: both its interfaces go down, so it neither answers nor forwards."""
        self._set("down", ("core", "to-gw"), ("core", "to-hosts"))

    def core_up(self) -> None:
        self._set("up", ("core", "to-gw"), ("core", "to-hosts"))

    def _set(self, state: str, *ends: tuple[str, str]) -> None:
        """Set link ends down or up. Taking a device down drops the routes through it, so
        bringing it up puts its namespace's routes back, then waits (bounded) for the link to
        pass traffic wherever the peer end is up, so the change is in force on return."""
        for role, device in ends:
            _run("ip", "-n", self.namespaces[role], "link", "set", device, state)
        if state == "down":
            return
        for role in {role for role, _ in ends}:
            self._route(role)
        deadline = time.monotonic() + COMMAND_TIMEOUT
        for end in ends:
            peer = _peer(end)
            if "UP" not in self._link(peer)[0]:
                continue  # the other end is down: no carrier to wait for
            while self._link(end)[1] != "UP" or self._link(peer)[1] != "UP":
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{end} <-> {peer} did not come up")
                time.sleep(0.02)
            # An address resolution begun while the link was down (the monitor probing)
            # would retry only on its own 1 s timer: start afresh instead.
            for role, device in (end, peer):
                _run("ip", "-n", self.namespaces[role], "neigh", "flush", "dev", device)

    def _link(self, end: tuple[str, str]) -> tuple[set[str], str]:
        """The device's flags ({"UP", ...}: UP when set up) and operational state ("UP"
        once the kernel passes traffic: carrier seen and the queue running)."""
        role, device = end
        line = _run("ip", "-n", self.namespaces[role], "-o", "link", "show", "dev", device)
        flags = line.split("<", 1)[1].split(">", 1)[0].split(",")
        return set(flags), line.split(" state ", 1)[1].split()[0]

    def _route(self, role: str) -> None:
        for destination, via in ROUTES[role]:
            _run("ip", "-n", self.namespaces[role], "route", "replace", destination, "via", via)

    def _start(self, role: str, cmd: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
        process = subprocess.Popen(["ip", "netns", "exec", self.namespaces[role], *cmd], **kwargs)
        self._processes.append(process)
        return process

    def _stop_processes(self) -> None:
        for process in self._processes:
            if process.poll() is None:
                process.terminate()
        for process in self._processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
            for stream in (process.stdin, process.stdout, process.stderr):
                if stream is not None:
                    stream.close()

    def _build(self) -> None:
        for ns in self.namespaces.values():
            _run("ip", "-n", ns, "link", "set", "lo", "up")
        for (role_a, dev_a, addr_a), (role_b, dev_b, addr_b) in LINKS:
            ns_a, ns_b = self.namespaces[role_a], self.namespaces[role_b]
            # Made directly between the two namespaces: no end ever sits in ours.
            _run(
                "ip",
                "link",
                "add",
                dev_a,
                "netns",
                ns_a,
                "type",
                "veth",
                "peer",
                "name",
                dev_b,
                "netns",
                ns_b,
            )
            for ns, device, address in ((ns_a, dev_a, addr_a), (ns_b, dev_b, addr_b)):
                _run("ip", "-n", ns, "addr", "add", address, "dev", device)
                _run("ip", "-n", ns, "link", "set", device, "up")
        for role, device, address in MORE_ADDRESSES:
            _run("ip", "-n", self.namespaces[role], "addr", "add", address, "dev", device)
        for role in ROUTERS:
            _run(
                "ip",
                "netns",
                "exec",
                self.namespaces[role],
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
            )
        for role in ROUTES:
            self._route(role)

    def _serve_http(self, root: str) -> None:
        """An HTTP server per host address inside HOSTS; returns once each is listening."""
        banners = {
            address: self._start(
                "hosts",
                [sys.executable, "-c", _SERVE, address, str(HTTP_PORT)],
                cwd=root,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            ).stdout
            for address in (HOST_A, HOST_B)
        }
        for address, banner in banners.items():
            assert banner is not None
            ready, _, _ = select.select([banner], [], [], COMMAND_TIMEOUT)
            if not ready or not banner.readline().startswith(b"Serving HTTP"):
                raise RuntimeError(f"the HTTP server on {address} in HOSTS did not start")


def _peer(end: tuple[str, str]) -> tuple[str, str]:
    for (role_a, dev_a, _), (role_b, dev_b, _) in LINKS:
        if end == (role_a, dev_a):
            return role_b, dev_b
        if end == (role_b, dev_b):
            return role_a, dev_a
    raise KeyError(end)


@contextmanager
def topology() -> Iterator[Topology]:
    """Build the network, yield it, and always remove every namespace (and with them every
    veth) and every process started in it. Skips where namespaces cannot be made."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and iproute2")
    if shutil.which("ping") is None:
        pytest.skip("the reachability checks need ping (Debian: iputils-ping)")
    tag = f"{os.getpid()}-{next(_instances)}"
    topo = Topology({role: f"availmon-{role}-{tag}" for role in ROUTES})
    with ExitStack() as cleanup:
        root = cleanup.enter_context(tempfile.TemporaryDirectory(prefix="availmon-topo-"))
        for ns in topo.namespaces.values():
            cleanup.callback(subprocess.run, ["ip", "netns", "del", ns], timeout=COMMAND_TIMEOUT)
        cleanup.callback(topo._stop_processes)
        try:
            for ns in topo.namespaces.values():
                _run("ip", "netns", "add", ns)
        except (RuntimeError, OSError) as exc:
            pytest.skip(f"cannot create a network namespace here: {exc}")
        with open(os.path.join(root, "index.html"), "w") as page:
            page.write("ok\n")
        topo._build()
        topo._serve_http(root)
        yield topo
