#!/usr/bin/env bash
# Installs Debian's redis-server for the shared-state tests (test/shared-state.test.ts) when it
# is missing. Run by `npm test` (pretest); needs root (apt-get), as CI has. Without root and
# without redis-server the shared-state tests skip themselves and say why.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-redis: redis-server is missing and apt-get cannot run here; the shared-state tests will skip" >&2
  exit 0
fi
echo "ensure-redis: installing Debian's redis-server (once)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends redis-server >/dev/null
redis-server --version >&2
