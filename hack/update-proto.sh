#!/usr/bin/env bash
# Copies the CRI api.proto of the pinned k8s.io/cri-api release into proto/.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
apt_install jq
go="$("$RCA_ROOT/hack/tools.sh" go)/go"
dir=$(cd / && "$go" mod download -json "k8s.io/cri-api@v$CRI_API_VERSION" | jq -r .Dir)
install -m 0644 "$dir/pkg/apis/runtime/v1/api.proto" "$RCA_ROOT/proto/runtime/v1/api.proto"
log "proto/runtime/v1/api.proto now from k8s.io/cri-api v$CRI_API_VERSION"
