#!/usr/bin/env bash
# Demonstrates a forkless runtime upgrade passed by referendum on a running development chain,
# with a gateway delivering reports through it:
#
#   scripts/runtime-upgrade.sh                  # the next spec_version, same formats
#   scripts/runtime-upgrade.sh --incompatible   # the next spec_version, another transaction format
#
# It builds the runtime again with `spec_version` one higher (feature `next-spec-version`, or
# `next-spec-incompatible`, which also adds the `CheckMetadataHash` transaction extension), in
# its own target directory so the node's build is left alone; starts a `--dev` node, the device
# simulator and the oracle bridge (ten-second intervals); waits for the bridge's first reports
# on chain; and has dev accounts authorize the new code by a root-track referendum and apply it
# (tests/polkadot-js/runtime-upgrade.js: blocks continue, finality passes the upgrade, the
# state is unchanged). Then, from the bridge's metrics and log, without restarting it:
#
# - same formats: the bridge sees the new spec_version, signs for it, and reports keep being
#   finalized;
# - another format: the bridge stops submitting, says which part of which item changed, and
#   keeps signing reports into its outbox.
#
# The second runtime build checks the native crates and compiles the wasm: 17 min 27 s and
# 25 min 54 s the first time on a two-core machine (other builds ran beside it); switching
# between the two variants recompiles only the runtime (1 min 27 s). Then the run takes three
# to four minutes (3 min 25 s; 3 min 34 s with --incompatible after its build). OPENVPP_NODE and OPENVPP_BIN (a directory with openvpp-bridge, openvpp-sim and
# openvpp-demo) skip building them.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

mode=compatible
case "${1:-}" in
	"") ;;
	--incompatible) mode=incompatible ;;
	*) die "unknown argument '$1' (expected nothing or --incompatible)" ;;
esac

"$OPENVPP_ROOT/scripts/setup.sh" --for-tests
cd "$OPENVPP_ROOT"

node_bin="${OPENVPP_NODE:-}"
bin="${OPENVPP_BIN:-}"
if [ -z "$node_bin" ] || [ -z "$bin" ]; then
	step "building openvpp-node and openvpp-bridge"
	cargo build --release --locked -p openvpp-node -p openvpp-bridge -p openvpp-sim -p openvpp-demo
	node_bin="${node_bin:-$CARGO_TARGET_DIR/release/openvpp-node}"
	bin="${bin:-$CARGO_TARGET_DIR/release}"
fi
[ -x "$node_bin" ] || die "no node binary at $node_bin"
for b in openvpp-bridge openvpp-sim openvpp-demo; do [ -x "$bin/$b" ] || die "no $b in $bin"; done

feature=next-spec-version
[ "$mode" = incompatible ] && feature=next-spec-incompatible
next_target="$CARGO_TARGET_DIR/next-runtime"
step "building the next runtime ($feature) in $next_target"
CARGO_TARGET_DIR="$next_target" cargo check --release --locked -p openvpp-runtime --features "$feature"
built="$next_target/release/wbuild/openvpp-runtime/openvpp_runtime.compact.compressed.wasm"
[ -f "$built" ] || die "the build left no runtime at $built"

workdir="$(mktemp -d -t openvpp-upgrade.XXXXXX)"
wasm="$workdir/$feature.wasm"
cp "$built" "$wasm"

free_ports() {
	# $1 consecutive free ports on 127.0.0.1; prints the first.
	python3 - "$1" <<-'EOF'
		import socket, sys, random
		n = int(sys.argv[1])
		for _ in range(200):
		    base = random.randint(20000, 60000 - n)
		    sockets = []
		    try:
		        for p in range(base, base + n):
		            s = socket.socket(); s.bind(("127.0.0.1", p)); sockets.append(s)
		        print(base); break
		    except OSError:
		        pass
		    finally:
		        for s in sockets: s.close()
	EOF
}
port="$(free_ports 1)"
mqtt_port="$(free_ports 1)"
modbus_base_port="$(free_ports 8)"
metrics_port="$(free_ports 1)"

pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

step "starting a development node on ws://127.0.0.1:$port (logs in $workdir)"
"$node_bin" --dev --base-path "$workdir/db" --rpc-port "$port" --no-prometheus --no-telemetry \
	--no-mdns >"$workdir/node.log" 2>&1 &
pids+=($!)
node_pid=$!
for _ in $(seq 120); do
	curl -sf -H 'Content-Type: application/json' \
		-d '{"id":1,"jsonrpc":"2.0","method":"system_health","params":[]}' \
		"http://127.0.0.1:$port" >/dev/null 2>&1 && break
	kill -0 "$node_pid" 2>/dev/null || { tail -n 20 "$workdir/node.log" >&2; die "the node exited"; }
	sleep 1
done

step "starting the device simulator and the oracle bridge (metrics on 127.0.0.1:$metrics_port)"
"$bin/openvpp-sim" --embedded-broker --mqtt-port "$mqtt_port" --modbus-base-port "$modbus_base_port" \
	>"$workdir/sim.log" 2>&1 &
pids+=($!)
config="$("$bin/openvpp-demo" config --out "$workdir/bridge" --url "ws://127.0.0.1:$port" \
	--mqtt-port "$mqtt_port" --modbus-base-port "$modbus_base_port" --interval-s 10 \
	--metrics "127.0.0.1:$metrics_port")"
"$bin/openvpp-bridge" run --config "$config" >"$workdir/bridge.log" 2>&1 &
bridge_pid=$!
pids+=($bridge_pid)

# The sum of a metric over its labels (0 if the bridge does not serve it yet).
metric() {
	curl -sf "http://127.0.0.1:$metrics_port/metrics" 2>/dev/null |
		awk -v name="$1" '$1 == name || index($1, name "{") == 1 { sum += $2 } END { printf "%d\n", sum }'
}
# Waits up to $1 seconds for the shell condition $2 (described by $3).
wait_for() {
	local deadline=$((SECONDS + $1))
	until eval "$2"; do
		kill -0 "$bridge_pid" 2>/dev/null || { tail -n 30 "$workdir/bridge.log" >&2; die "the bridge exited"; }
		[ "$SECONDS" -lt "$deadline" ] || { tail -n 30 "$workdir/bridge.log" >&2; die "timed out waiting for $3"; }
		sleep 2
	done
}
finalized=openvpp_bridge_reports_finalized_total
wait_for 180 '[ "$(metric $finalized)" -gt 0 ]' "the bridge's first reports on chain"
spec_before="$(metric openvpp_bridge_runtime_spec_version)"
step "the bridge delivers: $(metric $finalized) reports finalized, signed for spec_version $spec_before"

step "upgrading by referendum to $feature"
OPENVPP_WS="ws://127.0.0.1:$port" OPENVPP_NEXT_WASM="$wasm" \
	node "$OPENVPP_ROOT/tests/polkadot-js/runtime-upgrade.js"

spec_after=$((spec_before + 1))
wait_for 120 '[ "$(metric openvpp_bridge_runtime_spec_version)" -eq "$spec_after" ]' \
	"the bridge to see spec_version $spec_after"
if [ "$mode" = compatible ]; then
	[ "$(metric openvpp_bridge_runtime_compatible)" -eq 1 ] || die "the bridge finds the new runtime incompatible"
	from="$(metric $finalized)"
	# Two intervals of the seven demo devices, signed for the new version.
	wait_for 180 '[ "$(metric $finalized)" -ge $((from + 14)) ]' "reports finalized under spec_version $spec_after"
	step "runtime upgrade passed; the same bridge process delivered $(($(metric $finalized) - from)) more reports under spec_version $spec_after"
else
	wait_for 60 '[ "$(metric openvpp_bridge_runtime_compatible)" -eq 0 ]' "the bridge to pause"
	grep -q "the extrinsic format: transaction extension 9 added" "$workdir/bridge.log" ||
		die "the bridge did not say what changed (log: $workdir/bridge.log)"
	submitted="$(metric openvpp_bridge_reports_submitted_total)"
	signed="$(metric openvpp_bridge_reports_signed_total)"
	wait_for 120 '[ "$(metric openvpp_bridge_reports_signed_total)" -ge $((signed + 14)) ]' "reports signed while paused"
	[ "$(metric openvpp_bridge_reports_submitted_total)" -eq "$submitted" ] ||
		die "the bridge submitted to a runtime it found incompatible"
	grep "changed what the bridge uses" "$workdir/bridge.log" | sed 's/^/    /'
	step "runtime upgrade passed; the bridge stopped submitting, said what changed, and keeps signing: $(metric openvpp_bridge_outbox_pending) reports pending in its outbox"
fi
