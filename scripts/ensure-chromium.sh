#!/usr/bin/env bash
# Installs Debian's Chromium for the dashboard browser test (test/dashboard-browser.test.ts)
# when /usr/bin/chromium is missing. Run by `npm test` (pretest); needs root (apt-get), as CI has.
# Without root and without Chromium the browser test skips itself and says why.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: /usr/bin/chromium is missing and apt-get cannot run here; the browser test will skip" >&2
  exit 0
fi
echo "ensure-chromium: installing Debian's chromium (once)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
/usr/bin/chromium --version >&2
