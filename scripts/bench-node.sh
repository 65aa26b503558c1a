# A benchmark chain for the benchmark scripts: a work directory removed on exit and one to four
# validators on 127.0.0.1 running a benchmark chain (`--chain bench:<devices>:<validators>`,
# genesis built by each node) with transaction pools large enough for a flood. Source it after
# common.sh; do not run it.
#
# OPENVPP_BENCH_KEEP=1 keeps the work directory (databases, logs) for a later look, such as
# re-executing its blocks again with `openvpp-node benchmark block --base-path <dir>/db-<name>`.

work="$(mktemp -d -t openvpp-bench.XXXXXX)"
# The first validator's process id (the one floods are submitted to), and all of them.
node_pid=""
node_pids=()
# Other processes a script started beside the nodes (samplers), stopped with them.
helper_pids=()
cleanup() {
	local pid
	for pid in "${helper_pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${node_pids[@]}"; do
		kill -INT "$pid" 2>/dev/null || true
	done
	for pid in "${node_pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [ "${OPENVPP_BENCH_KEEP:-0}" = 1 ]; then
		echo "kept the work directory $work (OPENVPP_BENCH_KEEP=1)" >&2
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT INT TERM

# wait_for_rpc PORT PID LOG WAIT_S: returns once the node's RPC answers; dies if it exits.
wait_for_rpc() {
	local port="$1" pid="$2" log="$3" wait_s="$4" _
	for _ in $(seq 1 "$wait_s"); do
		if curl -fsS -H 'Content-Type: application/json' \
			-d '{"id":1,"jsonrpc":"2.0","method":"chain_getFinalizedHead","params":[]}' \
			"http://127.0.0.1:$port" >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || { tail -n 30 "$log" >&2; die "a node exited (log: $log)"; }
		sleep 1
	done
	die "the node's RPC did not answer within $wait_s s (log: $log)"
}

# start_bench_network NODE CHAIN VALIDATORS RPC_PORT WAIT_S [ARGS...]: starts VALIDATORS
# validators (Alice, Bob, Charlie, Dave) of chain CHAIN (e.g. bench:10000:3), Alice on RPC_PORT
# and the others on the ports after it, their databases in $work/db-<name> and logs in
# $work/<name>.log. Each names the others as reserved peers, as the validators of a
# permissioned set do: a node drops an ordinary peer whose reputation falls, and under a flood
# every node gossips transactions that a block has made stale by the time they arrive, which
# counts against the sender. Sets node_pid (Alice) and node_pids (all), and returns once every
# RPC answers (at most WAIT_S seconds each: a large fleet's genesis takes a while). With
# bench_stagger=1 each node starts once the one before answers, so that no two build a large
# genesis at once (each holds it in memory while it does). With bench_prometheus_port=P each
# serves its Prometheus metrics on 127.0.0.1, Alice on P and the others on the ports after it;
# otherwise none does.
start_bench_network() {
	local node="$1" chain="$2" count="$3" port="$4" wait_s="$5"
	shift 5
	local names=(alice bob charlie dave) i j
	local p2p_base=$((port + 20000))
	local addresses=()
	for ((i = 0; i < count; i++)); do
		printf '%064x' $((i + 1)) >"$work/node-key-$i"
		addresses+=("/ip4/127.0.0.1/tcp/$((p2p_base + i))/p2p/$("$node" key inspect-node-key --file "$work/node-key-$i")")
	done
	for ((i = 0; i < count; i++)); do
		local name="${names[$i]}" reserved=()
		for ((j = 0; j < count; j++)); do
			if [ "$j" -ne "$i" ]; then reserved+=("${addresses[$j]}"); fi
		done
		local peers=() metrics=(--no-prometheus)
		if [ "${#reserved[@]}" -gt 0 ]; then peers=(--reserved-nodes "${reserved[@]}"); fi
		if [ -n "${bench_prometheus_port:-}" ]; then
			metrics=(--prometheus-port $((bench_prometheus_port + i)))
		fi
		"$node" --chain "$chain" "--$name" --validator \
			--node-key-file "$work/node-key-$i" \
			--base-path "$work/db-$name" --rpc-port $((port + i)) \
			--listen-addr "/ip4/127.0.0.1/tcp/$((p2p_base + i))" \
			--no-telemetry "${metrics[@]}" --no-mdns \
			--pool-limit 200000 --pool-kbytes 1000000 \
			--rpc-max-request-size 64 --rpc-max-response-size 64 "$@" "${peers[@]}" \
			>"$work/$name.log" 2>&1 &
		node_pids+=($!)
		if [ "${bench_stagger:-0}" = 1 ]; then
			wait_for_rpc $((port + i)) "${node_pids[$i]}" "$work/$name.log" "$wait_s"
		fi
	done
	node_pid="${node_pids[0]}"
	for ((i = 0; i < count; i++)); do
		wait_for_rpc $((port + i)) "${node_pids[$i]}" "$work/${names[$i]}.log" "$wait_s"
	done
}

# start_bench_node NODE CHAIN RPC_PORT WAIT_S [ARGS...]: one validator (Alice) authoring alone,
# its database in $work/db-alice and its log in $work/alice.log.
start_bench_node() {
	local node="$1" chain="$2" port="$3" wait_s="$4"
	shift 4
	start_bench_network "$node" "$chain" 1 "$port" "$wait_s" --force-authoring "$@"
}
