#!/usr/bin/env bash
# The scale benchmark, in one run: V validators on 127.0.0.1 (default 3) running a benchmark
# chain of N devices (default 500 000: household PV, batteries, EVs, chargers and energy managers
# behind 20 gateways, genesis built by each node), then
#
#  1. the saturated floods of scripts/bench-telemetry.sh: plain transfers (the baseline) and
#     reports in batches, for the reports-to-transfers ratios;
#  2. the live phase: D devices (default 250 000) each reporting one current reading every I
#     seconds (default 300), each gateway releasing its devices' readings at every minute
#     boundary for M minutes (default 15, about 150 blocks) in batches of B (default 250, the
#     bridge's), with 1 % of readings flagged and 1 % refused (resent or wrongly signed); the
#     benchmark chain's ten-minute scoring epochs close inside it; P home batteries of the live
#     range (default 2 000) are enrolled and join a demand-response discharge event of two
#     intervals, discharge at their commitment while it lasts, and are measured, settled and
#     paid in the same blocks (it starts the first whole number of intervals at least 5
#     minutes into the phase and settles ten minutes after its end: 20 minutes into it at
#     I = 120, 25 at the default I; with a shorter phase the benchmark waits for it after the
#     last readings and says so);
#  3. `benchmark block` on an importer's database (Bob's; Alice's with one validator): each
#     block of the live phase re-executed, its time against the weight it consumed, beside how
#     long the author took to build it.
#
# Prints finalized items per second, block fullness, finality lag, node CPU per item and peak
# memory for each phase, and the block execution figures. For the live phase it also takes each
# block build apart from the validators' debug lines (scripts/authoring-phases.awk: waiting for
# the pool, pushing transactions, sealing), reads what each validator's Prometheus histograms
# gained (builds, imports, transaction-pool maintenance; scripts/metrics-delta.awk), and samples
# the machine's CPU and swap with vmstat. The nodes are the build with the
# benchmark commands (`--features runtime-benchmarks`, as scripts/benchmark-db.sh), which adds
# the benchmark subcommands and the pallets' benchmark helpers to the same runtime code.
#
#   scripts/bench-scale.sh [--devices N] [--validators V] [--report-devices D] [--interval-s I]
#                          [--minutes M] [--batch B] [--transfers T] [--reports R]
#                          [--transfer-rate TR] [--dr-participants P] [--node-args "ARGS"]
#
# OPENVPP_BENCH_KEEP=1 keeps the work directory (databases and logs) when it ends, to re-execute
# its blocks again with other settings (`openvpp-node benchmark block --base-path <dir>/db-<name>`).
#
# At the defaults it takes about 40 minutes on two cores. Each validator holds about 4.6 GiB
# once it has built the genesis (they start one after another) and grew to 8-9 GiB in the live
# phase: three need more than the 23 GiB of the development machine (docs/performance.md has a
# run's figures and what that did to it).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

devices=500000
validators=3
report_devices=250000
interval_s=300
minutes=15
batch=250
transfers=30000
reports=120000
transfer_rate=400
dr_participants=2000
node_args=""
rpc_port=9977
while [ $# -gt 0 ]; do
	case "$1" in
		--devices) devices="${2:?}"; shift 2 ;;
		--validators) validators="${2:?}"; shift 2 ;;
		--report-devices) report_devices="${2:?}"; shift 2 ;;
		--interval-s) interval_s="${2:?}"; shift 2 ;;
		--minutes) minutes="${2:?}"; shift 2 ;;
		--batch) batch="${2:?}"; shift 2 ;;
		--transfers) transfers="${2:?}"; shift 2 ;;
		--reports) reports="${2:?}"; shift 2 ;;
		--transfer-rate) transfer_rate="${2:?}"; shift 2 ;;
		--dr-participants) dr_participants="${2:?}"; shift 2 ;;
		--node-args) node_args="${2:?}"; shift 2 ;;
		--rpc-port) rpc_port="${2:?}"; shift 2 ;;
		*) die "unknown argument '$1' (expected --devices, --validators, --report-devices, --interval-s, --minutes, --batch, --transfers, --reports, --transfer-rate, --dr-participants, --node-args, --rpc-port)" ;;
	esac
done

# The live devices follow the flood's (one reading each, from the first --reports
# devices, at another interval: their counters would not follow on).
first_live=0
if [ "$reports" -gt 0 ]; then first_live="$reports"; fi
[ $((first_live + report_devices)) -le "$devices" ] ||
	die "--reports ($reports devices in the flood) and --report-devices ($report_devices) exceed the $devices devices"

"$OPENVPP_ROOT/scripts/setup.sh"
cd "$OPENVPP_ROOT"
step "building openvpp-node (with the benchmark commands) and openvpp-bench (release)"
cargo build --release --locked -p openvpp-node -p openvpp-bench \
	--features openvpp-node/runtime-benchmarks
node_bin="$CARGO_TARGET_DIR/release/openvpp-node"
bench_bin="$CARGO_TARGET_DIR/release/openvpp-bench"

source "$OPENVPP_ROOT/scripts/bench-node.sh"
chain="bench:$devices:$validators"
# Each validator serves its metrics, and logs when each block build starts, waits for the pool,
# stops pushing and seals (a few lines a block): the live phase's builds are taken apart below.
bench_prometheus_port=$((rpc_port + 100))
node_args="-l aura=debug,basic-authorship=debug $node_args"

step "starting $validators validator(s) of a benchmark chain of $devices devices, one after another (logs: $work/*.log)"
bench_stagger=1
if [ "$validators" -eq 1 ]; then
	# shellcheck disable=SC2086 # ARGS are words for the node
	start_bench_node "$node_bin" "$chain" "$rpc_port" 3600 --rpc-max-connections 1000 $node_args
else
	# shellcheck disable=SC2086
	start_bench_network "$node_bin" "$chain" "$validators" "$rpc_port" 3600 \
		--rpc-max-connections 1000 $node_args
fi

# finalized_number: the finalized block's number on Alice.
finalized_number() {
	local hash
	hash="$(curl -fsS -H 'Content-Type: application/json' \
		-d '{"id":1,"jsonrpc":"2.0","method":"chain_getFinalizedHead","params":[]}' \
		"http://127.0.0.1:$rpc_port" | sed -E 's/.*"result":"([^"]+)".*/\1/')"
	curl -fsS -H 'Content-Type: application/json' \
		-d "{\"id\":1,\"jsonrpc\":\"2.0\",\"method\":\"chain_getHeader\",\"params\":[\"$hash\"]}" \
		"http://127.0.0.1:$rpc_port" | sed -E 's/.*"number":"0x([0-9a-f]+)".*/\1/' |
		xargs -I{} printf '%d\n' 0x{}
}
# metrics_snapshot TAG: every validator's Prometheus metrics, to $work/metrics-TAG-<i>.txt.
metrics_snapshot() {
	local i
	for ((i = 0; i < validators; i++)); do
		curl -fsS "http://127.0.0.1:$((bench_prometheus_port + i))/metrics" \
			>"$work/metrics-$1-$i.txt" || die "validator $i's metrics did not answer"
	done
}
step "waiting for the network to finalize"
for _ in $(seq 1 300); do
	if [ "$(finalized_number)" -ge 3 ]; then break; fi
	sleep 1
done
[ "$(finalized_number)" -ge 3 ] || die "the network finalized nothing in 5 minutes (logs: $work)"

run_args=()
for pid in "${node_pids[@]}"; do run_args+=(--node-pid "$pid"); done
for ((i = 0; i < validators; i++)); do run_args+=(--url "ws://127.0.0.1:$((rpc_port + i))"); done

if [ "$transfers" -gt 0 ] || [ "$reports" -gt 0 ]; then
	step "saturated floods: $transfers transfers, then $reports reports in batches of $batch"
	"$bench_bin" run --reports "$reports" --devices "$((reports > 0 ? reports : 1))" \
		--transfers "$transfers" \
		--transfer-rate "$transfer_rate" --batch "$batch" "${run_args[@]}"
fi

# Where each node's log and metrics stand when the live phase starts: what comes after is the
# phase's. The machine's CPU and swap are sampled through the phase.
declare -A log_mark=()
for log in "$work"/*.log; do log_mark[$log]="$(wc -l <"$log")"; done
metrics_snapshot before
vmstat -n 5 >"$work/vmstat.txt" &
vmstat_pid=$!
helper_pids+=("$vmstat_pid")

step "live phase: $report_devices devices from #$first_live, one reading every $interval_s s each, released each minute for $minutes minutes; $dr_participants in a demand-response event"
"$bench_bin" live --first-device "$first_live" --devices "$report_devices" --interval-s "$interval_s" --minutes "$minutes" \
	--batch "$batch" --dr-participants "$dr_participants" "${run_args[@]}" | tee "$work/live.txt"
kill "$vmstat_pid" 2>/dev/null || true
metrics_snapshot after
range="$(sed -nE 's/^live reports: blocks ([0-9]+)-([0-9]+);.*/\1 \2/p' "$work/live.txt")"
[ -n "$range" ] || die "the live phase reported no blocks"
read -r from to <<<"$range"

# How long the author of each block of the live phase took to build it.
cat "$work"/*.log | awk -v from="$from" -v to="$to" '/Prepared block for proposing at/ {
		for (i = 1; i <= NF; i++) {
			if ($i == "at") n = $(i + 1) + 0
			if ($i ~ /^\(/ && $(i + 1) ~ /^ms\)/) v = substr($i, 2) + 0
		}
		if (n >= from && n <= to) print v
	}' | sort -n | awk -v from="$from" -v to="$to" '{ t[++c] = $1 }
	END {
		if (c == 0) { print "author: no block builds of the live phase in the logs"; exit }
		printf "author: %d block builds for heights %d-%d took %d ms median, %d ms at most (of a 6 000 ms slot)\n", c, from, to, t[int((c + 1) / 2)], t[c]
	}'
# More builds than heights: a build that overran its slot is discarded (and still logs its
# "Prepared block" line), and a block that lost a fork was built for nothing. One pass over each
# log's live-phase lines counts both and takes each build apart into its phases.
for log in "${!log_mark[@]}"; do
	echo "==> $log <=="
	tail -n +"$((log_mark[$log] + 1))" "$log"
done | awk -v from="$from" -v to="$to" -f "$OPENVPP_ROOT/scripts/authoring-phases.awk"
# What each validator's own metrics say of the live phase: builds, imports, pool maintenance.
names=(alice bob charlie dave)
for ((i = 0; i < validators; i++)); do
	printf '%s: ' "${names[$i]}"
	awk -f "$OPENVPP_ROOT/scripts/metrics-delta.awk" "$work/metrics-before-$i.txt" "$work/metrics-after-$i.txt"
done
# The machine through the phase (vmstat's first line counts since boot).
awk 'NR == 1 { next }
	NR == 2 { for (i = 1; i <= NF; i++) col[$i] = i; next }
	NR == 3 { next }
	{ n++; for (c in col) sum[c] += $col[c] }
	END {
		if (n == 0) { print "machine: no vmstat samples"; exit }
		printf "machine over %d samples of 5 s: CPU %.0f %% user, %.0f %% system, %.0f %% idle, %.0f %% waiting on I/O; swapped in %.0f and out %.0f KiB/s on average, %.0f MiB free at the end of the phase\n", n, sum["us"] / n, sum["sy"] / n, sum["id"] / n, sum["wa"] / n, sum["si"] / n, sum["so"] / n, last_free / 1024
	}
	{ last_free = $col["free"] }' "$work/vmstat.txt"

importer=bob
if [ "$validators" -eq 1 ]; then importer=alice; fi
step "stopping the network; re-executing blocks $from-$to on $importer's database (benchmark block)"
for pid in "${node_pids[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
for pid in "${node_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
node_pids=()
"$node_bin" benchmark block --chain "$chain" --base-path "$work/db-$importer" \
	--from "$from" --to "$to" --repeat 3 >"$work/block.txt" 2>&1 ||
	{ tail -n 30 "$work/block.txt" >&2; die "benchmark block failed"; }
# One line a block: its number, extrinsics, and its execution time against its consumed weight.
grep -E "Block [0-9]+ with" "$work/block.txt" || die "benchmark block printed no blocks"
# Execution against consumed weight: the first block re-executed meets a cold database cache.
grep -E "Block [0-9]+ with" "$work/block.txt" |
	sed -E 's/.*Block ([0-9]+) with +([0-9]+) tx used +([0-9.]+)% .*/\3/' | awk '
	NR == 1 { first = $1; next }
	{ p[++c] = $1; s += $1 }
	END {
		if (c == 0) { printf "importer: one block re-executed, %.1f %% of its consumed weight\n", first; exit }
		n = asorted(p, c)
		printf "importer: %d blocks re-executed; execution took %.1f %% of their consumed weight at the median, %.1f %% on average, %.1f %% at most (the first, on a cold cache: %.1f %%)\n", c + 1, p[int((c + 1) / 2)], s / c, p[c], first
	}
	function asorted(a, n,   i, j, t) {
		for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
		return n
	}'
