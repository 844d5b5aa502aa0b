#!/usr/bin/env bash
# load-image.sh [--node NAME] IMAGE.tar: imports an OCI image layout tarball
# into the containerd of every testbed node (or only NAME's), in namespace
# k8s.io where the kubelet looks. There is no registry here: this is how
# images reach the nodes.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
only=
if [ "${1:-}" = --node ]; then only=$2; shift 2; fi
[ -f "${1:-}" ] || die "usage: $0 [--node NAME] IMAGE.tar"
for i in "${!NODES[@]}"; do
  node_vars "$i"
  [ -z "$only" ] || [ "$only" = "$NODE_NAME" ] || continue
  [ -S "$CONTAINERD_SOCK" ] || die "containerd of node $NODE_NAME is not running (npm run testbed:up)"
  # ctr prints "unpacking <name> (<digest>)...done" for each image it loaded.
  ctr --address "$CONTAINERD_SOCK" -n k8s.io images import "$1" >&2 || die "importing $1 into $NODE_NAME failed"
done
