#!/usr/bin/env bash
# Build the storefront and console (web/) into web/dist, which the gateway serves.
# Needs Node.js 20.19 or newer with npm; installs the exact versions of web/package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/../web"
if ! command -v node >/dev/null || ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'; then
    echo "building the web app needs Node.js 20.19 or newer with npm (https://nodejs.org, or your distribution's nodejs)" >&2
    exit 1
fi
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build -- --logLevel warn
