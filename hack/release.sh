#!/usr/bin/env bash
# hack/release.sh [--source ARCHIVE] [--force] — publishes one version of
# runtimeclass-audit: its image and its chart, to the registry $RCA_REGISTRY.
#
#   RCA_REGISTRY=registry.example.com/rcaudit hack/release.sh
#     image  registry.example.com/rcaudit/runtimeclass-audit:<version>
#     chart  oci://registry.example.com/rcaudit/charts/runtimeclass-audit, version <version>
#
# The version is package.json's "version", the one place it is set: the
# image's tag, the chart's version and its appVersion all say it, and the
# script refuses a Chart.yaml that disagrees. It refuses to publish over a
# version the registry has (image or chart), unless --force. --source
# publishes an earlier release from its source archive instead of this tree
# (hack/releases/: git archives kept in the tree, so a clone without tags
# or history, as CI's may be, can still rebuild what was released).
#
# The image: where a build engine runs (docker), the Dockerfile, built and
# pushed by it; else the same filesystem as an OCI image layout
# (hack/image.sh), pushed with crane. A registry on 127.0.0.1 or localhost
# is spoken to in plain HTTP (the testbed's); any other over HTTPS, with the
# credentials of `helm registry login` and ~/.docker/config.json.
# The image's SBOM (CycloneDX JSON: the npm packages the image ships, from
# the tree's lockfile, and the Node.js runtime) is attached to the image by
# digest as an OCI referrer (oras attach), so whoever pulls the image by
# digest finds what is in it: `oras discover <image>@<digest>`.
# This is the script a hosted CI job calls to publish. Prints, last, the
# image reference with its digest, the SBOM's reference and the chart reference.
caller_dir=$PWD
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$RCA_ROOT"

source="" force=false
while [ $# -gt 0 ]; do
  case $1 in
    --source) source=${2:?--source needs a source archive}; [[ $source = /* ]] || source="$caller_dir/$source"; shift 2 ;;
    --force) force=true; shift ;;
    *) die "usage: RCA_REGISTRY=host[:port]/path $0 [--source ARCHIVE] [--force]" ;;
  esac
done
REGISTRY=${RCA_REGISTRY:-}
[ -n "$REGISTRY" ] || die "RCA_REGISTRY is not set: the registry (and path) to publish to, e.g. RCA_REGISTRY=registry.example.com/rcaudit"
REGISTRY=${REGISTRY%/}
[ -z "$source" ] || [ -f "$source" ] || die "no source archive $source (hack/releases/ holds the earlier releases)"
host=${REGISTRY%%/*}
started=$SECONDS

apt_install jq curl ca-certificates
ensure_node
HELM="$("$RCA_ROOT/hack/tools.sh" helm)/helm"
CRANE="$("$RCA_ROOT/hack/tools.sh" crane)/crane"
ORAS="$("$RCA_ROOT/hack/tools.sh" oras)/oras"
plain=() insecure=() scheme=https
case $host in
  127.*|localhost|localhost:*) plain=(--plain-http) insecure=(--insecure) scheme=http ;;
esac

# The registry must answer before anything is built or pushed (401 is an answer: it wants a login).
code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 "$scheme://$host/v2/" 2>/dev/null) || code=000
case $code in
  200|401) ;;
  *) die "the registry $host does not answer at $scheme://$host/v2/ (HTTP $code): nothing was published. Is it running (npm run testbed:up starts the testbed's)?" ;;
esac

# The tree to publish: this one, or a source archive unpacked with its own dependencies.
tree=$RCA_ROOT
if [ -n "$source" ]; then
  tree=$(mktemp -d "${TMPDIR:-/tmp}/rcaudit-release.XXXXXX")
  # shellcheck disable=SC2064 # expand now
  trap "rm -rf '$tree'" EXIT
  tar -xzf "$source" -C "$tree" --strip-components=1 || die "cannot unpack $source"
  [ -f "$tree/package.json" ] || die "$source is not a source archive of runtimeclass-audit (no package.json at its top)"
  # The image build lists the app's files with git, as in any clone.
  git -C "$tree" init -q && git -C "$tree" add -A || die "cannot index $source's files"
  log "installing $(basename "$source")'s dependencies (npm ci, offline when npm's cache has them)"
  (cd "$tree" && npm ci --prefer-offline --no-audit --no-fund --ignore-scripts >/dev/null) || die "npm ci failed in $source's tree"
fi

version=$(jq -r .version "$tree/package.json")
chart_version=$(sed -n 's/^version: *//p' "$tree/charts/runtimeclass-audit/Chart.yaml")
app_version=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$tree/charts/runtimeclass-audit/Chart.yaml")
[ "$chart_version" = "$version" ] && [ "$app_version" = "$version" ] \
  || die "package.json says $version, but Chart.yaml's version is $chart_version and appVersion $app_version: they must agree"
image="$REGISTRY/runtimeclass-audit:$version"
chart="oci://$REGISTRY/charts/runtimeclass-audit"

# Published already? The image, or the chart.
if "$CRANE" "${insecure[@]}" manifest "$image" >/dev/null 2>&1 || "$HELM" show chart "$chart" --version "$version" "${plain[@]}" >/dev/null 2>&1; then
  $force || die "version $version is published already ($image or $chart): not publishing over it (--force to)"
  log "version $version is published already; --force: publishing over it"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/rcaudit-publish.XXXXXX")
trap 'rm -rf "$work"; [ "$tree" = "$RCA_ROOT" ] || rm -rf "$tree"' EXIT

if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  log "building $image from the Dockerfile with docker"
  docker build -t "$image" "$tree" >&2 || die "docker build failed"
  docker push "$image" >&2 || die "docker push $image failed"
  digest=$(docker inspect --format '{{index .RepoDigests 0}}' "$image" | sed 's/.*@//')
else
  log "building $image as an OCI image layout (no build engine here: hack/image.sh)"
  tarball=$(RCA_IMAGE="$image" bash "$tree/hack/image.sh") || die "building the image failed"
  mkdir -p "$work/layout"
  tar -xf "$tarball" -C "$work/layout"
  "$CRANE" "${insecure[@]}" push "$work/layout" "$image" >"$work/pushed" 2>"$work/crane.log" || { cat "$work/crane.log" >&2; die "pushing $image failed"; }
  digest=$(sed 's/.*@//' "$work/pushed")
fi
image_bytes=$("$CRANE" "${insecure[@]}" manifest "$image@$digest" | jq '[.layers[].size, .config.size] | add')

log "attaching the image's SBOM (CycloneDX) to $image@$digest"
# Production dependencies only (the image installs no others), as the tree's lockfile pins them; then the runtime, which the lockfile
# carries as a development dependency (hack/image.sh and the Dockerfile put that Node release in the image).
node_version=$(jq -r '.devDependencies.node' "$tree/package.json")
(cd "$tree" && "$RCA_ROOT/node_modules/.bin/cyclonedx-npm" --omit dev --output-format JSON --spec-version 1.6 --output-reproducible \
  --output-file "$work/sbom.cdx.json") 2>"$work/sbom.log" || { cat "$work/sbom.log" >&2; die "making the SBOM failed"; }
jq --arg v "$node_version" '.components += [{type: "platform", name: "node", version: $v, purl: "pkg:github/nodejs/node@v\($v)", "bom-ref": "nodejs-runtime"}]' \
  "$work/sbom.cdx.json" >"$work/sbom.json" && mv "$work/sbom.json" "$work/sbom.cdx.json"
(cd "$work" && "$ORAS" attach "${plain[@]}" --artifact-type application/vnd.cyclonedx+json --format go-template='{{.reference}}' \
  "$image@$digest" sbom.cdx.json:application/vnd.cyclonedx+json >"$work/sbom.ref" 2>"$work/oras.log") ||
  { cat "$work/oras.log" >&2; die "attaching the SBOM to $image@$digest failed"; }

log "packaging and pushing the chart, version $version"
"$HELM" package "$tree/charts/runtimeclass-audit" --version "$version" --app-version "$version" --destination "$work" >/dev/null || die "helm package failed"
"$HELM" push "$work/runtimeclass-audit-$version.tgz" "oci://$REGISTRY/charts" "${plain[@]}" >&2 || die "helm push to oci://$REGISTRY/charts failed"
chart_bytes=$(stat -c %s "$work/runtimeclass-audit-$version.tgz")

log "published $version in $((SECONDS - started))s: image $((image_bytes / 1024)) KiB as pushed (layers and config), chart $((chart_bytes / 1024)) KiB"
echo "image $image@$digest"
echo "sbom $(cat "$work/sbom.ref")"
echo "chart $chart --version $version"
