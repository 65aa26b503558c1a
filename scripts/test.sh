#!/usr/bin/env bash
# The whole test suite: formatting, lints, every workspace test and the end-to-end tests that
# run real node processes. Everything builds in the release profile, the same build the run
# command uses, so a machine pays for one build, not two.
#
#   scripts/test.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

"$OPENVPP_ROOT/scripts/setup.sh" --for-tests
cd "$OPENVPP_ROOT"

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (release, all targets, warnings are errors)"
cargo clippy --release --locked --workspace --all-targets -- -D warnings

step "cargo test (release, workspace, including end-to-end tests)"
cargo test --release --locked --workspace

step "all tests passed"
