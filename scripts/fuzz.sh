#!/usr/bin/env bash
# Fuzzes what OpenVPP decodes and checks from untrusted input, with cargo-fuzz (libFuzzer):
#
#   report_decode      a batch of signed reports as the chain decodes it
#   report_check       the chain's physics checks and the energy reference they leave
#   mqtt_payload       the bridge's MQTT payload formats
#   sunspec_registers  the bridge's SunSpec register maps and model decoding
#
#   scripts/fuzz.sh [--seconds N] [--parallel] [TARGET...]
#                                      (default: every target, 600 s each, one after another;
#                                       --parallel runs them all at once, each for N s)
#
# Not part of the test command. Needs a nightly toolchain (cargo-fuzz's instrumentation flags)
# and cargo-fuzz, which it installs if missing. Corpora persist under
# ~/.cache/openvpp/fuzz/corpus/TARGET; a crash is saved under fuzz/artifacts/TARGET and makes the
# script exit non-zero. The last lines of each run (executions, coverage) are printed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

seconds=600
parallel=0
targets=()
while [ $# -gt 0 ]; do
	case "$1" in
		--seconds) seconds="${2:?--seconds needs a number}"; shift 2 ;;
		--seconds=*) seconds="${1#--seconds=}"; shift ;;
		--parallel) parallel=1; shift ;;
		-h|--help) sed -n '2,17p' "$0"; exit 0 ;;
		-*) die "unknown option '$1'" ;;
		*) targets+=("$1"); shift ;;
	esac
done
[[ "$seconds" =~ ^[0-9]+$ ]] && [ "$seconds" -gt 0 ] || die "--seconds takes a positive whole number"
all=(report_decode report_check mqtt_payload sunspec_registers)
[ "${#targets[@]}" -gt 0 ] || targets=("${all[@]}")
for target in "${targets[@]}"; do
	[[ " ${all[*]} " == *" $target "* ]] || die "unknown target '$target' (known: ${all[*]})"
done

"$OPENVPP_ROOT/scripts/setup.sh"
if ! rustup toolchain list | grep -q '^nightly'; then
	step "installing the nightly toolchain cargo-fuzz needs"
	rustup toolchain install nightly --profile minimal >/dev/null ||
		die "rustup could not install a nightly toolchain, which cargo-fuzz needs"
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
	step "installing cargo-fuzz"
	# In a directory of its own: not the project's target directory, whose lock builds hold.
	install_dir="$(mktemp -d -t openvpp-cargo-fuzz.XXXXXX)"
	cargo +nightly install cargo-fuzz --locked --target-dir "$install_dir" >/dev/null ||
		die "cargo could not install cargo-fuzz"
	rm -rf "$install_dir"
fi

cd "$OPENVPP_ROOT"
# The fuzz crate has its own lock file: start it from the workspace's, so that it builds the
# same versions of everything.
[ -f fuzz/Cargo.lock ] || cp Cargo.lock fuzz/Cargo.lock
fuzz_target_dir="${OPENVPP_FUZZ_TARGET_DIR:-$HOME/.cache/openvpp/fuzz/target}"
corpus_root="$HOME/.cache/openvpp/fuzz/corpus"
export SKIP_WASM_BUILD=1 # the runtime's wasm is not needed by any target
step "building the fuzz targets"
cargo +nightly fuzz build --fuzz-dir fuzz --target-dir "$fuzz_target_dir" ||
	die "the fuzz targets do not build"

# Runs one target for $seconds; its log is $2.
fuzz_one() {
	local target="$1" log="$2" corpus="$corpus_root/$1"
	mkdir -p "$corpus"
	cargo +nightly fuzz run --fuzz-dir fuzz --target-dir "$fuzz_target_dir" \
		"$target" "$corpus" -- -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1
}

# Prints what a finished run did.
summarize() {
	local target="$1" log="$2"
	echo "   $target: $(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}') executions," \
		"$(grep -E '^stat::average_exec_per_sec' "$log" | awk '{print $2}')/s," \
		"$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1)," \
		"corpus $(find "$corpus_root/$target" -type f | wc -l) inputs"
}

failed=()
declare -A logs pids
for target in "${targets[@]}"; do
	logs[$target]="$(mktemp -t "openvpp-fuzz-$target.XXXXXX")"
	step "fuzzing $target for $seconds s (log: ${logs[$target]})"
	if [ "$parallel" = 1 ]; then
		fuzz_one "$target" "${logs[$target]}" &
		pids[$target]=$!
	elif fuzz_one "$target" "${logs[$target]}"; then
		summarize "$target" "${logs[$target]}"
	else
		tail -n 40 "${logs[$target]}" >&2
		failed+=("$target")
	fi
done
if [ "$parallel" = 1 ]; then
	for target in "${targets[@]}"; do
		if wait "${pids[$target]}"; then
			summarize "$target" "${logs[$target]}"
		else
			tail -n 40 "${logs[$target]}" >&2
			failed+=("$target")
		fi
	done
fi
if [ "${#failed[@]}" -gt 0 ]; then
	die "fuzzing found a failure in: ${failed[*]} (inputs in fuzz/artifacts/)"
fi
step "no failure in ${targets[*]}"
