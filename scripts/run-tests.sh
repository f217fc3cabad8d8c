#!/usr/bin/env bash
# Run the tests as pytest processes: the cross-service tests in tests/e2e (which
# mostly wait on the processes they start) beside the package tests, then the
# browser tests (tests/browser). Arguments go to both. Exits non-zero if either run fails.
set -uo pipefail
cd "$(dirname "$0")/.."
python=.venv/bin/python
whole_suite_log=$(mktemp)
trap 'rm -f "$whole_suite_log"' EXIT

"$python" -m pytest tests/e2e "$@" >"$whole_suite_log" 2>&1 &
whole_suite=$!
"$python" -m pytest --ignore=tests/e2e --ignore=tests/browser "$@"
packages_status=$?
# the storefront and console in Chromium: without kameng-common's plugin and its eventlet patch (see tests/browser)
"$python" -m pytest tests/browser -p no:kameng --confcutdir=tests/browser "$@"
browser_status=$?
wait "$whole_suite"
whole_suite_status=$?

printf '\n===== cross-service tests (tests/e2e) =====\n'
cat "$whole_suite_log"
# pytest's 5 means "no test collected": fine for one half when a filter leaves it empty
for status in "$packages_status" "$browser_status" "$whole_suite_status"; do
    if [ "$status" -ne 0 ] && [ "$status" -ne 5 ]; then exit "$status"; fi
done
[ "$packages_status" -eq 0 ] || [ "$browser_status" -eq 0 ] || [ "$whole_suite_status" -eq 0 ]
