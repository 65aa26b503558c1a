#!/usr/bin/env bash
# Telemetry throughput benchmark: a dev node with N benchmark devices registered at genesis,
# flooded first with plain balance transfers (the baseline) and then with device reports in
# batches. Prints finalized items per second and the node's CPU and peak memory, as one table.
#
#   scripts/bench-telemetry.sh [--devices N] [--reports M] [--transfers T] [--batch B]
#
# Defaults: 10 000 devices, 120 000 reports, 30 000 transfers (about ten blocks, long enough
# for a sustained rate), batches of 500 reports (the bridge's default). Benchmark devices are registered at genesis, whose JSON the runtime reads in
# one allocation of at most 32 MiB: up to about 65 000 devices. Everything runs on 127.0.0.1.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

devices=10000
reports=120000
transfers=30000
batch=500
rpc_port=9977
while [ $# -gt 0 ]; do
	case "$1" in
		--devices) devices="${2:?}"; shift 2 ;;
		--reports) reports="${2:?}"; shift 2 ;;
		--transfers) transfers="${2:?}"; shift 2 ;;
		--batch) batch="${2:?}"; shift 2 ;;
		--rpc-port) rpc_port="${2:?}"; shift 2 ;;
		*) die "unknown argument '$1' (expected --devices, --reports, --transfers, --batch, --rpc-port)" ;;
	esac
done

"$OPENVPP_ROOT/scripts/setup.sh"
cd "$OPENVPP_ROOT"
step "building openvpp-node and openvpp-bench (release)"
cargo build --release --locked -p openvpp-node -p openvpp-bench
node_bin="$CARGO_TARGET_DIR/release/openvpp-node"
bench_bin="$CARGO_TARGET_DIR/release/openvpp-bench"

source "$OPENVPP_ROOT/scripts/bench-node.sh"

step "chain spec with $devices benchmark devices"
bench_spec "$bench_bin" "$node_bin" "$devices"

step "starting the node (log: $work/node.log)"
start_bench_node "$node_bin" "$rpc_port" 300 --rpc-max-connections 1000
# Let it finalize a few blocks first.
sleep 20

step "measuring ($transfers transfers, then $reports reports)"
"$bench_bin" run --url "ws://127.0.0.1:$rpc_port" --devices "$devices" --reports "$reports" \
	--transfers "$transfers" --batch "$batch" --node-pid "$node_pid"

# How long the node took to build its blocks: the time the weight limit leaves unused.
awk '/Prepared block for proposing/ {
		for (i = 1; i <= NF; i++) if ($i ~ /^\(/ && $(i + 1) ~ /^ms\)/) { v = substr($i, 2) + 0; if (v > m) m = v }
	}
	END { printf "longest block build: %d ms of a 6 000 ms slot\n", m }' \
	"$work/node.log"
