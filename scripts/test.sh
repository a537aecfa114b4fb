#!/bin/sh
# Install everything the tests need (Debian packages and Python packages), then run them all.
set -eu
cd "$(dirname "$0")/.."
# prometheus: prometheus + promtool (rules, dashboards, end-to-end test);
# prometheus-alertmanager: amtool (checks prometheus/alertmanager.yml);
# systemd: systemd-analyze (verify and security-check systemd/availmon.service);
# iproute2, iputils-ping: network namespaces and real pings (ICMP, topology tests);
# postgresql: initdb and pg_ctl (the tests run their own server for the PostgreSQL store);
# chromium, poppler-utils: print the HTML report to PDF and read it back (pdftotext, pdfinfo);
# fonts-liberation: Arial's metrics for the report's font (a Recommends, so named here), on
# which its page count depends.
services="prometheus prometheus-alertmanager postgresql"
new=""
for service in $services; do
    dpkg-query -W -f='${Status}' "$service" 2>/dev/null | grep -q "install ok installed" \
        || new="$new $service"
done
sh scripts/setup.sh test iproute2 procps systemd iputils-ping chromium poppler-utils fonts-liberation $services
for service in $new; do
    # Its postinst may start the system service (:9090, :9093, :5432); the tests run their own
    # servers on 127.0.0.1, so stop a service this install started.
    if [ -d /run/systemd/system ]; then
        systemctl disable --now "$service" >/dev/null 2>&1 || true
    elif [ -x "/etc/init.d/$service" ]; then
        "/etc/init.d/$service" stop >/dev/null 2>&1 || true
    fi
done
.venv/bin/ruff check monitor tests bench
.venv/bin/ruff format --check monitor tests bench
.venv/bin/mypy monitor
exec .venv/bin/python -m pytest "$@"
