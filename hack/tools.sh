#!/usr/bin/env bash
# Builds the Go test tooling from the Go module proxy and caches it by version.
#   hack/tools.sh go|kubernetes|helm|helm-docs|registry|crane|oras|containerd|containerd-1.7|gvisor|cri-o|prometheus|monitoring-crds|all
#     -> prints the tool's directory on stdout
# The product is TypeScript; these are the real Kubernetes components and
# tools the tests run against, which only exist as Go source (or, for
# Prometheus, as Debian's package).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KUBE_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)

# go_at_least_121 VERSION: whether Go VERSION (1.19, 1.26.8, ...) is 1.21 or
# newer, the first that fetches a newer toolchain by itself (GOTOOLCHAIN).
go_at_least_121() {
  local minor; minor=$(echo "$1" | cut -d. -f2)
  [ "${1%%.*}" -gt 1 ] || [ "${minor:-0}" -ge 21 ]
}

# ensure_go: a Go that can build the test tooling on PATH. The machine's own
# when it is 1.21 or newer (GOTOOLCHAIN=auto fetches the newer toolchain
# Kubernetes needs through the module proxy); else, with no Go or an older
# one (Debian 12's golang-go is 1.19), the pinned GO_VERSION, fetched from
# the Go module proxy as the module golang.org/toolchain and cached.
ensure_go() {
  local have=""
  command -v go >/dev/null && have=$(go env GOVERSION 2>/dev/null | sed 's/^go//')
  if [ -n "$have" ] && go_at_least_121 "$have"; then
    export GOTOOLCHAIN="${GOTOOLCHAIN:-auto}"
  else
    [ -z "$have" ] || log "Go $have on PATH is older than 1.21: using Go $GO_VERSION from the Go module proxy instead"
    local dir; dir=$(fetch_go)
    export PATH="$dir/bin:$PATH" GOTOOLCHAIN=local
    have=$GO_VERSION
  fi
  export GOFLAGS="${GOFLAGS:-} -buildvcs=false"
  log "go ${have} (GOTOOLCHAIN=${GOTOOLCHAIN})"
}

# fetch_go: Go GO_VERSION for this machine, as the Go module proxy serves it
# (the module golang.org/toolchain, which is how GOTOOLCHAIN=auto fetches
# toolchains), checked against its go.sum hash from the checksum database
# (pinned in versions.env), unpacked into the cache. Prints its GOROOT.
fetch_go() {
  local arch; arch=$(dpkg --print-architecture)
  local out="$RCA_CACHE/tools/go-$GO_VERSION-$arch"
  if [ -x "$out/bin/go" ]; then echo "$out"; return; fi
  # One fetch at a time (every build may ask at once): the others wait, then find it.
  take_lock "go-$GO_VERSION"
  if [ -x "$out/bin/go" ]; then echo "$out"; return; fi
  local want_var="GO_TOOLCHAIN_SUM_$arch"
  local want="${!want_var:-}"
  [ -n "$want" ] || die "no checksum pinned for Go $GO_VERSION on $arch (set $want_var in hack/versions.env)"
  apt_install curl unzip ca-certificates
  local module="golang.org/toolchain@v0.0.1-go$GO_VERSION.linux-$arch"
  local proxy="${GOPROXY:-https://proxy.golang.org}"; proxy="${proxy%%[,|]*}"
  case "$proxy" in http*) ;; *) proxy=https://proxy.golang.org ;; esac
  log "fetching Go $GO_VERSION ($module) from the Go module proxy; first time only"
  mkdir -p "$RCA_CACHE/tools"
  local work; work=$(mktemp -d "$RCA_CACHE/tools/.go-$GO_VERSION.XXXXXX")
  curl -fsSL --retry 3 -o "$work/module.zip" "$proxy/golang.org/toolchain/@v/${module#*@}.zip"     || { rm -rf "$work"; die "cannot download $module from $proxy"; }
  unzip -q "$work/module.zip" -d "$work/files" || { rm -rf "$work"; die "$module from $proxy is not a zip file"; }
  local got; got=$(module_hash "$work/files")
  [ "$got" = "$want" ] || { rm -rf "$work"; die "$module from $proxy does not match its checksum: got $got, want $want ($want_var in hack/versions.env, for Go $GO_VERSION)"; }
  rm -rf "$out"
  mv "$work/files/$module" "$out"
  rm -rf "$work"
  echo "$out"
}

# module_hash DIR: the go.sum hash ("h1:") of the module files unpacked in
# DIR (each named module@version/path, as in the module's zip): the base64
# SHA-256 of a line "<sha256>  <name>" per file, sorted by name
# (golang.org/x/mod/sumdb/dirhash, Hash1).
module_hash() {
  local hex
  hex=$(cd "$1" && find . -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
  printf 'h1:%s\n' "$(printf '%b' "$(echo "$hex" | sed 's/../\\x&/g')" | base64 -w0)"
}

# staging_replaces VERSION: one replace line per k8s.io staging module that
# k8s.io/kubernetes's own go.mod points at ./staging, mapped to its v0.x release.
staging_replaces() {
  local minor_patch="${1#1.}" modfile="$2"
  sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$modfile" |
    while read -r m; do echo "replace $m => $m v0.${minor_patch}"; done
}

# kube_module VERSION: the Go module that builds Kubernetes VERSION's commands
# (its directory, set up once): it requires k8s.io/kubernetes and maps each
# staging module (./staging/... in its own go.mod) to its published v0.x release.
kube_module() {
  local v=$1 work="$RCA_CACHE/build/kubernetes-$1" c
  # Set up once: a kubelet-as build may ask beside the commands' own.
  take_lock "kube-module-$v"
  if [ ! -f "$work/.ready" ]; then
    mkdir -p "$work"
    (
      cd "$work"
      printf 'module rcaudit.dev/testbed/kubernetes\n\ngo 1.26.0\n' > go.mod
      rm -f go.sum
      go mod download -json "k8s.io/kubernetes@v$v" > dl.json || die "cannot download k8s.io/kubernetes@v$v"
      staging_replaces "$v" "$(jq -r .GoMod dl.json)" >> go.mod
      local pkgs=(); for c in "${KUBE_CMDS[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c@v$v"); done
      go get "${pkgs[@]}" >get.log 2>&1 || { cat get.log >&2; die "go get of Kubernetes v$v failed"; }
      touch .ready
    ) >&2 || exit 1
  fi
  echo "$work"
}

# kube_build VERSION GIT_VERSION COMMAND OUT: builds COMMAND of Kubernetes
# VERSION to OUT, saying it is GIT_VERSION (what `--version` and a node's
# status say), through a temporary name: an interrupted build never leaves a
# binary that looks finished.
kube_build() {
  local v=$1 git_version=$2 c=$3 out=$4 work vpkg=k8s.io/component-base/version ldflags
  work=$(kube_module "$v") || exit 1
  ldflags="-s -w -X $vpkg.gitVersion=$git_version -X $vpkg.gitMajor=${v%%.*} -X $vpkg.gitMinor=$(echo "$v" | cut -d. -f2)"
  ldflags+=" -X $vpkg.gitTreeState=clean -X $vpkg.buildDate=1970-01-01T00:00:00Z"
  ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$git_version"
  log "  go build $c ($git_version)"
  (cd "$work" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$(dirname "$out")/.$c.tmp" "k8s.io/kubernetes/cmd/$c") >&2 \
    || die "building $c v$v failed (see above)"
  mv "$(dirname "$out")/.$c.tmp" "$out"
}

build_kubernetes() {
  local v="$KUBE_VERSION" out="$RCA_CACHE/tools/kubernetes-$KUBE_VERSION"
  local missing=() c
  for c in "${KUBE_CMDS[@]}"; do [ -x "$out/bin/$c" ] || missing+=("$c"); done
  if [ ${#missing[@]} -eq 0 ]; then echo "$out/bin"; return; fi
  ensure_go
  mkdir -p "$out/bin"
  log "building Kubernetes v$v (${missing[*]}) from the Go module proxy; first time only, ~6 min on 2 cores"
  for c in "${missing[@]}"; do kube_build "$v" "v$v" "$c" "$out/bin/$c"; done
  echo "$out/bin"
}

# build_kubelet_as GIT_VERSION: Kubernetes KUBE_VERSION's kubelet, saying it is
# GIT_VERSION, so a test can restart a node's kubelet as another release
# would come back (a relink of the cached build: under a minute).
build_kubelet_as() {
  local git_version=$1 out
  out="$RCA_CACHE/tools/kubernetes-$KUBE_VERSION/kubelet-as/$git_version"
  if [ ! -x "$out/kubelet" ]; then
    ensure_go
    mkdir -p "$out"
    log "building a kubelet of Kubernetes v$KUBE_VERSION that says it is $git_version"
    kube_build "$KUBE_VERSION" "$git_version" kubelet "$out/kubelet"
  fi
  echo "$out/kubelet"
}

build_helm() {
  local out="$RCA_CACHE/tools/helm-$HELM_VERSION"
  if [ -x "$out/bin/helm" ]; then echo "$out/bin"; return; fi
  ensure_go
  log "building helm v$HELM_VERSION from the Go module proxy"
  GOBIN="$out/bin" CGO_ENABLED=0 go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION" \
    "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION" >&2 || die "building helm v$HELM_VERSION failed"
  echo "$out/bin"
}

build_helm_docs() {
  local out="$RCA_CACHE/tools/helm-docs-$HELM_DOCS_VERSION"
  if built "$out/bin" helm-docs; then echo "$out/bin"; return; fi
  ensure_go
  log "building helm-docs v$HELM_DOCS_VERSION from the Go module proxy"
  GOBIN="$out/.bin" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" \
    "github.com/norwoodj/helm-docs/cmd/helm-docs@v$HELM_DOCS_VERSION" >&2 || { rm -rf "$out/.bin"; die "building helm-docs v$HELM_DOCS_VERSION failed"; }
  mv "$out/.bin" "$out/bin"
  echo "$out/bin"
}

# go_install NAME VERSION PACKAGE@VERSION: one Go command, built into the
# cache as NAME-VERSION/bin and printed; to a temporary directory first, so an
# interrupted build never looks finished.
go_install() {
  local name=$1 version=$2 package=$3
  local out="$RCA_CACHE/tools/$name-$version"
  if [ -d "$out/bin" ]; then echo "$out/bin"; return; fi
  ensure_go
  log "building $name $version from the Go module proxy"
  rm -rf "$out/.bin"
  GOBIN="$out/.bin" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" "$package" >&2 || { rm -rf "$out/.bin"; die "building $name $version failed"; }
  mv "$out/.bin" "$out/bin"
  echo "$out/bin"
}

# The registry the testbed runs on loopback, for the release path.
build_registry() { go_install registry "$REGISTRY_VERSION" "github.com/distribution/distribution/v3/cmd/registry@v$REGISTRY_VERSION"; }
# crane: pushes an OCI image layout to a registry (hack/release.sh).
build_crane() { go_install crane "$CRANE_VERSION" "github.com/google/go-containerregistry/cmd/crane@v$CRANE_VERSION"; }
# oras: attaches the SBOM to the image it describes (hack/release.sh).
build_oras() { go_install oras "$ORAS_VERSION" "oras.land/oras/cmd/oras@v$ORAS_VERSION"; }

# built DIR NAME...: whether every NAME is an executable in DIR.
built() {
  local dir=$1 name; shift
  for name in "$@"; do [ -x "$dir/$name" ] || return 1; done
}

# module_source MODULE VERSION DEST: a writable copy of MODULE@VERSION's
# source in DEST, from the Go module proxy. A copy, because some runtimes
# cannot be built with `go install MODULE@VERSION` (containerd 1.7's go.mod
# has exclude directives, which go install refuses; CRI-O's install needs a
# deprecation lookup the proxy refuses) and gVisor's shim needs one change.
module_source() {
  local module=$1 version=$2 dest=$3 answer dir
  answer=$(go mod download -json "$module@$version" 2>/dev/null) || true
  dir=$(jq -r '.Dir // empty' <<< "$answer" 2>/dev/null) || true
  [ -n "$dir" ] || die "the Go module proxy did not serve $module@$version: $(jq -r '.Error // "no answer"' <<< "$answer" 2>/dev/null || echo "$answer")"
  rm -rf "$dest"
  mkdir -p "$(dirname "$dest")"
  cp -r "$dir" "$dest"
  chmod -R u+w "$dest"
}

# install_built WORK OUT: moves a finished build (WORK/bin) to OUT in one
# step, so an interrupted build never leaves a tool that looks finished.
install_built() {
  rm -rf "$2"
  mkdir -p "$(dirname "$2")"
  mv "$1" "$2"
}

# build_containerd VERSION: containerd, its runc shim and ctr (for loading
# images), built inside a copy of the module (1.x has exclude directives).
build_containerd() {
  local v=$1 out="$RCA_CACHE/tools/containerd-$1"
  local cmds=(containerd containerd-shim-runc-v2 ctr)
  if built "$out/bin" "${cmds[@]}"; then echo "$out/bin"; return; fi
  ensure_go
  apt_install jq
  local module=github.com/containerd/containerd
  [ "${v%%.*}" -lt 2 ] || module+=/v${v%%.*}
  local work="$RCA_CACHE/build/containerd-$v"
  log "building containerd v$v from the Go module proxy; first time only, ~1 min"
  module_source "$module" "v$v" "$work/src"
  (
    cd "$work/src"
    # The version the runtime reports over CRI (Version) and in its logs.
    CGO_ENABLED=0 go build -trimpath -tags no_btrfs -ldflags "-s -w -X $module/version.Version=v$v" \
      -o "$work/out/bin/" "${cmds[@]/#/./cmd/}" || die "building containerd v$v failed (see above)"
  ) >&2
  install_built "$work/out" "$out"
  rm -rf "$work"
  echo "$out/bin"
}

# build_gvisor: runsc and its containerd shim, at the pinned GVISOR_VERSION.
# The stock shim cannot start on machines where no process may lower
# oom_score_adj (it sets -999 and fails when refused): our copy lets that
# one refusal pass, as containerd's own shim does. Nothing else changes, and nothing may print: the shim's stdout
# is its reply to containerd.
build_gvisor() {
  local v=$GVISOR_VERSION out="$RCA_CACHE/tools/gvisor-$GVISOR_VERSION"
  if built "$out/bin" runsc containerd-shim-runsc-v1; then echo "$out/bin"; return; fi
  ensure_go
  apt_install jq
  local work="$RCA_CACHE/build/gvisor-$v"
  log "building gVisor $v (runsc and containerd-shim-runsc-v1) from the Go module proxy; first time only, ~1 min"
  module_source gvisor.dev/gvisor "$v" "$work/src"
  local manager="$work/src/pkg/shim/v1/manager.go"
  local refusal='if err := sys.SetOOMScore(cmd.Process.Pid, oomScoreMax); err != nil {'
  grep -qF "$refusal" "$manager" || die "gVisor $v's shim no longer sets its OOM score where expected ($manager): the change this testbed makes to it needs updating"
  sed -i "s/$refusal/if err := sys.SetOOMScore(cmd.Process.Pid, oomScoreMax); err != nil \&\& !os.IsPermission(err) {/" "$manager"
  grep -qF "!os.IsPermission(err)" "$manager" || die "could not change gVisor $v's shim to let a refused OOM score pass ($manager)"
  (
    cd "$work/src"
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$work/out/bin/runsc" ./runsc || die "building runsc $v failed (see above)"
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$work/out/bin/containerd-shim-runsc-v1" ./shim || die "building gVisor's shim $v failed (see above)"
  ) >&2
  install_built "$work/out" "$out"
  rm -rf "$work"
  echo "$out/bin"
}

# build_crio: CRI-O (cgo: it links libseccomp and libgpgme-free image code)
# and pinns (C, static) at CRIO_VERSION. conmon comes from Debian.
build_crio() {
  local v=$CRIO_VERSION out="$RCA_CACHE/tools/cri-o-$CRIO_VERSION"
  if built "$out/bin" crio pinns; then echo "$out/bin"; return; fi
  ensure_go
  apt_install jq gcc libc6-dev libseccomp-dev pkg-config
  local work="$RCA_CACHE/build/cri-o-$v"
  log "building CRI-O v$v from the Go module proxy; first time only, ~3 min"
  module_source github.com/cri-o/cri-o "v$v" "$work/src"
  (
    cd "$work/src"
    local tags="containers_image_ostree_stub containers_image_openpgp seccomp exclude_graphdriver_btrfs exclude_graphdriver_devicemapper"
    CGO_ENABLED=1 go build -trimpath -tags "$tags" -ldflags "-s -w" -o "$work/out/bin/crio" ./cmd/crio || die "building CRI-O v$v failed (see above)"
    gcc -static -O2 -o "$work/out/bin/pinns" pinns/src/*.c || die "building CRI-O v$v's pinns failed (see above)"
  ) >&2
  install_built "$work/out" "$out"
  rm -rf "$work"
  echo "$out/bin"
}

# Debian's prometheus package, unpacked rather than installed: promtool and
# a Prometheus server for the tests, without a system service (installing
# the package would start one on port 9090 where systemd runs).
fetch_prometheus() {
  local version; version=$(apt-cache policy prometheus 2>/dev/null | awk '/Candidate:/ { print $2 }')
  if [ -z "$version" ] || [ "$version" = "(none)" ]; then
    [ -n "${RCA_APT_UPDATED:-}" ] || { apt-get update -qq || die "apt-get update failed"; export RCA_APT_UPDATED=1; }
    version=$(apt-cache policy prometheus | awk '/Candidate:/ { print $2 }')
  fi
  [ -n "$version" ] && [ "$version" != "(none)" ] || die "Debian's package index has no prometheus package"
  local out="$RCA_CACHE/tools/prometheus-${version//[:+~]/_}"
  if [ -x "$out/bin/promtool" ] && [ -x "$out/bin/prometheus" ]; then echo "$out/bin"; return; fi
  log "unpacking Debian's prometheus $version"
  local work; work=$(mktemp -d)
  chmod 755 "$work"  # apt fetches as its _apt user
  (cd "$work" && apt-get download -qq "prometheus=$version" >/dev/null) || { rm -rf "$work"; die "apt-get download prometheus=$version failed"; }
  dpkg-deb -x "$work"/prometheus_*.deb "$work/root"
  mkdir -p "$out/bin"
  cp "$work/root/usr/bin/prometheus" "$work/root/usr/bin/promtool" "$out/bin/"
  rm -rf "$work"
  echo "$out/bin"
}

# The Prometheus Operator's ServiceMonitor and PrometheusRule CRDs, from its
# Go module (the chart's optional objects are validated against them).
fetch_monitoring_crds() {
  local out="$RCA_CACHE/tools/monitoring-crds-$PROMETHEUS_OPERATOR_VERSION"
  if [ -s "$out/servicemonitors.yaml" ] && [ -s "$out/prometheusrules.yaml" ]; then echo "$out"; return; fi
  ensure_go
  apt_install jq
  local dir; dir=$(go mod download -json "github.com/prometheus-operator/prometheus-operator@v$PROMETHEUS_OPERATOR_VERSION" | jq -r .Dir) \
    || die "cannot download github.com/prometheus-operator/prometheus-operator@v$PROMETHEUS_OPERATOR_VERSION"
  mkdir -p "$out"
  for kind in servicemonitors prometheusrules; do
    cp "$dir/example/prometheus-operator-crd/monitoring.coreos.com_$kind.yaml" "$out/$kind.yaml"
  done
  echo "$out"
}

# Each build holds its tool's lock (take_lock, keyed by what it builds) until
# this script exits, so two builds of one thing never share a work directory:
# the second waits, then finds it built. Targets of several tools run each
# through this script again, under each one's lock.
case "${1:-all}" in
  go|module-hash|runtimes|all) ;;
  kubernetes) take_lock "kubernetes-$KUBE_VERSION" ;;
  kubelet-as)
    # Checked before it names a lock file or a directory.
    [[ "${2:-}" =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] || die "${2:-(none)} is not a Kubernetes version (v1.2.3 or v1.2.3-suffix)"
    take_lock "kubelet-as-$KUBE_VERSION-$2" ;;
  containerd) take_lock "containerd-${2:-$CONTAINERD_VERSION}" ;;
  containerd-1.7) take_lock "containerd-$CONTAINERD_17_VERSION" ;;
  helm|helm-docs|registry|crane|oras|gvisor|cri-o|prometheus|monitoring-crds) take_lock "$1" ;;
esac
self=${BASH_SOURCE[0]}

case "${1:-all}" in
  go) ensure_go; dirname "$(command -v go)" ;;
  module-hash) module_hash "$2" ;;
  kubernetes) build_kubernetes ;;
  kubelet-as) build_kubelet_as "${2:?usage: $0 kubelet-as GIT_VERSION}" ;;
  helm) build_helm ;;
  helm-docs) build_helm_docs ;;
  registry) build_registry ;;
  crane) build_crane ;;
  oras) build_oras ;;
  containerd) build_containerd "${2:-$CONTAINERD_VERSION}" ;;
  containerd-1.7) build_containerd "$CONTAINERD_17_VERSION" ;;
  gvisor) build_gvisor ;;
  cri-o) build_crio ;;
  prometheus) fetch_prometheus ;;
  monitoring-crds) fetch_monitoring_crds ;;
  runtimes) for t in containerd containerd-1.7 gvisor cri-o; do bash "$self" "$t"; done ;;
  all) for t in kubernetes helm registry crane oras prometheus monitoring-crds; do bash "$self" "$t"; done ;;
  *) die "usage: $0 go|kubernetes|kubelet-as GIT_VERSION|helm|helm-docs|registry|crane|oras|containerd [VERSION]|containerd-1.7|gvisor|cri-o|runtimes|prometheus|monitoring-crds|all (or module-hash DIR)" ;;
esac
