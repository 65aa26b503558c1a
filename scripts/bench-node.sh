# A benchmark chain for the benchmark scripts: a work directory removed on exit, a chain spec
# with benchmark devices, and one node on 127.0.0.1 with a transaction pool large enough for a
# flood. Source it after common.sh; do not run it.

work="$(mktemp -d -t openvpp-bench.XXXXXX)"
node_pid=""
cleanup() {
	if [ -n "$node_pid" ]; then
		kill -INT "$node_pid" 2>/dev/null || true
		wait "$node_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

# bench_spec BENCH NODE DEVICES: writes $work/spec.json with DEVICES benchmark devices.
bench_spec() {
	"$1" spec --node "$2" --devices "$3" --out "$work/spec.json" >/dev/null
}

# start_bench_node NODE RPC_PORT WAIT_S [ARGS...]: starts NODE on $work/spec.json with its
# database in $work/db and its log in $work/node.log, sets node_pid, and returns once its RPC
# answers (at most WAIT_S seconds).
start_bench_node() {
	local node="$1" port="$2" wait_s="$3"
	shift 3
	"$node" --chain "$work/spec.json" --alice --validator --force-authoring \
		--node-key 0000000000000000000000000000000000000000000000000000000000000001 \
		--base-path "$work/db" --rpc-port "$port" --listen-addr /ip4/127.0.0.1/tcp/0 \
		--no-telemetry --no-prometheus --no-mdns \
		--pool-limit 200000 --pool-kbytes 1000000 \
		--rpc-max-request-size 64 --rpc-max-response-size 64 "$@" \
		>"$work/node.log" 2>&1 &
	node_pid=$!
	local _
	for _ in $(seq 1 "$wait_s"); do
		if curl -fsS -H 'Content-Type: application/json' \
			-d '{"id":1,"jsonrpc":"2.0","method":"chain_getFinalizedHead","params":[]}' \
			"http://127.0.0.1:$port" >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$node_pid" 2>/dev/null || { tail -n 30 "$work/node.log" >&2; die "the node exited"; }
		sleep 1
	done
	die "the node's RPC did not answer within $wait_s s (log: $work/node.log)"
}
