#!/usr/bin/env bash
# Create .venv with Python 3.11 and install every Kameng package (editable) on
# the exact pins of requirements.lock. uv does it in seconds from wheels (pip
# takes minutes); it is installed for the user where missing, and pip is the
# fallback where uv cannot be had.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-$(command -v python3.11 || command -v python3 || true)}
if [ -z "$python" ] || ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    echo "Kameng needs Python 3.11 (set PYTHON=/path/to/python3.11)" >&2
    exit 1
fi
packages=(-e libs/kameng-common
    -e services/inventory -e services/orders -e services/payments -e services/customers -e services/risk
    -e gateway -e cli)

uv=$(command -v uv || true)
if [ -z "$uv" ]; then
    "$python" -m pip install -q --disable-pip-version-check --user uv 2>/dev/null \
        || "$python" -m pip install -q --disable-pip-version-check --user --break-system-packages uv 2>/dev/null || true
    uv=$("$python" -c 'import sysconfig, os; p = os.path.join(sysconfig.get_path("scripts", "posix_user"), "uv"); print(p if os.path.exists(p) else "")' 2>/dev/null || true)
fi

if [ -n "$uv" ]; then
    [ -x .venv/bin/python ] || "$uv" venv -q --seed --python "$python" .venv
    "$uv" pip install -q --python .venv/bin/python -r requirements.lock "${packages[@]}"
else
    if [ ! -x .venv/bin/python ] && ! "$python" -m venv .venv 2>/dev/null; then
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
    .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.lock "${packages[@]}"
fi
touch .venv/.installed
