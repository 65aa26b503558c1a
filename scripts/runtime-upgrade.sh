#!/usr/bin/env bash
# Demonstrates a forkless runtime upgrade passed by referendum on a running development chain:
# builds the runtime again with `spec_version` one higher (feature `next-spec-version`, in its
# own target directory so the node's build is left alone), starts a `--dev` node, and has dev
# accounts authorize the new code by a root-track referendum and apply it
# (tests/polkadot-js/runtime-upgrade.js). Blocks must continue, finality must pass the upgrade
# and the chain's state must be unchanged.
#
#   scripts/runtime-upgrade.sh
#
# The second runtime build checks the native crates and compiles the wasm: 17 min 27 s the
# first time on a two-core machine (another build ran beside it); then the referendum and the
# upgrade take about three minutes (OPENVPP_NODE skips building the node).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

"$OPENVPP_ROOT/scripts/setup.sh" --for-tests
cd "$OPENVPP_ROOT"

# OPENVPP_NODE may name a node binary already built; otherwise it is built here.
node_bin="${OPENVPP_NODE:-}"
if [ -z "$node_bin" ]; then
	step "building openvpp-node"
	cargo build --release --locked -p openvpp-node
	node_bin="$CARGO_TARGET_DIR/release/openvpp-node"
fi
[ -x "$node_bin" ] || die "no node binary at $node_bin"

next_target="$CARGO_TARGET_DIR/next-runtime"
step "building the next runtime (spec_version + 1) in $next_target"
CARGO_TARGET_DIR="$next_target" cargo check --release --locked -p openvpp-runtime --features next-spec-version
wasm="$next_target/release/wbuild/openvpp-runtime/openvpp_runtime.compact.compressed.wasm"
[ -f "$wasm" ] || die "the build left no runtime at $wasm"

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
workdir="$(mktemp -d -t openvpp-upgrade.XXXXXX)"
step "starting a development node on ws://127.0.0.1:$port (log: $workdir/node.log)"
"$node_bin" --dev --base-path "$workdir/db" --rpc-port "$port" --no-prometheus --no-telemetry \
	--no-mdns >"$workdir/node.log" 2>&1 &
node_pid=$!
trap 'kill "$node_pid" 2>/dev/null; wait "$node_pid" 2>/dev/null || true' EXIT

for _ in $(seq 120); do
	curl -sf -H 'Content-Type: application/json' \
		-d '{"id":1,"jsonrpc":"2.0","method":"system_health","params":[]}' \
		"http://127.0.0.1:$port" >/dev/null 2>&1 && break
	kill -0 "$node_pid" 2>/dev/null || { tail -n 20 "$workdir/node.log" >&2; die "the node exited"; }
	sleep 1
done

step "upgrading by referendum"
OPENVPP_WS="ws://127.0.0.1:$port" OPENVPP_NEXT_WASM="$wasm" \
	node "$OPENVPP_ROOT/tests/polkadot-js/runtime-upgrade.js"
step "runtime upgrade passed"
