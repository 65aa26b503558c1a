#!/usr/bin/env bash
# Installs what building and testing OpenVPP needs — and nothing that is already there.
#
#   scripts/setup.sh               build prerequisites (Rust toolchain + wasm target, protoc, clang)
#   scripts/setup.sh --for-tests   the above plus mosquitto, the MQTT broker the tests run, jq,
#                                  with which the test command lists the test binaries,
#                                  Chromium, the browser the dashboard is tested in, and Node.js
#                                  with the npm packages of the polkadot.js and browser tests
#
# Idempotent and silent when everything is present.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

for_tests=0
for arg in "$@"; do
	case "$arg" in
		--for-tests) for_tests=1 ;;
		*) die "unknown argument '$arg' (expected --for-tests)" ;;
	esac
done

# --- Debian packages -------------------------------------------------------------------------
missing=()
command -v protoc >/dev/null 2>&1 || missing+=(protobuf-compiler)
command -v clang >/dev/null 2>&1 || missing+=(clang)
dpkg -s libclang-dev >/dev/null 2>&1 || missing+=(libclang-dev)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if [ "$for_tests" = 1 ]; then
	command -v mosquitto >/dev/null 2>&1 || missing+=(mosquitto)
	command -v jq >/dev/null 2>&1 || missing+=(jq)
	command -v node >/dev/null 2>&1 || missing+=(nodejs)
	command -v npm >/dev/null 2>&1 || missing+=(npm)
	[ -x /usr/bin/chromium ] || missing+=(chromium)
fi

if [ "${#missing[@]}" -gt 0 ]; then
	command -v apt-get >/dev/null 2>&1 ||
		die "missing ${missing[*]} and no apt-get here: install them with your package manager"
	sudo=""
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null 2>&1 || die "missing ${missing[*]}: run as root or install sudo"
		sudo="sudo"
	fi
	step "installing Debian packages: ${missing[*]}"
	log="$(mktemp -t openvpp-apt.XXXXXX)"
	if ! { $sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
		tail -n 20 "$log" >&2
		die "apt-get could not install ${missing[*]} (full log: $log)"
	fi
	rm -f "$log"
fi

# --- Rust toolchain ----------------------------------------------------------------------------
command -v rustup >/dev/null 2>&1 ||
	die "rustup not found: install Rust with https://rustup.rs and run this again"

# rust-toolchain.toml names the toolchain; make sure it and its wasm target are installed.
cd "$OPENVPP_ROOT"
toolchain="$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)"
[ -n "$toolchain" ] || die "rust-toolchain.toml names no channel"
if ! rustup toolchain list | grep -q "^$toolchain"; then
	step "installing Rust $toolchain"
	rustup toolchain install "$toolchain" --profile minimal -c rustfmt -c clippy -t wasm32v1-none >/dev/null ||
		die "rustup could not install Rust $toolchain"
fi
installed_components="$(rustup component list --installed --toolchain "$toolchain")"
for component in rustfmt clippy; do
	if ! grep -q "^$component" <<<"$installed_components"; then
		step "adding Rust component $component"
		rustup component add "$component" --toolchain "$toolchain" >/dev/null ||
			die "rustup could not add $component"
	fi
done
if ! rustup target list --installed --toolchain "$toolchain" | grep -qx wasm32v1-none; then
	step "adding Rust target wasm32v1-none"
	rustup target add wasm32v1-none --toolchain "$toolchain" >/dev/null ||
		die "rustup could not add the wasm32v1-none target"
fi

# --- npm packages of the Node.js tests ---------------------------------------------------------
# package-lock.json pins every package; reinstall only when it changed since the last install.
install_npm_packages() {
	local dir="$1" what="$2"
	local stamp="$dir/node_modules/.installed-from-lock"
	if ! cmp -s "$dir/package-lock.json" "$stamp" 2>/dev/null; then
		step "installing the npm packages of $what"
		local log
		log="$(mktemp -t openvpp-npm.XXXXXX)"
		if ! (cd "$dir" && npm ci --no-audit --no-fund) >"$log" 2>&1; then
			tail -n 20 "$log" >&2
			die "npm could not install the packages of $what (full log: $log)"
		fi
		cp "$dir/package-lock.json" "$stamp"
		rm -f "$log"
	fi
}
if [ "$for_tests" = 1 ]; then
	install_npm_packages "$OPENVPP_ROOT/tests/polkadot-js" "the polkadot.js tests"
	# puppeteer-core drives the system's Chromium; it downloads no browser of its own.
	install_npm_packages "$OPENVPP_ROOT/dashboard/tests/browser" "the dashboard's browser test"
fi
