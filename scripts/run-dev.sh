#!/usr/bin/env bash
# The main job: a development chain on 127.0.0.1:9944 with the simulated device fleet and the
# oracle bridge, a demand-response event a few minutes into the run, the operator console (the
# dashboard, on 127.0.0.1:9955) and a live view of the chain in the terminal.
#
#   scripts/run-dev.sh [--rpc-port PORT] [--dashboard-port PORT] [--interval-s SECONDS] [--fleet N]
#
# --fleet N also simulates N home batteries of the larger fleet (up to 2 000) in DE-50HERTZ,
# registers them for the run and announces a discharge event for them beside the battery's.
#
# Ctrl-C stops everything it started.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

rpc_port=9944
dashboard_port=9955
interval_s=30
mqtt_port=18830
modbus_base_port=15020
metrics_port=9616
fleet=0
while [ $# -gt 0 ]; do
	case "$1" in
		--rpc-port) rpc_port="${2:?--rpc-port needs a value}"; shift 2 ;;
		--dashboard-port) dashboard_port="${2:?--dashboard-port needs a value}"; shift 2 ;;
		--interval-s) interval_s="${2:?--interval-s needs a value}"; shift 2 ;;
		--fleet) fleet="${2:?--fleet needs a value}"; shift 2 ;;
		*) die "unknown argument '$1' (expected --rpc-port PORT, --dashboard-port PORT, --interval-s SECONDS or --fleet N)" ;;
	esac
done
[[ "$fleet" =~ ^[0-9]+$ ]] && [ "$fleet" -le 2000 ] || die "--fleet takes 0 to 2000 batteries, not '$fleet'"

"$OPENVPP_ROOT/scripts/setup.sh"

step "building the node, the bridge, the simulator and the dashboard (release; the first build takes about 40 minutes on 2 cores)"
cd "$OPENVPP_ROOT"
cargo build --release --locked -p openvpp-node -p openvpp-bridge -p openvpp-sim -p openvpp-demo \
	-p openvpp-dashboard
bin="$CARGO_TARGET_DIR/release"

run_dir="$(mktemp -d -t openvpp-dev.XXXXXX)"
pids=()
cleanup() {
	trap - INT TERM EXIT
	if [ "${#pids[@]}" -gt 0 ]; then
		step "stopping the bridge, the simulator and the chain"
		# Reverse order: the bridge first, so it can finish what it is submitting.
		for (( i=${#pids[@]}-1; i>=0; i-- )); do
			kill -INT "${pids[$i]}" 2>/dev/null || true
			wait "${pids[$i]}" 2>/dev/null || true
		done
	fi
	echo "logs were in $run_dir (removed)"
	rm -rf "$run_dir"
}
trap cleanup INT TERM EXIT

rpc_ready() {
	curl -fsS -H 'Content-Type: application/json' \
		-d '{"id":1,"jsonrpc":"2.0","method":"system_properties","params":[]}' \
		"http://127.0.0.1:$rpc_port" >/dev/null 2>&1
}

step "starting the dev chain"
# Archive state, so that the dashboard can chart any past block of the run.
"$bin/openvpp-node" --dev --base-path "$run_dir/chain" --rpc-port "$rpc_port" --no-telemetry \
	--state-pruning archive-canonical >"$run_dir/node.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 120); do
	rpc_ready && break
	kill -0 "${pids[0]}" 2>/dev/null || { tail -n 30 "$run_dir/node.log" >&2; die "the node exited"; }
	sleep 1
done
rpc_ready || die "the node does not answer on 127.0.0.1:$rpc_port"

step "starting the device simulator (embedded MQTT broker on 127.0.0.1:$mqtt_port, Modbus TCP on $((modbus_base_port + 3))–$((modbus_base_port + 6)))"
"$bin/openvpp-sim" --embedded-broker --mqtt-port "$mqtt_port" --modbus-base-port "$modbus_base_port" \
	--fleet "$fleet" >"$run_dir/sim.log" 2>&1 &
pids+=($!)

if [ "$fleet" -gt 0 ]; then
	# The bridge refuses devices the chain does not know: the larger fleet is registered first
	# (Eve owns it, Dave approves it).
	step "registering the larger fleet: $fleet home batteries in DE-50HERTZ"
	"$bin/openvpp-demo" fleet --url "ws://127.0.0.1:$rpc_port" --count "$fleet" \
		>"$run_dir/fleet.log" 2>&1 || { tail -n 20 "$run_dir/fleet.log" >&2; die "registering the fleet failed"; }
fi

step "starting the oracle bridge (interval ${interval_s} s, metrics on 127.0.0.1:$metrics_port/metrics)"
config="$("$bin/openvpp-demo" config --out "$run_dir/bridge" --url "ws://127.0.0.1:$rpc_port" \
	--mqtt-port "$mqtt_port" --modbus-base-port "$modbus_base_port" --interval-s "$interval_s" \
	--metrics "127.0.0.1:$metrics_port" --fleet "$fleet")"
"$bin/openvpp-bridge" run --config "$config" >"$run_dir/bridge.log" 2>&1 &
pids+=($!)

# A demand-response event: once the home battery has reported, Alice lets the gateway join for
# it, Charlie becomes an operator and announces a ten-minute discharge starting three minutes
# later. The bridge joins, holds the battery during the event and gives it back at the end.
# With --fleet, Eve first consents for each fleet battery once it has reported, and the fleet
# gets its own event at the same time.
if [ "$fleet" -gt 0 ]; then
	{
		"$bin/openvpp-demo" fleet --url "ws://127.0.0.1:$rpc_port" --count "$fleet" --consent &&
			exec "$bin/openvpp-demo" event --url "ws://127.0.0.1:$rpc_port" --start-in-s 180 \
				--fleet "$fleet"
	} >"$run_dir/demo-event.log" 2>&1 &
else
	"$bin/openvpp-demo" event --url "ws://127.0.0.1:$rpc_port" --start-in-s 180 \
		>"$run_dir/demo-event.log" 2>&1 &
fi
pids+=($!)

step "starting the dashboard on 127.0.0.1:$dashboard_port"
"$bin/openvpp-dashboard" --listen "127.0.0.1:$dashboard_port" --rpc "http://127.0.0.1:$rpc_port" \
	>"$run_dir/dashboard.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 20); do
	curl -fsS -o /dev/null "http://127.0.0.1:$dashboard_port/" 2>/dev/null && break
	kill -0 "${pids[-1]}" 2>/dev/null || { cat "$run_dir/dashboard.log" >&2; die "the dashboard exited"; }
	sleep 0.5
done

cat <<MSG

OpenVPP dev chain running: JSON-RPC and WebSocket on 127.0.0.1:$rpc_port
  Dashboard (operator console): http://127.0.0.1:$dashboard_port/
  polkadot.js Apps: https://polkadot.js.org/apps/?rpc=ws%3A%2F%2F127.0.0.1%3A$rpc_port#/explorer
  Dev accounts //Alice … //Ferdie hold 1,000,000 OVPP each; //Alice is sudo, //Dave a verifier.
  The demo fleet (devices 1–7) reports every $interval_s s through the bridge (gateway //Ferdie).
$(if [ "$fleet" -gt 0 ]; then
	echo "  The larger fleet: $fleet home batteries in DE-50HERTZ (devices 8 and up, owned by //Eve),"
	echo "  registered now; they report from the first full interval and get their own event."
else
	echo "  scripts/run-dev.sh --fleet 200 adds 200 home batteries in DE-50HERTZ with their own event."
fi)
  Logs: $run_dir/{node,sim,bridge,demo-event,dashboard}.log
  Ctrl-C stops everything (the chain's state is discarded).

The first reports reach the chain after the first full interval. Once the home battery has
reported, a demand-response event is announced (log: $run_dir/demo-event.log); it starts three
minutes later and runs for ten, then settles after the ten-minute grace period. The view below
shows its target against what the chain measured, and the battery's performance.
MSG

# The live view, read from the chain, until Ctrl-C.
"$bin/openvpp-bridge" watch --url "ws://127.0.0.1:$rpc_port" --every-s 10 &
pids+=($!)
wait "${pids[0]}"
