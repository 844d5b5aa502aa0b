#!/usr/bin/env bash
# oci-image.sh OUT.tar NAME ROOTFS_DIR CONFIG_JSON
# Packs a directory as a one-layer OCI image layout tarball that
# `ctr images import` understands. CONFIG_JSON is the image config's
# "config" object (Entrypoint, Cmd, Env, User, WorkingDir; PATH is added to
# Env when missing). No registry or Docker engine exists here, so this is how
# the testbed's pause image and the product image (hack/image.sh) are made.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
[ $# -eq 4 ] || die "usage: $0 OUT.tar NAME ROOTFS_DIR CONFIG_JSON"
out=$1 name=$2 rootfs=$3 config=$4
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
mkdir -p "$work/blobs/sha256"
sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }
blob() { local d; d=$(sha "$1"); mv "$1" "$work/blobs/sha256/$d"; echo "$d"; }

# Fixed owner and mtime so the same input always gives the same digest; the
# layer gzipped (no name or time in its header, for the same reason), as a
# registry serves it: the product image's 175 MiB of tar are about a third
# of that. The config names the uncompressed tar's digest (its diff_id).
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$rootfs" -cf "$work/layer" .
diff_id=$(sha "$work/layer")
gzip -n -6 "$work/layer"
layer_size=$(size "$work/layer.gz"); layer=$(blob "$work/layer.gz")
jq -cn --arg diff "sha256:$diff_id" --argjson config "$config" \
  '{architecture:"amd64",os:"linux",
    config:($config | .Env = ((.Env // []) | if any(startswith("PATH=")) then . else . + ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"] end)),
    rootfs:{type:"layers",diff_ids:[$diff]}}' > "$work/config"
config_size=$(size "$work/config"); config=$(blob "$work/config")
jq -cn --arg c "sha256:$config" --argjson cs "$config_size" --arg l "sha256:$layer" --argjson ls "$layer_size" \
  '{schemaVersion:2,mediaType:"application/vnd.oci.image.manifest.v1+json",
    config:{mediaType:"application/vnd.oci.image.config.v1+json",digest:$c,size:$cs},
    layers:[{mediaType:"application/vnd.oci.image.layer.v1.tar+gzip",digest:$l,size:$ls}]}' > "$work/manifest"
manifest_size=$(size "$work/manifest"); manifest=$(blob "$work/manifest")
jq -cn --arg m "sha256:$manifest" --argjson ms "$manifest_size" --arg name "$name" \
  '{schemaVersion:2,manifests:[{mediaType:"application/vnd.oci.image.manifest.v1+json",digest:$m,size:$ms,
    annotations:{"io.containerd.image.name":$name,"org.opencontainers.image.ref.name":($name|split(":")|last)}}]}' > "$work/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' > "$work/oci-layout"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$work" -cf "$out" oci-layout index.json blobs
