#!/usr/bin/env bash
# The whole test suite: formatting, lints, every workspace test — the pallets' benchmarks run as
# tests too — and the end-to-end tests that run real node, MQTT broker (mosquitto), Modbus TCP
# simulator and bridge processes on 127.0.0.1, the polkadot.js tests (governance and the vpp_*
# read model), the dashboard in headless Chromium (dashboard/tests/browser.rs) and the
# four-validator network test (node/tests/local_network.rs). Everything builds in the release
# profile, the same build the run command uses, so a machine pays for one build, not two. The
# test binaries then run in two lanes at once, each prefixing its output ([a], [b]): the
# end-to-end tests mostly wait on their chains' blocks, so one after another they would leave
# the cores idle half the time.
#
# The zombienet tests are not part of it (scripts/zombienet.sh runs them): the shortest,
# finality.zndsl, checks a subset of what local_network.rs checks (one validator down, a restart
# from its database) in 3.5 minutes.
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

step "building the workspace's tests (release)"
tests="$(mktemp -d -t openvpp-tests.XXXXXX)"
trap 'rm -rf "$tests"' EXIT
# One line per test binary: kind, target, package directory, executable.
cargo test --release --locked --workspace --no-run --message-format=json-render-diagnostics |
	jq -r 'select(.reason == "compiler-artifact" and .profile.test and .executable != null)
		| [.target.kind[0], .target.name, (.manifest_path | rtrimstr("/Cargo.toml")), .executable]
		| @tsv' >"$tests/all"
[ -s "$tests/all" ] || die "cargo listed no test binaries"

# The end-to-end tests spend most of their time waiting for blocks and events on chains of their
# own (fresh ports, temporary databases), so two lanes share the two cores: these four in one,
# everything else — unit, runtime and the other end-to-end tests — in the other. Run one alone
# with `cargo test --release -p <package> --test <name>`.
second_lane=" demand_response hostile_input browser dev_node "
: >"$tests/a"
: >"$tests/b"
while IFS= read -r line; do
	IFS=$'\t' read -r kind target _ <<<"$line"
	lane=a
	if [ "$kind" = test ] && [[ "$second_lane" == *" $target "* ]]; then lane=b; fi
	printf '%s\n' "$line" >>"$tests/$lane"
done <"$tests/all"

# Runs a lane's binaries one after another, each from its package's directory as cargo would,
# and goes on after a failure so that one run reports every failing binary.
run_lane() {
	local lane="$1" failed=0 kind target dir exe
	while IFS=$'\t' read -r kind target dir exe; do
		echo "==> [$(date +%H:%M:%S)] $(basename "$dir"): $kind $target"
		if ! (cd "$dir" && "$exe" </dev/null); then
			echo "FAILED: $(basename "$dir"): $kind $target ($exe)" | tee -a "$tests/failed"
			failed=1
		fi
	done <"$tests/$lane"
	if [ "$lane" = a ]; then
		echo "==> [$(date +%H:%M:%S)] doc-tests"
		if ! cargo test --release --locked --workspace --doc; then
			echo "FAILED: doc-tests" | tee -a "$tests/failed"
			failed=1
		fi
	fi
	return "$failed"
}

step "running $(wc -l <"$tests/all") test binaries in two lanes (output prefixed [a] and [b])"
run_lane a > >(sed -u 's/^/[a] /') 2>&1 &
lane_a=$!
run_lane b > >(sed -u 's/^/[b] /') 2>&1 &
lane_b=$!
status=0
wait "$lane_a" || status=1
wait "$lane_b" || status=1
if [ "$status" -ne 0 ]; then
	echo "failing test binaries:" >&2
	cat "$tests/failed" >&2 2>/dev/null || true
	die "tests failed"
fi

step "all tests passed"
