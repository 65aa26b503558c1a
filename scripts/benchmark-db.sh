#!/usr/bin/env bash
# Measures what reading and writing one storage item costs in ParityDB on a chain state the size
# of a real fleet, and writes runtime/src/weights/paritydb_weights.rs: the runtime's `DbWeight`,
# which prices every storage access in every weight.
#
#   scripts/benchmark-db.sh [--devices N] [--reports M] [--batch-size B]
#
# Defaults: 500 000 devices, one report each (so every device has telemetry state), writes
# measured in batches of 10 000 (about what a block full of telemetry writes).
#
# 1. A node runs a benchmark chain of N devices on 127.0.0.1 (`--chain bench:N`: the node builds
#    the fleet's genesis itself) and `openvpp-bench run` fills it with M reports;
# 2. the node stops and `openvpp-node benchmark storage` reads every key of the resulting
#    state, and rewrites them in batches, computing the state root and committing each batch,
#    without a proof recorder (a standalone chain records no proofs). The weights are the
#    averages plus 10 % (the convention of Polkadot's own DB weights): a full block does
#    thousands of accesses, so their sum follows the average. These are cold accesses (no trie
#    cache), what the runtime is priced with;
# 3. the same again with the node's trie cache (warm accesses), printed for comparison only.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

devices=500000
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
reports="${reports:-$devices}"

"$OPENVPP_ROOT/scripts/setup.sh"
cd "$OPENVPP_ROOT"
step "building openvpp-node (with the benchmark CLI) and openvpp-bench (release)"
cargo build --release --locked -p openvpp-node -p openvpp-bench --features openvpp-node/runtime-benchmarks
node_bin="$CARGO_TARGET_DIR/release/openvpp-node"
bench_bin="$CARGO_TARGET_DIR/release/openvpp-bench"

source "$OPENVPP_ROOT/scripts/bench-node.sh"

step "filling the state: a benchmark chain of $devices devices, $reports reports (node log: $work/alice.log)"
start_bench_node "$node_bin" "bench:$devices" "$rpc_port" 1800
sleep 12
"$bench_bin" run --url "ws://127.0.0.1:$rpc_port" --reports "$reports" \
	--transfers 0 --node-pid "$node_pid"
kill -INT "$node_pid"
wait "$node_pid" || die "the node did not stop cleanly (log: $work/alice.log)"
node_pids=()

step "measuring reads and writes of every key (batches of $batch_size writes)"
mkdir -p runtime/src/weights
"$node_bin" benchmark storage --chain "bench:$devices" --base-path "$work/db-alice" \
	--database paritydb --state-version 1 --batch-size "$batch_size" --mul 1.1 \
	--disable-pov-recorder \
	--template-path scripts/db-weight-template.hbs \
	--weight-path runtime/src/weights/paritydb_weights.rs 2>&1 | tail -n 40

step "the same with the trie cache (warm; for comparison, not used by the runtime)"
"$node_bin" benchmark storage --chain "bench:$devices" --base-path "$work/db-alice" \
	--database paritydb --state-version 1 --batch-size "$batch_size" --mul 1.1 \
	--disable-pov-recorder --enable-trie-cache \
	--template-path scripts/db-weight-template.hbs \
	--weight-path "$work/paritydb_weights_warm.rs" 2>&1 | tail -n 40
step "done: review runtime/src/weights/paritydb_weights.rs"
