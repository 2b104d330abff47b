#!/usr/bin/env bash
# Installs the Debian packages the test suite uses, when missing. Run by `npm test` (pretest).
#
# The list is deliberate: every package here is used by a test named beside it, and no test uses
# a program that is not here (a test that needs one skips and says why; scripts/fresh-clone-test.sh
# runs the suite with everything else off PATH to keep it so).
#
#   package            program              used by
#   chromium           /usr/bin/chromium    test/dashboard.test.ts (the dashboard in a real browser), test/h2-e2e.test.ts (an HTTP/2 page load), test/h2-websocket.test.ts (a WebSocket over HTTP/2)
#   fonts-dejavu-core  (fonts)              the dashboard screenshot (Chromium renders no text without a font)
#   redis-server       redis-server         test/shared-state.test.ts (sessions and rate limits on Redis)
#   openssl            openssl              test/edge-tls.test.ts, test/engine-connection.test.ts, test/h2-*.test.ts (self-signed certificates)
#   systemd            systemd-analyze      test/deploy.test.ts (verify and `security --offline` of the unit;
#                                           nothing is started: no systemd runs as PID 1 here)
#   nginx-light        nginx                test/behind-nginx.test.ts (fulcrum behind nginx's default
#                                           proxy_http_version 1.0; the test runs its own nginx)
#
# Not here, on purpose: wrk, haproxy and h2load (nghttp2-client). native-bench uses them when
# present (and installs them itself when run as root), but no test needs them: the native-bench
# test runs the Node peers with autocannon (and only them, whatever else is installed), and its
# HTTP/2 test checks that the h2 workloads are skipped with the reason when h2load is missing.
#
# Needs root for apt-get, as CI has. Without root or apt-get nothing is installed and the tests
# that need a missing program skip, each with the reason. Services are never started by the
# install (policy-rc.d): tests start their own servers on loopback ports.
set -euo pipefail

# program-or-path package...
NEEDS=(
  "/usr/bin/chromium chromium fonts-dejavu-core"
  "redis-server redis-server"
  "openssl openssl"
  "systemd-analyze systemd"
  "/usr/sbin/nginx nginx-light"
)

missing=()
for line in "${NEEDS[@]}"; do
  read -r probe pkgs <<<"$line"
  if [[ "$probe" == /* ]]; then [ -x "$probe" ] && continue; else command -v "$probe" >/dev/null 2>&1 && continue; fi
  # shellcheck disable=SC2206
  missing+=($pkgs)
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-test-deps: missing ${missing[*]} and apt-get cannot run here (needs root and apt-get); the tests needing them will skip and say why" >&2
  exit 0
fi

echo "ensure-test-deps: installing Debian's ${missing[*]} (once)" >&2
export DEBIAN_FRONTEND=noninteractive
made_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  # keep apt from starting redis-server (or anything else) as a system service
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  made_policy=1
fi
cleanup() { [ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d; return 0; }
trap cleanup EXIT
if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
  apt-get update -qq >/dev/null
  if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
    echo "ensure-test-deps: apt-get could not install ${missing[*]}; the tests needing them will skip and say why" >&2
  fi
fi
