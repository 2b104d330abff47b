#!/usr/bin/env bash
# Installs the Debian packages the tests use, when missing: chromium (the dashboard browser
# test) and redis-server (the shared-state tests). Run by `npm test` (pretest); needs root for
# apt-get, as CI has. Without root, the tests that need a missing program skip and say why.
set -euo pipefail
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium fonts-dejavu-core)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-test-deps: missing ${missing[*]} and apt-get cannot run here; the tests needing them will skip" >&2
  exit 0
fi
echo "ensure-test-deps: installing Debian's ${missing[*]} (once)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
