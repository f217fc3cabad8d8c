#!/usr/bin/env bash
# The browser tests drive Debian's Chromium headless (Playwright does not download one here).
set -euo pipefail
# with a CJK font, so that the screenshots show the storefront's Chinese text
if command -v chromium >/dev/null && fc-list 2>/dev/null | grep -qi "wenquanyi\|noto sans cjk"; then exit 0; fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "Chromium or a CJK font is missing: installing Debian's chromium and fonts-wqy-microhei with apt-get…" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null
else
    echo "the browser tests need Chromium and a CJK font: sudo apt-get install chromium fonts-wqy-microhei" >&2
    exit 1
fi
