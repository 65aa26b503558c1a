#!/usr/bin/env bash
# The main job: build OpenVPP in release and run a development chain on 127.0.0.1:9944.
#
#   scripts/run-dev.sh [--rpc-port PORT]
#
# Ctrl-C stops everything it started.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

rpc_port=9944
while [ $# -gt 0 ]; do
	case "$1" in
		--rpc-port) rpc_port="${2:?--rpc-port needs a value}"; shift 2 ;;
		*) die "unknown argument '$1' (expected --rpc-port PORT)" ;;
	esac
done

"$OPENVPP_ROOT/scripts/setup.sh"

step "building openvpp-node (release; the first build takes about half an hour on 2 cores)"
cd "$OPENVPP_ROOT"
cargo build --release --locked -p openvpp-node
node_bin="$CARGO_TARGET_DIR/release/openvpp-node"

run_dir="$(mktemp -d -t openvpp-dev.XXXXXX)"
pids=()
cleanup() {
	trap - INT TERM EXIT
	if [ "${#pids[@]}" -gt 0 ]; then
		step "stopping"
		kill -INT "${pids[@]}" 2>/dev/null || true
		wait "${pids[@]}" 2>/dev/null || true
	fi
	rm -rf "$run_dir"
}
trap cleanup INT TERM EXIT

step "starting the dev chain (log: $run_dir/node.log)"
"$node_bin" --dev --base-path "$run_dir/chain" --rpc-port "$rpc_port" --no-telemetry \
	>"$run_dir/node.log" 2>&1 &
pids+=($!)

# Wait for JSON-RPC to answer.
for _ in $(seq 1 120); do
	if curl -fsS -H 'Content-Type: application/json' \
		-d '{"id":1,"jsonrpc":"2.0","method":"system_properties","params":[]}' \
		"http://127.0.0.1:$rpc_port" >/dev/null 2>&1; then
		break
	fi
	kill -0 "${pids[0]}" 2>/dev/null || { tail -n 30 "$run_dir/node.log" >&2; die "the node exited"; }
	sleep 1
done

cat <<MSG

OpenVPP dev chain running: JSON-RPC and WebSocket on 127.0.0.1:$rpc_port
  polkadot.js Apps: https://polkadot.js.org/apps/?rpc=ws%3A%2F%2F127.0.0.1%3A$rpc_port#/explorer
  Dev accounts (//Alice … //Ferdie) hold 1,000,000 OVPP each; //Alice is sudo.
  Ctrl-C stops the chain (its state is discarded).

MSG

# Follow block production until Ctrl-C.
tail -n +1 -f "$run_dir/node.log" --pid "${pids[0]}" | grep --line-buffered -E "Imported|finalized|Error|error" &
wait "${pids[0]}"
