#!/bin/sh
# Install everything the tests need (Debian packages and Python packages), then run them all.
set -eu
cd "$(dirname "$0")/.."
# prometheus: prometheus + promtool (rules, dashboards, end-to-end test);
# systemd: systemd-analyze (verify and security-check systemd/availmon.service).
had_prometheus=no
dpkg-query -W -f='${Status}' prometheus 2>/dev/null | grep -q "install ok installed" \
    && had_prometheus=yes
sh scripts/setup.sh test iproute2 procps prometheus systemd iputils-ping
if [ "$had_prometheus" = no ]; then
    # Its postinst may start the system service (listening on :9090); the tests run their
    # own Prometheus on 127.0.0.1, so stop the service this install started.
    if [ -d /run/systemd/system ]; then
        systemctl disable --now prometheus >/dev/null 2>&1 || true
    elif [ -x /etc/init.d/prometheus ]; then
        /etc/init.d/prometheus stop >/dev/null 2>&1 || true
    fi
fi
.venv/bin/ruff check monitor tests bench
.venv/bin/ruff format --check monitor tests bench
exec .venv/bin/python -m pytest "$@"
