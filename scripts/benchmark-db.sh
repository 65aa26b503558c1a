#!/usr/bin/env bash
# Measures what reading and writing one storage item costs in ParityDB on a chain state the size
# of a real fleet, and writes runtime/src/weights/paritydb_weights.rs: the runtime's `DbWeight`,
# which prices every storage access in every weight.
#
#   scripts/benchmark-db.sh [--devices N] [--reports M] [--batch-size B]
#
# Defaults: 60 000 devices, two reports each (so every device has telemetry state), writes
# measured in batches of 10 000 (about what a block full of telemetry writes). Benchmark devices
# are registered at genesis, whose JSON the runtime receives in one allocation of at most 32 MiB:
# about 65 000 devices fit.
#
# 1. A development chain spec with N extra active devices (`openvpp-bench spec`);
# 2. a node runs it on 127.0.0.1 and `openvpp-bench run` fills it with M reports;
# 3. the node stops and `openvpp-node benchmark storage` reads every key of the resulting
#    state, and rewrites them in batches, computing the state root and committing each batch.
#    The weights are the averages plus 10 % (the convention of Polkadot's own DB weights): a
#    full block does thousands of accesses, so their sum follows the average.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

devices=60000
reports=""
batch_size=10000
rpc_port=9978
while [ $# -gt 0 ]; do
	case "$1" in
		--devices) devices="${2:?}"; shift 2 ;;
		--reports) reports="${2:?}"; shift 2 ;;
		--batch-size) batch_size="${2:?}"; shift 2 ;;
		*) die "unknown argument '$1' (expected --devices, --reports, --batch-size)" ;;
	esac
done
reports="${reports:-$((devices * 2))}"

"$OPENVPP_ROOT/scripts/setup.sh"
cd "$OPENVPP_ROOT"
step "building openvpp-node (with the benchmark CLI) and openvpp-bench (release)"
cargo build --release --locked -p openvpp-node -p openvpp-bench --features openvpp-node/runtime-benchmarks
node_bin="$CARGO_TARGET_DIR/release/openvpp-node"
bench_bin="$CARGO_TARGET_DIR/release/openvpp-bench"

source "$OPENVPP_ROOT/scripts/bench-node.sh"

step "chain spec with $devices devices"
bench_spec "$bench_bin" "$node_bin" "$devices"

step "filling the state: $reports reports (node log: $work/node.log)"
start_bench_node "$node_bin" "$rpc_port" 600
sleep 12
"$bench_bin" run --url "ws://127.0.0.1:$rpc_port" --devices "$devices" --reports "$reports" \
	--transfers 0 --node-pid "$node_pid"
kill -INT "$node_pid"
wait "$node_pid" || die "the node did not stop cleanly (log: $work/node.log)"
node_pid=""

step "measuring reads and writes of every key (batches of $batch_size writes)"
mkdir -p runtime/src/weights
"$node_bin" benchmark storage --chain "$work/spec.json" --base-path "$work/db" \
	--database paritydb --state-version 1 --batch-size "$batch_size" --mul 1.1 \
	--template-path scripts/db-weight-template.hbs \
	--weight-path runtime/src/weights/paritydb_weights.rs 2>&1 | tail -n 40
step "done: review runtime/src/weights/paritydb_weights.rs"
