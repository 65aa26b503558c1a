#!/usr/bin/env bash
# The whole test suite: formatting, lints, every workspace test — the pallets' benchmarks run as
# tests too — and the end-to-end tests that run real node, MQTT broker (mosquitto), Modbus TCP
# simulator and bridge processes on 127.0.0.1, the polkadot.js tests (governance and the vpp_*
# read model), the dashboard in headless Chromium (dashboard/tests/browser.rs) and the
# four-validator network test (node/tests/local_network.rs). Everything builds in the release
# profile, the same build the run command uses, so a machine pays for one build, not two.
#
# The zombienet tests are not part of it (scripts/zombienet.sh runs them): the shortest,
# finality.zndsl, checks a subset of what local_network.rs checks (one validator down, a restart
# from its database) and its 3.5 minutes do not fit the 45-minute budget beside the rest.
#
#   scripts/test.sh
#
# The bridge's fault test stops the node for 90 s here; scripts/outage.sh runs it with a
# ten-minute outage (OPENVPP_NODE_OUTAGE_S sets it).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

"$OPENVPP_ROOT/scripts/setup.sh" --for-tests
cd "$OPENVPP_ROOT"

step "cargo fmt --check"
cargo fmt --all --check

step "the gateway builds without the runtime"
# Its own types stand in for the runtime's (oracle-bridge/gateway/src/wire); only its tests link it.
if cargo tree --locked -p openvpp-bridge -e normal,build --prefix none | grep -q '^openvpp-runtime '; then
	die "openvpp-bridge depends on openvpp-runtime: a gateway build would compile the runtime"
fi

step "cargo clippy (release, all targets, warnings are errors)"
cargo clippy --release --locked --workspace --all-targets -- -D warnings

step "benchmarks of the OpenVPP pallets, run as tests"
cargo test --release --locked -p pallet-device-registry -p pallet-telemetry -p pallet-demand-response \
	-p pallet-rewards -p pallet-validator-set \
	--features runtime-benchmarks --lib

step "cargo test (release, workspace, including end-to-end tests)"
cargo test --release --locked --workspace

step "all tests passed"
