#!/usr/bin/env bash
# Throughput benchmark: V validators on 127.0.0.1 running a benchmark chain with N devices of
# mixed kinds behind 20 gateways (`--chain bench:N:V`, genesis built by each node), flooded first
# with plain balance transfers (the baseline: 4 000 senders, 8 connections spread over the
# validators, 128 submissions in flight on each, at most R a second) and then with device
# reports in batches (at most 5 000 reports a second). Prints finalized items per second, how
# full the blocks were (and so whether their weight or the supply of transactions set the
# pace), finality lag, the nodes' CPU per item and peak memory, as one table.
#
#   scripts/bench-telemetry.sh [--devices N] [--validators V] [--reports M] [--transfers T]
#                              [--batch B] [--report-devices D] [--transfer-rate R]
#                              [--node-args "ARGS"]
#
# Defaults: 10 000 devices, 3 validators (each authors a third of the blocks and imports the
# others'), 120 000 reports from all devices (or the first D), 30 000 transfers at R = 400 a
# second, batches of 250 reports (the gateway's default size; docs/performance.md also has a run
# of batches of 500). Node CPU is the sum over the
# validators, peak memory the largest. On two cores, transfers at 1 000 a second overflow the
# validators' transaction gossip and they drop each other (docs/performance.md).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

devices=10000
validators=3
reports=120000
transfers=30000
batch=250
report_devices=""
node_args=""
transfer_rate=400
rpc_port=9977
while [ $# -gt 0 ]; do
	case "$1" in
		--devices) devices="${2:?}"; shift 2 ;;
		--validators) validators="${2:?}"; shift 2 ;;
		--reports) reports="${2:?}"; shift 2 ;;
		--transfers) transfers="${2:?}"; shift 2 ;;
		--batch) batch="${2:?}"; shift 2 ;;
		--report-devices) report_devices="${2:?}"; shift 2 ;;
		--node-args) node_args="${2:?}"; shift 2 ;;
		--transfer-rate) transfer_rate="${2:?}"; shift 2 ;;
		--rpc-port) rpc_port="${2:?}"; shift 2 ;;
		*) die "unknown argument '$1' (expected --devices, --validators, --reports, --transfers, --batch, --report-devices, --node-args, --transfer-rate, --rpc-port)" ;;
	esac
done

"$OPENVPP_ROOT/scripts/setup.sh"
cd "$OPENVPP_ROOT"
step "building openvpp-node and openvpp-bench (release)"
cargo build --release --locked -p openvpp-node -p openvpp-bench
node_bin="$CARGO_TARGET_DIR/release/openvpp-node"
bench_bin="$CARGO_TARGET_DIR/release/openvpp-bench"

source "$OPENVPP_ROOT/scripts/bench-node.sh"

step "starting $validators validator(s) of a benchmark chain of $devices devices (logs: $work/*.log)"
if [ "$validators" -eq 1 ]; then
	# shellcheck disable=SC2086 # ARGS are words for the node
	start_bench_node "$node_bin" "bench:$devices:1" "$rpc_port" 900 --rpc-max-connections 1000 \
		$node_args
else
	# shellcheck disable=SC2086
	start_bench_network "$node_bin" "bench:$devices:$validators" "$validators" "$rpc_port" 900 \
		--rpc-max-connections 1000 $node_args
fi
# Let it finalize a few blocks first.
sleep 30

step "measuring ($transfers transfers, then $reports reports)"
run_args=()
for pid in "${node_pids[@]}"; do run_args+=(--node-pid "$pid"); done
# The floods go to every validator in turn, as users reach a network through many nodes.
for ((i = 0; i < validators; i++)); do run_args+=(--url "ws://127.0.0.1:$((rpc_port + i))"); done
if [ -n "$report_devices" ]; then run_args+=(--devices "$report_devices"); fi
"$bench_bin" run --reports "$reports" \
	--transfers "$transfers" --transfer-rate "$transfer_rate" --batch "$batch" "${run_args[@]}"

# How long the authors took to build their blocks: the time the weight limit leaves unused.
awk '/Prepared block for proposing/ {
		for (i = 1; i <= NF; i++) if ($i ~ /^\(/ && $(i + 1) ~ /^ms\)/) { v = substr($i, 2) + 0; if (v > m) m = v }
	}
	END { printf "longest block build: %d ms of a 6 000 ms slot\n", m }' \
	"$work"/*.log
