#!/usr/bin/env bash
# load-image.sh IMAGE.tar: imports an OCI image layout tarball into the
# testbed node's containerd (namespace k8s.io, where the kubelet looks).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[ -f "${1:-}" ] || die "usage: $0 IMAGE.tar"
[ -S "$CONTAINERD_SOCK" ] || die "the testbed's containerd is not running (npm run testbed:up)"
# ctr prints "unpacking <name> (<digest>)...done" for each image it loaded.
ctr --address "$CONTAINERD_SOCK" -n k8s.io images import "$1" >&2 || die "importing $1 failed"
