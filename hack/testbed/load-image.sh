#!/usr/bin/env bash
# load-image.sh [--node NAME] IMAGE.tar: puts an OCI image layout tarball
# into the runtime of every testbed node (or only NAME's), where the kubelet
# looks: containerd's namespace k8s.io, or CRI-O's containers-storage.
# There is no registry here: this is how images reach the nodes.
source "$(dirname "${BASH_SOURCE[0]}")/up.sh"
only=
if [ "${1:-}" = --node ]; then only=$2; shift 2; fi
[ -f "${1:-}" ] || die "usage: $0 [--node NAME] IMAGE.tar"
name=$(tar -xOf "$1" index.json | jq -r '.manifests[0].annotations["io.containerd.image.name"] // empty')
[ -n "$name" ] || die "$1 names no image (its index.json has no io.containerd.image.name annotation)"
for i in "${!NODES[@]}"; do
  node_vars "$i"
  [ -z "$only" ] || [ "$only" = "$NODE_NAME" ] || continue
  [ -S "$RUNTIME_SOCK" ] || die "the runtime of node $NODE_NAME is not running (npm run testbed:up)"
  # The tools' progress (and containerd 2.x's cgroup v1 deprecation notice)
  # is noise here: shown only when loading fails.
  case $RUNTIME in
    containerd) out=$("$RUNTIME_BIN/ctr" --address "$RUNTIME_SOCK" -n k8s.io images import "$1" 2>&1) ;;
    cri-o) out=$(skopeo copy --quiet "oci-archive:$1" "containers-storage:[$(crio_storage)]$name" 2>&1) ;;
  esac || { echo "$out" >&2; die "loading $1 into $NODE_NAME failed"; }
  log "loaded $name into $NODE_NAME"
done
