#!/usr/bin/env bash
# hack/image.sh [--load] -> prints the OCI image tarball's path on stdout
# Builds the product image without a Docker engine (none runs here) as an OCI
# image layout tarball, and with --load imports it into every testbed node's
# containerd. It makes the same filesystem as the Dockerfile, as closely as
# this machine allows (see the Dockerfile's header for where they differ):
#   /nodejs/bin/node   Node 24, the npm package "node" this repo pins
#   /lib*, /usr/lib*   glibc, libstdc++ and libgcc_s from this Debian 12 host
#                      (what distroless/nodejs24-debian12 carries too)
#   /etc/passwd, group root and nonroot (65532), as in distroless
#   /app               the app as JavaScript (tsc erases the types: no type
#                      stripper at run time) and the production node_modules only
# Image config: user 65532, workdir /app, entrypoint node, cmd operator.
# The tarball is cached under .testbed/images by a digest of its inputs.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$RCA_ROOT"
load=false
[ "${1:-}" = --load ] && load=true

IMAGE_NAME=${RCA_IMAGE:-localhost/rcaudit/runtimeclass-audit:$(jq -r .version package.json)}
APP_DIRS=(agent api cli kube observability operator proto)
NODE_BIN="$RCA_ROOT/node_modules/.bin/node"
ensure_node
apt_install jq ca-certificates

# The app's files as the work tree has them: tracked or new, not ignored, not deleted.
app_files() {
  git ls-files -z --cached --others --exclude-standard -- "${APP_DIRS[@]}" package.json package-lock.json |
    while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done
}
# The key: every input file's name and content, the node binary and these scripts.
key=$({ app_files | xargs -0 sha256sum
        sha256sum "$(readlink -f "$NODE_BIN")" "${BASH_SOURCE[0]}" hack/testbed/oci-image.sh tsconfig.json tsconfig.image.json; echo "$IMAGE_NAME"; } | sha256sum | cut -c1-16)
out="$TESTBED_DIR/images/runtimeclass-audit-$key.tar"

build() {
  local work; work=$(mktemp -d)
  # shellcheck disable=SC2064 # expand now: $work is local
  trap "rm -rf '$work'" RETURN
  local root="$work/rootfs"
  mkdir -p "$root"/{nodejs/bin,app,etc/ssl/certs,tmp,proc,sys,dev,lib64,lib/x86_64-linux-gnu}
  chmod 1777 "$root/tmp"
  cp "$(readlink -f "$NODE_BIN")" "$root/nodejs/bin/node"
  # The node binary's shared libraries, resolved on this host.
  local lib
  for lib in $(ldd "$NODE_BIN" | awk '$3 ~ /^\// { print $3 } $1 ~ /^\/lib64/ { print $1 }'); do
    cp -L "$lib" "$root/${lib#/}" 2>/dev/null || { mkdir -p "$root/$(dirname "${lib#/}")"; cp -L "$lib" "$root/${lib#/}"; }
  done
  cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$root/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' > "$root/etc/group"
  # The app: its sources (no test, hack or chart files), and
  # the production dependencies from the lockfile, installed from npm's cache.
  app_files | xargs -0 cp --parents -t "$root/app"
  # JavaScript, not TypeScript: tsc erases the types here, once, so no node
  # loads Node's type stripper at start (about 17 MiB per process, measured).
  "$RCA_ROOT/node_modules/.bin/tsc" -p "$RCA_ROOT/tsconfig.image.json" --outDir "$root/app" || die "tsc could not compile the app"
  find "$root/app" -path "$root/app/node_modules" -prune -o -name '*.ts' -type f -print0 | xargs -0 rm -f
  (cd "$root/app" && npm ci --omit=dev --ignore-scripts --prefer-offline --no-audit --no-fund >/dev/null) \
    || die "npm ci --omit=dev failed"
  # Type declarations and source maps are never loaded at run time (a third of client-node's size).
  find "$root/app/node_modules" \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.map' \) -delete
  rm -f "$root/app/node_modules/.package-lock.json"
  mkdir -p "$(dirname "$out")"
  "$RCA_ROOT/hack/testbed/oci-image.sh" "$out.tmp" "$IMAGE_NAME" "$root" \
    '{"User":"65532:65532","WorkingDir":"/app","Entrypoint":["/nodejs/bin/node"],"Cmd":["operator/main.js"],
      "Env":["NODE_ENV=production","SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"]}'
  mv "$out.tmp" "$out"
  # Older builds are of no use once a newer one exists.
  find "$(dirname "$out")" -name 'runtimeclass-audit-*.tar' ! -path "$out" -delete
}

if [ -f "$out" ]; then
  log "image $IMAGE_NAME up to date ($out)"
else
  log "building image $IMAGE_NAME"
  build
  log "built $out ($(du -h "$out" | cut -f1))"
fi
if $load; then "$RCA_ROOT/hack/testbed/load-image.sh" "$out"; fi
echo "$out"
