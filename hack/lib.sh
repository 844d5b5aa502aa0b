# Shared helpers for the hack/ scripts. Sourced, never run.
set -euo pipefail

RCA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=versions.env
source "$RCA_ROOT/hack/versions.env"
RCA_CACHE="${RCA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/runtimeclass-audit}"
TESTBED_DIR="${TESTBED_DIR:-$RCA_ROOT/.testbed}"

# The machine's Go lives outside the default PATH on some images.
case ":$PATH:" in *:/usr/local/go/bin:*) ;; *) [ -x /usr/local/go/bin/go ] && PATH="$PATH:/usr/local/go/bin" ;; esac

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

require_root() {
  [ "$(id -u)" = 0 ] || die "$1 must run as root (it starts containerd and a kubelet). Try: sudo $0"
}

# apt_install PKG...: installs the Debian packages that are missing, once.
apt_install() {
  local missing=()
  # No `cmd | grep -q` in these scripts: under pipefail, grep's early exit can
  # kill the writer with SIGPIPE and turn a match into a failure.
  for p in "$@"; do [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" == *"ok installed"* ]] || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  if [ -z "${RCA_APT_UPDATED:-}" ]; then apt-get update -qq || die "apt-get update failed"; export RCA_APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
}
