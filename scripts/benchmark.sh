#!/usr/bin/env bash
# Runs the frame-benchmarking v2 benchmarks of the OpenVPP pallets in the real runtime and
# writes each pallet's weights.rs.
#
#   scripts/benchmark.sh [pallet ...]      default: every OpenVPP pallet
#
# Environment: STEPS (default 50), REPEAT (default 20).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

steps="${STEPS:-50}"
repeat="${REPEAT:-20}"
declare -A dirs=(
	[pallet_device_registry]=pallets/device-registry
	[pallet_telemetry]=pallets/telemetry
	[pallet_demand_response]=pallets/demand-response
	[pallet_rewards]=pallets/rewards
	[pallet_validator_set]=pallets/validator-set
)
pallets=("$@")
[ "${#pallets[@]}" -gt 0 ] || pallets=(pallet_device_registry pallet_telemetry pallet_demand_response pallet_rewards pallet_validator_set)
for pallet in "${pallets[@]}"; do
	[ -n "${dirs[$pallet]:-}" ] || die "unknown pallet '$pallet' (known: ${!dirs[*]})"
done

"$OPENVPP_ROOT/scripts/setup.sh"
cd "$OPENVPP_ROOT"

step "building openvpp-node with runtime benchmarks"
cargo build --release --locked -p openvpp-node --features runtime-benchmarks
node_bin="$CARGO_TARGET_DIR/release/openvpp-node"

for pallet in "${pallets[@]}"; do
	output="${dirs[$pallet]}/src/weights.rs"
	step "benchmarking $pallet (steps $steps, repeat $repeat) -> $output"
	# The runtime embedded in the node binary just built (through the dev chain spec), not the
	# wasm file in the target directory, which any later build without the benchmark feature
	# replaces.
	"$node_bin" benchmark pallet \
		--chain dev \
		--genesis-builder spec-runtime \
		--genesis-builder-preset development \
		--pallet "$pallet" \
		--extrinsic '*' \
		--steps "$steps" \
		--repeat "$repeat" \
		--wasm-execution compiled \
		--heap-pages 4096 \
		--template scripts/frame-weight-template.hbs \
		--output "$output"
done
step "done; review the diff of the weights.rs files"
