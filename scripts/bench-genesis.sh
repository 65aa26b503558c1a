#!/usr/bin/env bash
# What a benchmark chain's genesis costs a node: one validator starts a benchmark chain of N
# devices (`--chain bench:N`, genesis built by the node) and, as the baseline in the same run, one
# of no benchmark devices (`bench:0`: the preset alone). For each it prints how long the node took
# to answer RPC, how long building the genesis state took (the node's own log line), its peak
# resident memory by then, and its resident memory then and once it has authored blocks for a
# while (what it keeps, against what it needed once).
#
#   scripts/bench-genesis.sh [--devices N] [--settle-s S] [--node PATH] [--rpc-port P]
#
# Defaults: 500 000 devices, 60 s of authoring after the RPC answers, the node built as
# scripts/bench-telemetry.sh builds it. --node runs a given binary instead (to compare builds).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

devices=500000
settle_s=60
node_bin=""
rpc_port=9977
while [ $# -gt 0 ]; do
	case "$1" in
		--devices) devices="${2:?}"; shift 2 ;;
		--settle-s) settle_s="${2:?}"; shift 2 ;;
		--node) node_bin="${2:?}"; shift 2 ;;
		--rpc-port) rpc_port="${2:?}"; shift 2 ;;
		*) die "unknown argument '$1' (expected --devices, --settle-s, --node, --rpc-port)" ;;
	esac
done
[[ "$devices" =~ ^[0-9]+$ ]] || die "--devices takes a number, not '$devices'"
[[ "$settle_s" =~ ^[0-9]+$ ]] || die "--settle-s takes a number of seconds, not '$settle_s'"

cd "$OPENVPP_ROOT"
if [ -z "$node_bin" ]; then
	"$OPENVPP_ROOT/scripts/setup.sh"
	step "building openvpp-node and openvpp-bench (release)"
	cargo build --release --locked -p openvpp-node -p openvpp-bench
	node_bin="$CARGO_TARGET_DIR/release/openvpp-node"
fi
[ -x "$node_bin" ] || die "no node binary at $node_bin"

source "$OPENVPP_ROOT/scripts/bench-node.sh"

# memory_mib PID FIELD: a field of the process's /proc status (VmHWM, VmRSS) in MiB.
memory_mib() {
	awk -v field="$2:" '$1 == field { printf "%.0f", $2 / 1024 }' "/proc/$1/status"
}

# best_number: the best block's number on the node.
best_number() {
	curl -fsS -H 'Content-Type: application/json' \
		-d '{"id":1,"jsonrpc":"2.0","method":"chain_getHeader","params":[]}' \
		"http://127.0.0.1:$rpc_port" | sed -E 's/.*"number":"0x([0-9a-f]+)".*/\1/' |
		xargs -I{} printf '%d\n' 0x{}
}

rows=()
for chain_devices in 0 "$devices"; do
	step "one validator of bench:$chain_devices"
	started_ms=$(($(date +%s%N) / 1000000))
	start_bench_node "$node_bin" "bench:$chain_devices" "$rpc_port" 3600
	ready_ms=$(($(date +%s%N) / 1000000 - started_ms))
	peak_ready=$(memory_mib "$node_pid" VmHWM)
	rss_ready=$(memory_mib "$node_pid" VmRSS)
	first_block=$(best_number)
	sleep "$settle_s"
	last_block=$(best_number)
	[ "$last_block" -gt "$first_block" ] ||
		die "bench:$chain_devices authored no block in $settle_s s (log: $work/alice.log)"
	peak_end=$(memory_mib "$node_pid" VmHWM)
	rss_end=$(memory_mib "$node_pid" VmRSS)
	# Each time the node built the state, and how long that took.
	builds=$(sed -nE 's/.*benchmark genesis: .* built in ([0-9.]+) s.*/\1 s/p' "$work/alice.log" |
		paste -sd, - | sed 's/,/, /g')
	rows+=("$(printf '| %s | %d.%d s | %s | %s MiB | %s MiB | %s MiB (%d blocks) | %s MiB |' \
		"bench:$chain_devices" $((ready_ms / 1000)) $((ready_ms % 1000 / 100)) "${builds:-none logged}" \
		"$peak_ready" "$rss_ready" "$rss_end" $((last_block - first_block)) "$peak_end")")
	kill -INT "$node_pid"
	wait "$node_pid" 2>/dev/null || true
	node_pids=()
	rm -rf "$work/db-alice"
done

echo
echo "node: $node_bin"
echo "| chain | RPC answered after | genesis state built (each time, in) | peak RSS then | RSS then | RSS after ${settle_s} s of blocks | peak RSS at the end |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
printf '%s\n' "${rows[@]}"
