#!/usr/bin/env bash
# Runs the zombienet tests: networks of real OpenVPP nodes on 127.0.0.1 (zombienet/, native
# provider), each test a zndsl file.
#
#   scripts/zombienet.sh                     every test in zombienet/
#   scripts/zombienet.sh finality            zombienet/finality.zndsl only
#   scripts/zombienet.sh gateway             a gateway (simulator + bridge) on a full node of
#                                            the four-validator network (zombienet/gateway.*)
#   scripts/zombienet.sh --spawn             start the network of zombienet/local.toml and keep
#                                            it running (Ctrl-C stops it)
#
# Builds the node unless OPENVPP_NODE names a binary, and for the gateway test the bridge, the
# simulator and the demo tool unless OPENVPP_BIN names their directory; installs @zombienet/cli
# from npm.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

"$OPENVPP_ROOT/scripts/setup.sh" --for-tests
cd "$OPENVPP_ROOT"

zn_dir="$OPENVPP_ROOT/zombienet"
stamp="$zn_dir/node_modules/.installed-from-lock"
if ! cmp -s "$zn_dir/package-lock.json" "$stamp" 2>/dev/null; then
	step "installing @zombienet/cli"
	(cd "$zn_dir" && npm ci --no-audit --no-fund >/dev/null) || die "npm could not install @zombienet/cli"
	cp "$zn_dir/package-lock.json" "$stamp"
fi

# The test command passes the node its test build made (OPENVPP_NODE), so nothing is rebuilt.
if [ -z "${OPENVPP_NODE:-}" ]; then
	step "building openvpp-node"
	cargo build --release --locked -p openvpp-node
	OPENVPP_NODE="$CARGO_TARGET_DIR/release/openvpp-node"
fi
[ -x "$OPENVPP_NODE" ] || die "no node binary at $OPENVPP_NODE"
export OPENVPP_NODE

# The gateway test runs the simulator and the bridge beside the network (OPENVPP_BIN may name a
# directory where they are built already).
needs_gateway=false
for t in "$@"; do [ "$t" = gateway ] && needs_gateway=true; done
[ "$#" -eq 0 ] && needs_gateway=true
if $needs_gateway && [ -z "${OPENVPP_BIN:-}" ]; then
	step "building openvpp-bridge, openvpp-sim and openvpp-demo"
	cargo build --release --locked -p openvpp-bridge -p openvpp-sim -p openvpp-demo
	OPENVPP_BIN="$CARGO_TARGET_DIR/release"
fi
export OPENVPP_BIN="${OPENVPP_BIN:-}"

work="$(mktemp -d -t openvpp-zombienet.XXXXXX)"
export OPENVPP_GATEWAY_DIR="$work/gateway-processes"
# gateway.js leaves its processes running between steps: stop what a failed test left.
stop_gateway() {
	for pid_file in "$OPENVPP_GATEWAY_DIR"/*.pid; do
		[ -f "$pid_file" ] && kill "$(cat "$pid_file")" 2>/dev/null || true
	done
}
trap stop_gateway EXIT
export OPENVPP_LOCAL_SPEC="$work/local-raw.json"
"$OPENVPP_NODE" build-spec --chain local --raw --disable-default-bootnode >"$OPENVPP_LOCAL_SPEC" 2>/dev/null ||
	die "could not build the local chain spec"

zombienet() {
	(cd "$zn_dir" && node_modules/.bin/zombienet --provider native --logType text "$@")
}

if [ "${1:-}" = "--spawn" ]; then
	step "spawning zombienet/local.toml (Alice's RPC on ws://127.0.0.1:${OPENVPP_RPC_PORT:-9944})"
	zombienet --dir "$work/network" spawn local.toml
	exit 0
fi

tests=("$@")
if [ "${#tests[@]}" -eq 0 ]; then
	tests=()
	for f in "$zn_dir"/*.zndsl; do tests+=("$(basename "$f" .zndsl)"); done
fi
for t in "${tests[@]}"; do
	[ -f "$zn_dir/$t.zndsl" ] || die "no test zombienet/$t.zndsl"
	step "zombienet test $t"
	start=$(date +%s)
	zombienet --dir "$work/$t" test "$t.zndsl" || die "zombienet test $t failed (logs: $work/$t)"
	step "zombienet test $t passed in $(( $(date +%s) - start )) s"
done
rm -rf "$work"
