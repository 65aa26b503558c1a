# Shared settings for the OpenVPP scripts. Source it; do not run it.

# The repository root, whatever directory a script is started from.
OPENVPP_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export OPENVPP_ROOT

# One persistent target directory for every build, test and benchmark, so that no command pays
# for a cold build that another one already did.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/openvpp/target}"

# cargo and rustup live here on a rustup install; make sure non-login shells find them.
if [ -d "$HOME/.cargo/bin" ]; then
	case ":$PATH:" in *":$HOME/.cargo/bin:"*) ;; *) export PATH="$HOME/.cargo/bin:$PATH" ;; esac
fi

# Prints a message to stderr and exits non-zero.
die() {
	echo "error: $*" >&2
	exit 1
}

# Prints a timestamped progress line.
step() {
	echo "==> [$(date +%H:%M:%S)] $*"
}
