# Shared helpers for the hack/ scripts. Sourced, never run.
set -euo pipefail

RCA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The Kubernetes version the caller asked for, if any, before versions.env
# fills in the pinned one: the testbed's scripts tell the two apart.
KUBE_VERSION_ASKED="${KUBE_VERSION_ASKED-${KUBE_VERSION:-}}"
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

# take_lock NAME: waits for the lock NAME under the cache, then holds it
# until this shell exits (or `flock -u "$LOCK_FD"`): one build, fetch or
# install of a thing at a time, whoever asks (npm test builds ahead of time,
# beside tests that may need the same tool now).
take_lock() {
  mkdir -p "$RCA_CACHE/locks"
  exec {LOCK_FD}>"$RCA_CACHE/locks/$1.lock"
  flock "$LOCK_FD"
}

# apt_install PKG...: installs the Debian packages that are missing, once.
apt_install() {
  local missing=()
  # No `cmd | grep -q` in these scripts: under pipefail, grep's early exit can
  # kill the writer with SIGPIPE and turn a match into a failure.
  for p in "$@"; do [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" == *"ok installed"* ]] || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  # One apt at a time: the builds npm test starts ahead of time may ask beside the tests' own.
  take_lock apt
  log "installing Debian packages: ${missing[*]}"
  if [ -z "${RCA_APT_UPDATED:-}" ]; then apt-get update -qq || die "apt-get update failed"; export RCA_APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
  flock -u "$LOCK_FD"
}

# ensure_node: the project's npm packages installed, and Node.js 24 first on
# PATH. npm runs on whichever node comes first on PATH; the machine's own may
# be older than the engines the project and its packages ask for (Debian's,
# or the Node 20 next to npm), and npm would warn about each (EBADENGINE)
# though nothing is wrong. So npm runs on Node 24 from the start: the npm
# package `node`, at the version package.json pins, installed once into the
# cache. Real warnings still show.
ensure_node() {
  command -v npm >/dev/null || apt_install nodejs npm
  local version
  version=$(sed -n 's/^ *"node": "\([0-9][0-9.]*\)",\{0,1\}$/\1/p' "$RCA_ROOT/package.json")
  [ -n "$version" ] || die "package.json pins no version of the npm package node"
  local dir="$RCA_CACHE/tools/node-$version"
  if [ ! -x "$dir/node_modules/.bin/node" ]; then
    log "installing Node.js $version (the npm package node) to run npm with; first time only"
    mkdir -p "$dir"
    printf '{ "private": true, "allowScripts": { "node": true }, "dependencies": { "node": "%s" } }\n' "$version" > "$dir/package.json"
    npm install --prefix "$dir" --no-fund --no-audit >/dev/null || die "cannot install Node.js $version from the npm registry"
  fi
  export PATH="$dir/node_modules/.bin:$PATH"
  if [ ! -x "$RCA_ROOT/node_modules/.bin/node" ] || [ "$RCA_ROOT/package-lock.json" -nt "$RCA_ROOT/node_modules/.package-lock.json" ]; then
    log "installing npm packages (npm ci)"
    (cd "$RCA_ROOT" && npm ci --no-fund --no-audit >/dev/null) || die "npm ci failed"
  fi
  export PATH="$RCA_ROOT/node_modules/.bin:$PATH"
}
