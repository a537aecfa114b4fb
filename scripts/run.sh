#!/bin/sh
# Quick start: install availmon into .venv and run the daemon on the shipped targets.yaml.
# Metrics: http://localhost:9430/metrics   Database: ./availmon.db   Stop: Ctrl-C
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh "" iputils-ping
exec .venv/bin/availmon run -c targets.yaml "$@"
