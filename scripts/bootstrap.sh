#!/usr/bin/env bash
# Create .venv with Python 3.11 and install every Kameng package (editable) on
# the exact pins of requirements.lock.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-$(command -v python3.11 || command -v python3 || true)}
if [ -z "$python" ] || ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    echo "Kameng needs Python 3.11 (set PYTHON=/path/to/python3.11)" >&2
    exit 1
fi
if [ ! -x .venv/bin/python ]; then
    if ! "$python" -m venv .venv 2>/dev/null; then
        rm -rf .venv
        if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
            echo "python3-venv is missing: installing it with apt-get…" >&2
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
            "$python" -m venv .venv
        else
            echo "Kameng needs the venv module: sudo apt-get install python3-venv" >&2
            exit 1
        fi
    fi
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.lock \
    -e libs/kameng-common \
    -e services/inventory -e services/orders -e services/payments -e services/customers -e services/risk \
    -e gateway -e cli
touch .venv/.installed
