#!/usr/bin/env bash
# Runs the test suite as a new machine would: a fresh clone of a commit (HEAD by default) in a
# temporary folder, .ci/run (`npm ci && npm test`, the README's command, then the suite on
# Node 24), with PATH
# stripped of the programs scripts/ensure-test-deps.sh does not install (wrk, haproxy, and
# the other load generators), so that no test passes or fails because of something installed by
# hand earlier. Prints the summary (counts, every skipped test with its reason) and exits with the
# suite's status.
#
# Usage: scripts/fresh-clone-test.sh [--ref <commit>] [--keep] [--hide <cmd>[,<cmd>...]]
#   --ref   what to clone (default: HEAD of this checkout; uncommitted changes are not included)
#   --keep  keep the temporary clone (its path is printed)
#   --hide  more commands to take off PATH
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
ref=HEAD
keep=0
hide=(wrk haproxy h2load ab hey oha)
while [ $# -gt 0 ]; do
  case "$1" in
    --ref) ref="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    --hide) IFS=, read -r -a more <<<"$2"; hide+=("${more[@]}"); shift 2 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "fresh-clone-test: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

work="$(mktemp -d /tmp/fulcrum-fresh-XXXXXX)"
cleanup() { if [ "$keep" = 1 ]; then echo "fresh-clone-test: kept $work" >&2; else rm -rf "$work"; fi; }
trap cleanup EXIT

commit="$(git -C "$here" rev-parse "$ref")"
echo "fresh-clone-test: cloning $commit into $work/fulcrum" >&2
git clone -q --no-hardlinks "$here" "$work/fulcrum"
git -C "$work/fulcrum" checkout -q "$commit"

# What the project installs comes first (so that it is on the PATH snapshot below).
bash "$work/fulcrum/scripts/ensure-test-deps.sh"

# A PATH of symlinks to every program on the current PATH except the hidden ones. Absolute paths
# (/usr/sbin/nginx) still work for programs that are installed; nothing in the tests may use those
# without finding them through PATH first.
shadow="$work/path"
mkdir -p "$shadow"
IFS=: read -r -a dirs <<<"$PATH"
for d in "${dirs[@]}"; do
  [ -d "$d" ] || continue
  for f in "$d"/*; do
    n="$(basename "$f")"
    [ -x "$f" ] && [ ! -d "$f" ] || continue
    [ -e "$shadow/$n" ] && continue
    skip=0
    for h in "${hide[@]}"; do [ "$n" = "$h" ] && skip=1 && break; done
    [ "$skip" = 1 ] || ln -s "$f" "$shadow/$n"
  done
done
echo "fresh-clone-test: hidden from PATH: ${hide[*]}" >&2

start=$(date +%s)
set +e
# exactly what CI runs: .ci/run (npm ci && npm test, then the suite on Node 24)
(cd "$work/fulcrum" && env PATH="$shadow" bash .ci/run) >"$work/test.log" 2>&1
status=$?
set -e
elapsed=$(( $(date +%s) - start ))

# the summary block written by scripts/test-summary.mjs (or the tail when the run stopped early)
if grep -q '^== test summary' "$work/test.log"; then
  sed -n '/^== test summary/,$p' "$work/test.log"
else
  tail -40 "$work/test.log"
fi
echo "fresh-clone-test: .ci/run exited $status after ${elapsed}s (commit $commit; full log: $work/test.log$([ "$keep" = 1 ] || echo ', removed'))" >&2
[ "$status" = 0 ] || { [ "$keep" = 1 ] || cp "$work/test.log" /tmp/fresh-clone-test-last.log; echo "fresh-clone-test: log copied to /tmp/fresh-clone-test-last.log" >&2; }
exit "$status"
