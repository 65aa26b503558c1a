#!/usr/bin/env bash
# The bridge's fault test with a ten-minute node outage: a dev node, mosquitto, the simulator
# and the bridge on 127.0.0.1; the bridge is killed with a batch in flight, the node is stopped
# for ten minutes (the bridge crashes and restarts in the middle of it), the broker restarted,
# and every interval of every device must land on chain exactly once. The test takes about
# 14 minutes (857 s on 2026-12-01), after the test command's build.
# (scripts/test.sh runs the same test with a 90-second outage.)
#
#   scripts/outage.sh [--outage-s SECONDS]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

outage_s=600
while [ $# -gt 0 ]; do
	case "$1" in
		--outage-s) outage_s="${2:?--outage-s needs a value}"; shift 2 ;;
		*) die "unknown argument '$1' (expected --outage-s SECONDS)" ;;
	esac
done
[[ "$outage_s" =~ ^[0-9]+$ ]] && [ "$outage_s" -ge 30 ] || die "--outage-s takes at least 30 seconds, not '$outage_s'"

"$OPENVPP_ROOT/scripts/setup.sh" --for-tests
cd "$OPENVPP_ROOT"

# The same build as the test command's, so a machine that ran scripts/test.sh compiles nothing.
step "building the workspace's tests and binaries"
cargo test --release --locked --workspace --no-run

step "the bridge's fault test with a ${outage_s}-second node outage"
OPENVPP_NODE_OUTAGE_S="$outage_s" cargo test --release --locked -p openvpp-bridge --test faults -- \
	--nocapture
