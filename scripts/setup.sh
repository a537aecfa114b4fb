#!/bin/sh
# Create .venv with availmon installed; install Debian packages that are missing.
# Usage: scripts/setup.sh [pip extras, e.g. test] [extra Debian packages...]
set -eu
cd "$(dirname "$0")/.."
extras=${1:-}
[ $# -gt 0 ] && shift
need=""
python3 -c 'import ensurepip, venv' 2>/dev/null || need="$need python3-venv"
command -v python3 >/dev/null 2>&1 || need="$need python3 python3-venv"
installed() {  # "deinstall ok config-files" (removed, config kept) does not count
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}
for pkg in "$@"; do
    installed "$pkg" || need="$need $pkg"
done
if [ -n "$need" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $need >/dev/null
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extras:+[$extras]}"
