#!/usr/bin/env bash
# Demand response end to end, through settlement: a dev node, mosquitto, the simulator and the
# bridge on 127.0.0.1. The bridge joins a discharge event for the demo battery and a load
# reduction for the energy manager, whose simulated owner overrides every command; after the
# ten-minute settlement grace period the chain pays the battery's owner for what it delivered,
# pays nothing for the overridden energy manager and lowers its reputation. About 20 minutes.
# (scripts/test.sh runs the short variant: joins, dispatch, measurement and cancellation.)
#
#   scripts/dr-e2e.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

"$OPENVPP_ROOT/scripts/setup.sh" --for-tests
cd "$OPENVPP_ROOT"

# The same build as the test command's (the node binary comes with it), so a machine that ran
# scripts/test.sh compiles nothing new.
step "building the workspace's tests and binaries"
cargo test --release --locked --workspace --no-run

step "demand response through settlement (about 20 minutes)"
cargo test --release --locked -p openvpp-bridge --test demand_response -- \
	--ignored --nocapture settlement_pays_the_battery_and_an_owner_who_overrides_earns_nothing
