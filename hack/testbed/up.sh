#!/usr/bin/env bash
# Brings up a two-node Kubernetes cluster from real components on this
# machine: etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# kube-proxy, and per node a container runtime (containerd 2.x, containerd
# 1.7 or CRI-O, with gVisor's runsc on the containerd nodes), a CRI proxy and
# a kubelet. Kubernetes, the runtimes and gVisor are built from the Go module
# proxy at the versions pinned in hack/versions.env (hack/tools.sh).
# All state lives under .testbed/. Idempotent: what already runs is left
# alone. Stop everything with down.sh.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
t0=$SECONDS

preflight() {
  require_root "npm run testbed:up"
  [ -d /sys/fs/cgroup/memory ] || die "no cgroup v1 memory controller under /sys/fs/cgroup (the testbed is written for these hybrid-cgroup machines)"
  grep -qw overlay /proc/filesystems || die "the kernel has no overlay filesystem (containerd's snapshotter needs it)"
  # One testbed, one Kubernetes: its etcd holds objects as that version wrote them.
  if [ -n "$KUBE_VERSION_ASKED" ] && [ "$KUBE_VERSION_ASKED" != "$KUBE_VERSION" ]; then
    die "the testbed runs Kubernetes v$KUBE_VERSION, not v$KUBE_VERSION_ASKED: npm run testbed:down first"
  fi
  [ -e /proc/sys/net/ipv4/ip_forward ] || die "no IPv4 networking in this kernel"
  # A port taken by something that is not ours would make a component die later with a vaguer error.
  local name port i
  local specs=(registry:$REGISTRY_PORT etcd:$ETCD_CLIENT_PORT etcd:$ETCD_PEER_PORT kube-apiserver:$APISERVER_PORT
    kube-proxy:$PROXY_METRICS_PORT kube-proxy:$PROXY_HEALTHZ_PORT
    kube-controller-manager:$CONTROLLER_MANAGER_PORT kube-scheduler:$SCHEDULER_PORT)
  for i in "${!NODES[@]}"; do node_vars "$i"; specs+=("kubelet@$NODE_NAME:$KUBELET_HEALTHZ_PORT"); done
  for spec in "${specs[@]}"; do
    name=${spec%%:*} port=${spec##*:}
    is_running "$name" || port_free "$port" || die "port $port (for $name) is already in use: $(ss -Hltnp "sport = :$port" | head -1)"
  done
}

install_packages() {
  # runc and conmon (CRI-O's container monitor) are Debian's; skopeo puts
  # images into CRI-O's storage.
  apt_install runc conmon skopeo containernetworking-plugins iptables etcd-server jq openssl gcc libc6-dev \
    iproute2 conntrack ca-certificates curl
  ensure_node
}

# build_tools [VERSION]: every tool a testbed needs, Kubernetes at VERSION
# (default: the testbed's); npm test builds the oldest's ahead of time with it.
build_tools() {
  KUBE_BIN=$(KUBE_VERSION=${1:-$KUBE_VERSION} "$RCA_ROOT/hack/tools.sh" kubernetes)
  HELM_BIN=$("$RCA_ROOT/hack/tools.sh" helm)
  REGISTRY_BIN=$("$RCA_ROOT/hack/tools.sh" registry)
  local i
  # Each node's runtime, in a subshell: the caller's NODE_* stay as they were (node.sh and runtime restarts rely on them).
  for i in "${!NODES[@]}"; do
    (
      node_vars "$i"
      case $RUNTIME in
        containerd) build=$("$RCA_ROOT/hack/tools.sh" containerd "$RUNTIME_VERSION") ;;
        cri-o) build=$("$RCA_ROOT/hack/tools.sh" cri-o) ;;
      esac
      [ "$build" = "$RUNTIME_BIN" ] || die "$RUNTIME_BUILD was built into $build, not $RUNTIME_BIN"
    ) || exit 1
  done
  [ "$("$RCA_ROOT/hack/tools.sh" gvisor)" = "$GVISOR_BIN" ] || die "gVisor was not built into $GVISOR_BIN"
  export PATH="$KUBE_BIN:$HELM_BIN:$PATH"
  log "Kubernetes $("$KUBE_BIN/kube-apiserver" --version | cut -d' ' -f2), $(helm version --short), gVisor $GVISOR_VERSION"
}

make_pki() {
  mkdir -p "$PKI" "$TB/kubeconfigs"
  [ -f "$PKI/sa.key" ] || openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
  [ -f "$PKI/sa.pub" ] || openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  if [ ! -f "$PKI/tokens.csv" ]; then
    # Static tokens keep the testbed free of a CA and a CSR flow; each
    # component still gets its own identity, so RBAC and the Node authorizer apply.
    {
      echo "$(openssl rand -hex 16),admin,admin,system:masters"
      echo "$(openssl rand -hex 16),system:kube-controller-manager,kube-controller-manager,"
      echo "$(openssl rand -hex 16),system:kube-scheduler,kube-scheduler,"
      echo "$(openssl rand -hex 16),system:kube-proxy,kube-proxy,"
      for n in "${NODES[@]}"; do echo "$(openssl rand -hex 16),system:node:$n,node-$n,system:nodes"; done
    } > "$PKI/tokens.csv"
    chmod 600 "$PKI/tokens.csv"
  fi
}

# kubeconfig FILE USER: a kubeconfig for USER's static token.
kubeconfig() {
  local file=$1 user=$2 token
  token=$(awk -F, -v u="$user" '$2 == u { print $1 }' "$PKI/tokens.csv")
  write_config "$file" <<KC
apiVersion: v1
kind: Config
clusters:
- name: testbed
  cluster:
    server: https://$APISERVER_IP:$APISERVER_PORT
    certificate-authority: $PKI/apiserver/apiserver.crt
users:
- name: $user
  user:
    token: $token
contexts:
- name: testbed
  context: {cluster: testbed, user: "$user"}
current-context: testbed
KC
}

setup_host_network() {
  if [ "$(cat /proc/sys/net/ipv4/ip_forward)" != 1 ]; then
    [ -f "$TB/ip_forward.orig" ] || cat /proc/sys/net/ipv4/ip_forward > "$TB/ip_forward.orig"
    echo 1 > /proc/sys/net/ipv4/ip_forward
  fi
}

# setup_node_network: the current node's bridge, made by us so the API server
# can bind the first node's address before any pod exists (the bridge plugin adopts it).
setup_node_network() {
  ip link show "$BRIDGE" >/dev/null 2>&1 || ip link add "$BRIDGE" type bridge
  [[ "$(ip -4 addr show dev "$BRIDGE")" == *"inet $NODE_IP/"* ]] || ip addr add "$NODE_IP/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  mkdir -p "$NODE_DIR/cni/net.d"
  write_config "$NODE_DIR/cni/net.d/10-testbed.conflist" <<CNI
{
  "cniVersion": "0.4.0",
  "name": "rcaudit-$NODE_NAME",
  "plugins": [
    {
      "type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": { "type": "host-local", "ranges": [[{ "subnet": "$POD_SUBNET", "gateway": "$NODE_IP" }]],
                "routes": [{ "dst": "0.0.0.0/0" }], "dataDir": "$NODE_DIR/cni/ipam" }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
CNI
}

# start_registry: the CNCF distribution registry on loopback, its blobs in
# $TB/registry (gone with the testbed). hack/release.sh publishes the image
# and the chart there; every node's runtime pulls from it.
start_registry() {
  mkdir -p "$TB/registry/data"
  write_config "$TB/registry/config.yml" <<YAML
version: 0.1
log:
  level: info
  accesslog: { disabled: true }
storage:
  filesystem: { rootdirectory: $TB/registry/data }
  delete: { enabled: true }
http:
  addr: $REGISTRY_ADDR
YAML
  # No OpenTelemetry collector runs here: without this the registry logs a failed trace export every few seconds.
  OTEL_TRACES_EXPORTER=none start registry "serve $TB/registry/config.yml" "$REGISTRY_BIN/registry" serve "$TB/registry/config.yml"
  wait_for "the registry on $REGISTRY_ADDR" 30 registry curl -fsS "http://$REGISTRY_ADDR/v2/"
}

start_etcd() {
  start etcd "--data-dir=$TB/etcd" etcd --name=testbed --data-dir="$TB/etcd" \
    --listen-client-urls="http://127.0.0.1:$ETCD_CLIENT_PORT" --advertise-client-urls="http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster="testbed=http://127.0.0.1:$ETCD_PEER_PORT" --quota-backend-bytes=4294967296
  wait_for "etcd" 30 etcd curl -fsS "http://127.0.0.1:$ETCD_CLIENT_PORT/health"
}

start_apiserver() {
  mkdir -p "$PKI/apiserver"
  start kube-apiserver "--cert-dir=$PKI/apiserver" kube-apiserver \
    --etcd-servers="http://127.0.0.1:$ETCD_CLIENT_PORT" \
    --bind-address="$APISERVER_IP" --advertise-address="$APISERVER_IP" --secure-port="$APISERVER_PORT" \
    --cert-dir="$PKI/apiserver" --token-auth-file="$PKI/tokens.csv" \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --service-cluster-ip-range="$SERVICE_CIDR" --allow-privileged=true \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --kubelet-preferred-address-types=InternalIP --profiling=false
  wait_for "the API server's serving certificate" 60 kube-apiserver test -s "$PKI/apiserver/apiserver.crt"
  local users=(admin system:kube-controller-manager system:kube-scheduler system:kube-proxy) u n
  for n in "${NODES[@]}"; do users+=("system:node:$n"); done
  for u in "${users[@]}"; do kubeconfig "$TB/kubeconfigs/${u//:/-}.kubeconfig" "$u"; done
  cp "$TB/kubeconfigs/admin.kubeconfig" "$KUBECONFIG_ADMIN"
  wait_for "the API server to be ready" 120 kube-apiserver kubectl --kubeconfig "$KUBECONFIG_ADMIN" get --raw /readyz
}

start_control_plane() {
  local kc="$TB/kubeconfigs"
  start kube-controller-manager "--kubeconfig=$kc/system-kube-controller-manager.kubeconfig" kube-controller-manager \
    --kubeconfig="$kc/system-kube-controller-manager.kubeconfig" \
    --authentication-kubeconfig="$kc/system-kube-controller-manager.kubeconfig" \
    --authorization-kubeconfig="$kc/system-kube-controller-manager.kubeconfig" \
    --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/apiserver/apiserver.crt" \
    --use-service-account-credentials=true --leader-elect=false \
    --bind-address=127.0.0.1 --secure-port="$CONTROLLER_MANAGER_PORT" --profiling=false
  start kube-scheduler "--kubeconfig=$kc/system-kube-scheduler.kubeconfig" kube-scheduler \
    --kubeconfig="$kc/system-kube-scheduler.kubeconfig" \
    --authentication-kubeconfig="$kc/system-kube-scheduler.kubeconfig" \
    --authorization-kubeconfig="$kc/system-kube-scheduler.kubeconfig" \
    --leader-elect=false --bind-address=127.0.0.1 --secure-port="$SCHEDULER_PORT" --profiling=false
}

start_runtime() {
  case $RUNTIME in
    containerd) start_containerd ;;
    cri-o) start_crio ;;
  esac
  load_pause_image
}

# containerd_config: the node's containerd configuration. Handlers: runc
# (the default), runc-alt (a second honest one), kata configured as plain
# runc (the name promises a VM, the runtime is runc: a misconfiguration worth
# catching), and gvisor (runsc, for real). The CRI plugin's sections moved in
# containerd 2.0 (config version 3).
containerd_config() {
  local runtime images
  if [ "${RUNTIME_VERSION%%.*}" -ge 2 ]; then
    echo "version = 3"
    runtime="plugins.'io.containerd.cri.v1.runtime'" images="plugins.'io.containerd.cri.v1.images'"
  else
    echo "version = 2"
    runtime='plugins."io.containerd.grpc.v1.cri"' images=$runtime
  fi
  cat <<TOML
root = "$NODE_DIR/containerd/root"
state = "$NODE_DIR/containerd/state"
# Nothing from the machine's own /etc/containerd, and no NRI socket shared with it.
imports = []
disabled_plugins = ["io.containerd.nri.v1.nri"]
[grpc]
  address = "$RUNTIME_SOCK"
[ttrpc]
  address = "$RUNTIME_SOCK.ttrpc"
[debug]
  level = "info"
[plugins.'io.containerd.internal.v1.opt']
  path = "$NODE_DIR/containerd/opt"
TOML
  if [ "${RUNTIME_VERSION%%.*}" -ge 2 ]; then
    printf "[%s.pinned_images]\n  sandbox = \"%s\"\n[%s]\n" "$images" "$PAUSE_IMAGE" "$runtime"
  else
    printf "[%s]\n  sandbox_image = \"%s\"\n" "$runtime" "$PAUSE_IMAGE"
  fi
  cat <<TOML
  # This VM refuses to lower oom_score_adj; without this every sandbox fails.
  restrict_oom_score_adj = true
  [$runtime.containerd]
    default_runtime_name = "runc"
    [$runtime.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
    [$runtime.containerd.runtimes.kata]
      runtime_type = "io.containerd.runc.v2"
    [$runtime.containerd.runtimes.runc-alt]
      runtime_type = "io.containerd.runc.v2"
    [$runtime.containerd.runtimes.gvisor]
      runtime_type = "io.containerd.runsc.v1"
      [$runtime.containerd.runtimes.gvisor.options]
        TypeUrl = "io.containerd.runsc.v1.options"
        ConfigPath = "$NODE_DIR/containerd/runsc.toml"
  [$runtime.cni]
TOML
  if [ "${RUNTIME_VERSION%%.*}" -ge 2 ]; then echo '    bin_dirs = ["/usr/lib/cni"]'; else echo '    bin_dir = "/usr/lib/cni"'; fi
  echo "    conf_dir = \"$NODE_DIR/cni/net.d\""
  # Registry hosts, one folder each (hosts.toml): the testbed's registry speaks plain HTTP.
  printf '[%s.registry]\n  config_path = "%s"\n' "$images" "$NODE_DIR/containerd/certs.d"
}

# containerd_registry_hosts: the testbed's registry, pulled over plain HTTP.
containerd_registry_hosts() {
  mkdir -p "$NODE_DIR/containerd/certs.d/$REGISTRY_ADDR"
  write_config "$NODE_DIR/containerd/certs.d/$REGISTRY_ADDR/hosts.toml" <<TOML
server = "http://$REGISTRY_ADDR"
[host."http://$REGISTRY_ADDR"]
  capabilities = ["pull", "resolve"]
TOML
}

start_containerd() {
  mkdir -p "$NODE_DIR/containerd" "$NODE_DIR/run"
  containerd_config | write_config "$NODE_DIR/containerd/config.toml"
  containerd_registry_hosts
  # runsc on the systrap platform needs no KVM. Its state is the node's own.
  write_config "$NODE_DIR/containerd/runsc.toml" <<TOML
binary_name = "$GVISOR_BIN/runsc"
root = "$NODE_DIR/runsc"
[runsc_config]
  platform = "systrap"
TOML
  # containerd finds its shims (runc's, and gVisor's containerd-shim-runsc-v1) on PATH.
  PATH="$RUNTIME_BIN:$GVISOR_BIN:$PATH" start "$RUNTIME_COMPONENT" "--config $NODE_DIR/containerd/config.toml" \
    "$RUNTIME_BIN/containerd" --config "$NODE_DIR/containerd/config.toml"
  wait_for "containerd's socket on $NODE_NAME" 30 "$RUNTIME_COMPONENT" "$RUNTIME_BIN/ctr" --address "$RUNTIME_SOCK" version
}

# crio_storage: the containers-storage location of the node's CRI-O, as
# skopeo names it (load-image.sh puts images there).
crio_storage() { echo "overlay@$NODE_DIR/crio/root+$NODE_DIR/crio/runroot"; }

# The CRI-O node's handlers mirror the containerd nodes' but for gvisor:
# runc, runc-alt, and kata as plain runc. Every path CRI-O would take from
# the machine (/etc/crio, /var/lib/containers, /var/run/crio, ...) is the
# node's own, so nothing is shared with anything else on the machine.
start_crio() {
  local dir="$NODE_DIR/crio"
  mkdir -p "$dir/conf.d" "$dir/exits" "$dir/attach" "$dir/ns" "$dir/logs" "$NODE_DIR/run"
  # Two things CRI-O asks of runc that this machine refuses, and CRI-O has
  # no option to leave out: oom_score_adj -998 on every pod's infra
  # container (no process here may lower the score below 0), and hugetlb
  # limits (the hugetlb controller is only on the cgroup v2 hierarchy, which
  # runc does not use here; containerd tolerates its absence). runc gets the
  # bundle without them.
  write_config "$dir/runc-wrapper" <<'SH'
#!/bin/bash
# runc, but a bundle's negative oom_score_adj is raised to 0 and its hugetlb
# limits are dropped (this machine refuses both). Written by the testbed's up.sh.
set -euo pipefail
args=("$@") bundle=. create=
for ((i = 0; i < ${#args[@]}; i++)); do
  case ${args[i]} in
    create|run) create=1 ;;
    --bundle|-b) bundle=${args[i+1]:-.} ;;
    --bundle=*) bundle=${args[i]#--bundle=} ;;
  esac
done
if [ -n "$create" ]; then
  jq 'if (.process.oomScoreAdj // 0) < 0 then .process.oomScoreAdj = 0 else . end | del(.linux.resources.hugepageLimits)' \
    "$bundle/config.json" > "$bundle/config.json.testbed"
  mv "$bundle/config.json.testbed" "$bundle/config.json"
fi
exec /usr/sbin/runc "$@"
SH
  chmod 755 "$dir/runc-wrapper"
  # runsc, the same way; and runsc's gofers, which outlive the command that
  # starts them, inherit its stdout and stderr: CRI-O waits for those pipes to
  # close, and StartContainer hung forever. Here runsc writes to files instead.
  sed -e '/^exec /,$d' -e 's/^# runc, but/# runsc (systrap), but/' "$dir/runc-wrapper" > "$dir/runsc-wrapper.new"
  cat >> "$dir/runsc-wrapper.new" <<SH
out=\$(mktemp)
rc=0
"$GVISOR_BIN/runsc" --platform=systrap "\$@" >"\$out" 2>"\$out.err" </dev/null || rc=\$?
cat "\$out"; cat "\$out.err" >&2; rm -f "\$out" "\$out.err"
exit \$rc
SH
  write_config "$dir/runsc-wrapper" < "$dir/runsc-wrapper.new"
  rm -f "$dir/runsc-wrapper.new"
  chmod 755 "$dir/runsc-wrapper"
  echo '{"default":[{"type":"insecureAcceptAnything"}]}' | write_config "$dir/policy.json"
  # The testbed's registry speaks plain HTTP.
  printf 'unqualified-search-registries = []\n[[registry]]\nlocation = "%s"\ninsecure = true\n' "$REGISTRY_ADDR" | write_config "$dir/registries.conf"
  local handler handlers=""
  for handler in runc runc-alt kata; do
    handlers+="[crio.runtime.runtimes.$handler]
runtime_path = \"$dir/runc-wrapper\"
runtime_type = \"oci\"
runtime_root = \"$dir/runc\"
monitor_path = \"/usr/bin/conmon\"
monitor_cgroup = \"pod\"
"
  done
  # gvisor only when asked (CRIO_GVISOR=1; node.sh start runtime NODE gvisor):
  # runsc needs the pod's infra container, which CRI-O drops for most pods
  # (drop_infra_ctr, kept on as CRI-O's default), and a container of a pod
  # without one fails ("cannot load sandbox"); only pods that share their
  # process namespace keep it.
  if [ "${CRIO_GVISOR:-}" = 1 ]; then
    handlers+="[crio.runtime.runtimes.gvisor]
runtime_path = \"$dir/runsc-wrapper\"
runtime_type = \"oci\"
runtime_root = \"$dir/runsc\"
monitor_path = \"/usr/bin/conmon\"
monitor_cgroup = \"pod\"
"
  fi
  write_config "$dir/crio.conf" <<TOML
[crio]
root = "$dir/root"
runroot = "$dir/runroot"
storage_driver = "overlay"
log_dir = "$dir/logs"
version_file = "$dir/version"
version_file_persist = "$dir/version-persist"
clean_shutdown_file = "$dir/clean.shutdown"
[crio.api]
listen = "$RUNTIME_SOCK"
stream_address = "127.0.0.1"
stream_port = "0"
[crio.runtime]
default_runtime = "runc"
cgroup_manager = "cgroupfs"
container_exits_dir = "$dir/exits"
container_attach_socket_dir = "$dir/attach"
namespaces_dir = "$dir/ns"
pinns_path = "$RUNTIME_BIN/pinns"
hooks_dir = []
$handlers
[crio.image]
pause_image = "$PAUSE_IMAGE"
pause_command = "/pause"
signature_policy = "$dir/policy.json"
[crio.network]
network_dir = "$NODE_DIR/cni/net.d"
plugin_dirs = ["/usr/lib/cni"]
[crio.metrics]
enable_metrics = false
[crio.nri]
enable_nri = false
TOML
  CONTAINERS_REGISTRIES_CONF="$dir/registries.conf" start "$RUNTIME_COMPONENT" "--config $dir/crio.conf" \
    "$RUNTIME_BIN/crio" --config "$dir/crio.conf" --config-dir "$dir/conf.d"
  wait_for "CRI-O's socket on $NODE_NAME" 60 "$RUNTIME_COMPONENT" test -S "$RUNTIME_SOCK"
}

load_pause_image() {
  if [ "$RUNTIME" = containerd ]; then
    # (2>/dev/null: containerd 2.x's cgroup v1 deprecation notice, on every ctr call.)
    local images; images=$("$RUNTIME_BIN/ctr" --address "$RUNTIME_SOCK" -n k8s.io images ls -q 2>/dev/null)
    grep -qx "$PAUSE_IMAGE" <<< "$images" && return 0
  fi
  if [ ! -f "$TB/images/pause.tar" ]; then
    local work; work=$(mktemp -d)
    mkdir -p "$work/rootfs" "$TB/images"
    for prog in pause tcp-probe cat; do
      gcc -static -Os -Wall -o "$work/rootfs/$prog" "$RCA_ROOT/hack/testbed/images/$prog.c" || die "cannot compile $prog for the pause image"
    done
    "$RCA_ROOT/hack/testbed/oci-image.sh" "$TB/images/pause.tar" "$PAUSE_IMAGE" "$work/rootfs" '{"Entrypoint":["/pause"]}'
    rm -rf "$work"
  fi
  "$RCA_ROOT/hack/testbed/load-image.sh" --node "$NODE_NAME" "$TB/images/pause.tar"
}

start_cri_proxy() {
  start "cri-proxy@$NODE_NAME" "cri-proxy.ts --listen $CRI_PROXY_SOCK" "$NODE_BIN" "$RCA_ROOT/hack/testbed/cri-proxy.ts" \
    --listen "$CRI_PROXY_SOCK" --upstream "$RUNTIME_SOCK" --blank-namespaces "$BROKEN_NAMESPACES"
  wait_for "the CRI proxy's socket on $NODE_NAME" 30 "cri-proxy@$NODE_NAME" test -S "$CRI_PROXY_SOCK"
}

# make_cgroup_root: the kubelet wants its cgroup root to exist in every
# hierarchy; a new cpuset cgroup also needs its CPUs and memory nodes.
make_cgroup_root() {
  local h dir parent
  for h in /sys/fs/cgroup/*/; do
    [ "$h" = /sys/fs/cgroup/unified/ ] && continue
    dir=$h${CGROUP_ROOT#/}
    mkdir -p "$dir"
    if [ -f "$h/cpuset.cpus" ]; then
      parent=$(dirname "$dir")
      [ -s "$parent/cpuset.cpus" ] && [ -n "$(cat "$parent/cpuset.cpus")" ] || cat "$h/cpuset.cpus" > "$parent/cpuset.cpus"
      [ -n "$(cat "$parent/cpuset.mems")" ] || cat "$h/cpuset.mems" > "$parent/cpuset.mems"
      [ -n "$(cat "$dir/cpuset.cpus")" ] || cat "$h/cpuset.cpus" > "$dir/cpuset.cpus"
      [ -n "$(cat "$dir/cpuset.mems")" ] || cat "$h/cpuset.mems" > "$dir/cpuset.mems"
    fi
  done
}

start_kubelet() {
  local dir="$NODE_DIR/kubelet"
  mkdir -p "$dir/root" "$dir/pod-logs" "$dir/manifests"
  make_cgroup_root
  write_config "$dir/config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://$CRI_PROXY_SOCK
cgroupDriver: cgroupfs
cgroupRoot: $CGROUP_ROOT
# These machines mount cgroup v1 controllers (hybrid mode).
failCgroupV1: false
failSwapOn: false
enforceNodeAllocatable: []
address: $NODE_IP
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
# A test cluster on one machine: the API server calls the kubelet without client certificates.
authentication: { anonymous: { enabled: true }, webhook: { enabled: false } }
authorization: { mode: AlwaysAllow }
clusterDomain: cluster.local
podLogsDir: $dir/pod-logs
staticPodPath: $dir/manifests
serializeImagePulls: false
# Never evict or garbage-collect images on a shared build machine's disk.
evictionHard: { memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%" }
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
# Room for the agent's 250-sandbox tests and benchmarks (host-network pods need no pod IP).
maxPods: 300
YAML
  # KUBELET_BIN: node.sh's kubelet of another version string, else the testbed's own.
  start "kubelet@$NODE_NAME" "--root-dir=$dir/root" "${KUBELET_BIN:-kubelet}" --config="$dir/config.yaml" \
    --kubeconfig="$TB/kubeconfigs/system-node-$NODE_NAME.kubeconfig" --root-dir="$dir/root" \
    --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" --cert-dir="$dir/pki"
}

# One kube-proxy serves the whole machine: both nodes share its network
# namespace, so one set of Service rules reaches pods on either bridge.
start_kube_proxy() {
  node_vars 0
  write_config "$TB/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: { kubeconfig: $TB/kubeconfigs/system-kube-proxy.kubeconfig }
hostnameOverride: $NODE_NAME
clusterCIDR: $CLUSTER_CIDR
bindAddress: $NODE_IP
# The node's own address ("primary" says the same from 1.31 on; 1.30 refuses it).
nodePortAddresses: [$NODE_IP/32]
metricsBindAddress: 127.0.0.1:$PROXY_METRICS_PORT
healthzBindAddress: 127.0.0.1:$PROXY_HEALTHZ_PORT
# Leave the machine's conntrack sysctls alone.
conntrack: { maxPerCore: 0 }
YAML
  start kube-proxy "--config=$TB/kube-proxy.yaml" kube-proxy --config="$TB/kube-proxy.yaml"
  # A configuration it refuses makes it exit at once: say so here, not as a Service that never answers.
  wait_for "kube-proxy to be healthy" 60 kube-proxy curl -fsS "http://127.0.0.1:$PROXY_HEALTHZ_PORT/healthz"
}

node_ready() {
  [ "$(kubectl --kubeconfig "$KUBECONFIG_ADMIN" get node "$1" \
    -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]
}

# node_runs_kubelet NODE GIT_VERSION: the node is Ready and its status was written by a kubelet saying GIT_VERSION.
node_runs_kubelet() {
  [ "$(kubectl --kubeconfig "$KUBECONFIG_ADMIN" get node "$1" \
    -o jsonpath='{.status.nodeInfo.kubeletVersion}/{.status.conditions[?(@.type=="Ready")].status}')" = "$2/True" ]
}

apply_cluster_objects() {
  kubectl --kubeconfig "$KUBECONFIG_ADMIN" apply -f "$RCA_ROOT/hack/testbed/manifests/" >/dev/null
}

write_summary() {
  local i nodes=()
  for i in "${!NODES[@]}"; do
    node_vars "$i"
    nodes+=("$(jq -n --arg name "$NODE_NAME" --arg cri "unix://$RUNTIME_SOCK" --arg kcri "unix://$CRI_PROXY_SOCK" \
      --arg broken "$BROKEN_NAMESPACES" --arg ip "$NODE_IP" --arg runtime "$RUNTIME" --arg version "$RUNTIME_VERSION" \
      --arg gvisor "$([ "$RUNTIME" = containerd ] && echo true || echo false)" --arg cgroup "$CGROUP_ROOT" \
      '{name: $name, ip: $ip, runtime: $runtime, runtimeVersion: $version, gvisor: ($gvisor == "true"),
        criEndpoint: $cri, kubeletCriEndpoint: $kcri, brokenNamespaces: $broken, cgroupRoot: $cgroup}')")
  done
  printf '%s\n' "${nodes[@]}" | jq -s --arg v "v$KUBE_VERSION" --arg kc "$KUBECONFIG_ADMIN" --arg kb "$KUBE_BIN" \
    --arg hb "$HELM_BIN" --arg pause "$PAUSE_IMAGE" --arg registry "$REGISTRY_ADDR" \
    '{kubernetesVersion: $v, kubeconfig: $kc, binDirs: [$kb, $hb], pauseImage: $pause, registry: $registry, nodes: .}' > "$TB/testbed.json"
}

print_summary() {
  {
    echo
    echo "testbed up in $((SECONDS - t0))s: Kubernetes v$KUBE_VERSION"
    echo "  export KUBECONFIG=$KUBECONFIG_ADMIN PATH=$KUBE_BIN:$HELM_BIN:\$PATH"
    local i
    for i in "${!NODES[@]}"; do
      node_vars "$i"
      echo "  node $NODE_NAME ($NODE_IP): $RUNTIME $RUNTIME_VERSION unix://$RUNTIME_SOCK"
      echo "    kubelet -> CRI proxy unix://$CRI_PROXY_SOCK, blanks the handler in namespaces matching $BROKEN_NAMESPACES"
    done
    echo "  registry: http://$REGISTRY_ADDR (hack/release.sh publishes there; every node pulls from it)"
    echo "  logs: $LOGS/   stop: npm run testbed:down"
  } >&2
}

main() {
  preflight
  mkdir -p "$TB"
  echo "$KUBE_VERSION" > "$KUBE_VERSION_FILE"
  install_packages
  build_tools
  make_pki
  start_registry
  setup_host_network
  node_vars 0
  setup_node_network
  start_etcd
  start_apiserver
  start_control_plane
  local i
  for i in "${!NODES[@]}"; do
    node_vars "$i"
    setup_node_network
    start_runtime
    start_cri_proxy
    start_kubelet
  done
  start_kube_proxy
  for i in "${!NODES[@]}"; do
    node_vars "$i"
    wait_for "node $NODE_NAME to be Ready" 120 "kubelet@$NODE_NAME" node_ready "$NODE_NAME"
  done
  apply_cluster_objects
  write_summary
  print_summary
}

# Sourcing this file (tests, debugging) defines the steps without running them.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then main "$@"; fi
