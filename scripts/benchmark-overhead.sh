#!/usr/bin/env bash
# Prices a block and an extrinsic on this machine, the way the pallet weights are priced:
#
# 1. `openvpp-node benchmark overhead` times an empty block and a block full of remarks and
#    writes runtime/src/weights/block_weights.rs and extrinsic_weights.rs (the runtime's
#    `BlockExecutionWeight` and `ExtrinsicBaseWeight`, which every transaction's weight and fee
#    include);
# 2. `openvpp-node benchmark extrinsic` times one `balances transfer_keep_alive` and one
#    `telemetry submit_reports` batch of 500 readings, each in a block filled with them, on a
#    benchmark chain (`--chain bench:<devices>`), and prints the time per transfer and per
#    reading side by side.
#
#   scripts/benchmark-overhead.sh [--devices N] [--repeat R] [--extrinsics-only]
#
# Defaults: 40 000 devices (enough batches of distinct devices to fill a block), 20 repeats.
# `--extrinsics-only` skips step 1 and leaves the weight files as they are.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

devices=40000
repeat=20
overhead=1
while [ $# -gt 0 ]; do
	case "$1" in
		--devices) devices="${2:?}"; shift 2 ;;
		--repeat) repeat="${2:?}"; shift 2 ;;
		--extrinsics-only) overhead=0; shift ;;
		*) die "unknown argument '$1' (expected --devices, --repeat, --extrinsics-only)" ;;
	esac
done

"$OPENVPP_ROOT/scripts/setup.sh"
cd "$OPENVPP_ROOT"
step "building openvpp-node with the benchmark CLI (release)"
cargo build --release --locked -p openvpp-node --features openvpp-node/runtime-benchmarks
node_bin="$CARGO_TARGET_DIR/release/openvpp-node"
work="$(mktemp -d -t openvpp-overhead.XXXXXX)"
trap 'rm -rf "$work"' EXIT

if [ "$overhead" = 1 ]; then
	step "block and extrinsic overhead (writes runtime/src/weights/{block,extrinsic}_weights.rs)"
	"$node_bin" benchmark overhead --chain dev --warmup 5 --repeat "$repeat" \
		--weight-path runtime/src/weights >"$work/overhead.log" 2>&1 \
		|| { tail -n 20 "$work/overhead.log" >&2; die "benchmark overhead failed (log above)"; }
	grep -E 'Average|Writing' "$work/overhead.log" || true
	# The runtime takes these types from frame-support, not from a crate of their own.
	sed -i 's/sp_weights::/frame_support::weights::/' \
		runtime/src/weights/block_weights.rs runtime/src/weights/extrinsic_weights.rs
fi

extrinsic_ns() {
	local pallet="$1" extrinsic="$2" log="$work/$1-$2.log"
	"$node_bin" benchmark extrinsic --chain "bench:$devices" -d "$work/db-$1" \
		--pallet "$pallet" --extrinsic "$extrinsic" --warmup 3 --repeat "$repeat" >"$log" 2>&1 \
		|| { tail -n 20 "$log" >&2; die "benchmark extrinsic $pallet $extrinsic failed (log above)"; }
	grep -E 'Extrinsics per block|Average:' "$log" >&2
	awk '/Average:/ { print $2; exit }' "$log" | tr -d ','
}

step "one transfer in a block of transfers (benchmark chain of $devices devices)"
transfer_ns="$(extrinsic_ns balances transfer_keep_alive)"
step "one batch of 500 readings in a block of batches"
batch_ns="$(extrinsic_ns telemetry submit_reports)"
awk -v t="$transfer_ns" -v b="$batch_ns" 'BEGIN {
	r = b / 500
	printf "transfer: %.1f µs; batch of 500 readings: %.1f ms, %.1f µs per reading; a transfer costs %.2f readings\n",
		t / 1000, b / 1e6, r / 1000, t / r
}'
