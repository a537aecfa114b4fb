#!/bin/sh
# Install everything the tests need (Debian packages and Python packages), then run them all.
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh test iproute2 procps
.venv/bin/ruff check monitor tests bench
exec .venv/bin/python -m pytest "$@"
