#!/usr/bin/env bash
# Brings up a one-node Kubernetes cluster from real components on this machine:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, containerd
# (Debian's), a kubelet and kube-proxy. All state lives under .testbed/.
# Idempotent: what already runs is left alone. Stop everything with down.sh.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
t0=$SECONDS

preflight() {
  require_root "npm run testbed:up"
  [ -d /sys/fs/cgroup/memory ] || [ -f /sys/fs/cgroup/cgroup.controllers ] || die "no cgroup memory controller mounted under /sys/fs/cgroup"
  grep -qw overlay /proc/filesystems || die "the kernel has no overlay filesystem (containerd's snapshotter needs it)"
  [ -e /proc/sys/net/ipv4/ip_forward ] || die "no IPv4 networking in this kernel"
  # A port taken by something that is not ours would make a component die later with a vaguer error.
  local name port
  for spec in etcd:$ETCD_CLIENT_PORT etcd:$ETCD_PEER_PORT kube-apiserver:$APISERVER_PORT kubelet:$KUBELET_PORT \
      kubelet:$KUBELET_HEALTHZ_PORT kube-proxy:$PROXY_METRICS_PORT kube-proxy:$PROXY_HEALTHZ_PORT \
      kube-controller-manager:$CONTROLLER_MANAGER_PORT kube-scheduler:$SCHEDULER_PORT; do
    name=${spec%%:*} port=${spec##*:}
    is_running "$name" || port_free "$port" || die "port $port (for $name) is already in use: $(ss -Hltnp "sport = :$port" | head -1)"
  done
}

install_packages() {
  apt_install containerd runc containernetworking-plugins iptables etcd-server jq openssl gcc libc6-dev \
    iproute2 conntrack ca-certificates
  [ -x "$NODE_BIN" ] || (cd "$RCA_ROOT" && npm ci --no-fund --no-audit >/dev/null) || die "npm ci failed"
}

build_tools() {
  KUBE_BIN=$("$RCA_ROOT/hack/tools.sh" kubernetes)
  HELM_BIN=$("$RCA_ROOT/hack/tools.sh" helm)
  export PATH="$KUBE_BIN:$HELM_BIN:$PATH"
  log "Kubernetes $("$KUBE_BIN/kube-apiserver" --version | cut -d' ' -f2), $(helm version --short), containerd $(containerd --version | cut -d' ' -f3)"
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
      echo "$(openssl rand -hex 16),system:node:$NODE_NAME,node-$NODE_NAME,system:nodes"
      echo "$(openssl rand -hex 16),system:kube-controller-manager,kube-controller-manager,"
      echo "$(openssl rand -hex 16),system:kube-scheduler,kube-scheduler,"
      echo "$(openssl rand -hex 16),system:kube-proxy,kube-proxy,"
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
    server: https://$NODE_IP:$APISERVER_PORT
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
  chmod 600 "$file"
}

setup_network() {
  if [ "$(cat /proc/sys/net/ipv4/ip_forward)" != 1 ]; then
    [ -f "$TB/ip_forward.orig" ] || cat /proc/sys/net/ipv4/ip_forward > "$TB/ip_forward.orig"
    echo 1 > /proc/sys/net/ipv4/ip_forward
  fi
  # Create the CNI bridge ourselves so the API server can bind its address
  # before the first pod exists; the bridge plugin adopts it.
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
  fi
  ip addr show dev "$BRIDGE" | grep -q "inet $NODE_IP/" || ip addr add "$NODE_IP/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  mkdir -p "$TB/cni/net.d"
  write_config "$TB/cni/net.d/10-testbed.conflist" <<CNI
{
  "cniVersion": "0.4.0",
  "name": "rcaudit-testbed",
  "plugins": [
    {
      "type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": { "type": "host-local", "ranges": [[{ "subnet": "$POD_SUBNET", "gateway": "$NODE_IP" }]],
                "routes": [{ "dst": "0.0.0.0/0" }], "dataDir": "$TB/cni/ipam" }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
CNI
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
    --bind-address="$NODE_IP" --advertise-address="$NODE_IP" --secure-port="$APISERVER_PORT" \
    --cert-dir="$PKI/apiserver" --token-auth-file="$PKI/tokens.csv" \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --service-cluster-ip-range="$SERVICE_CIDR" --allow-privileged=true \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --kubelet-preferred-address-types=InternalIP --profiling=false
  wait_for "the API server's serving certificate" 60 kube-apiserver test -s "$PKI/apiserver/apiserver.crt"
  for u in admin system:kube-controller-manager system:kube-scheduler system:kube-proxy "system:node:$NODE_NAME"; do
    kubeconfig "$TB/kubeconfigs/${u//:/-}.kubeconfig" "$u"
  done
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

start_containerd() {
  mkdir -p "$TB/containerd" "$(dirname "$CONTAINERD_SOCK")"
  # Handlers: runc (the default), kata configured as plain runc (the name
  # promises kata, the runtime is runc: a misconfiguration worth catching),
  # and runc-alt, a second honest handler.
  write_config "$TB/containerd/config.toml" <<TOML
version = 2
root = "$TB/containerd/root"
state = "$TB/containerd/state"
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"
[debug]
  level = "info"
[plugins."io.containerd.internal.v1.opt"]
  path = "$TB/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # This VM refuses to lower oom_score_adj; without this every sandbox fails.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.kata]
      runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc-alt]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$TB/cni/net.d"
TOML
  start containerd "--config $TB/containerd/config.toml" containerd --config "$TB/containerd/config.toml"
  wait_for "containerd's socket" 30 containerd ctr --address "$CONTAINERD_SOCK" version
  load_pause_image
}

load_pause_image() {
  ctr --address "$CONTAINERD_SOCK" -n k8s.io images ls -q | grep -qx "$PAUSE_IMAGE" && return 0
  local work; work=$(mktemp -d)
  mkdir -p "$work/rootfs"
  for prog in pause tcp-probe; do
    gcc -static -Os -Wall -o "$work/rootfs/$prog" "$RCA_ROOT/test/testbed/images/$prog.c" || die "cannot compile $prog for the pause image"
  done
  "$RCA_ROOT/hack/testbed/oci-image.sh" "$work/pause.tar" "$PAUSE_IMAGE" "$work/rootfs" '["/pause"]'
  "$RCA_ROOT/hack/testbed/load-image.sh" "$work/pause.tar"
  rm -rf "$work"
}

start_cri_proxy() {
  start cri-proxy "cri-proxy.ts --listen $CRI_PROXY_SOCK" "$NODE_BIN" "$RCA_ROOT/test/testbed/cri-proxy.ts" \
    --listen "$CRI_PROXY_SOCK" --upstream "$CONTAINERD_SOCK" --blank-namespaces "$BROKEN_NAMESPACES"
  wait_for "the CRI proxy's socket" 30 cri-proxy test -S "$CRI_PROXY_SOCK"
}

start_kubelet() {
  local dir="$TB/kubelet"
  mkdir -p "$dir/root" "$dir/pod-logs" "$dir/manifests"
  write_config "$dir/config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://$CRI_PROXY_SOCK
cgroupDriver: cgroupfs
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
YAML
  start kubelet "--root-dir=$dir/root" kubelet --config="$dir/config.yaml" \
    --kubeconfig="$TB/kubeconfigs/system-node-$NODE_NAME.kubeconfig" --root-dir="$dir/root" \
    --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" --cert-dir="$dir/pki"
}

start_kube_proxy() {
  write_config "$TB/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: { kubeconfig: $TB/kubeconfigs/system-kube-proxy.kubeconfig }
hostnameOverride: $NODE_NAME
clusterCIDR: $POD_SUBNET
bindAddress: $NODE_IP
nodePortAddresses: [primary]
metricsBindAddress: 127.0.0.1:$PROXY_METRICS_PORT
healthzBindAddress: 127.0.0.1:$PROXY_HEALTHZ_PORT
# Leave the machine's conntrack sysctls alone.
conntrack: { maxPerCore: 0 }
YAML
  start kube-proxy "--config=$TB/kube-proxy.yaml" kube-proxy --config="$TB/kube-proxy.yaml"
}

node_ready() {
  [ "$(kubectl --kubeconfig "$KUBECONFIG_ADMIN" get node "$NODE_NAME" \
    -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]
}

apply_cluster_objects() {
  kubectl --kubeconfig "$KUBECONFIG_ADMIN" apply -f "$RCA_ROOT/test/testbed/manifests/" >/dev/null
}

write_summary() {
  cat > "$TB/testbed.json" <<JSON
{
  "kubernetesVersion": "v$KUBE_VERSION",
  "kubeconfig": "$KUBECONFIG_ADMIN",
  "binDirs": ["$KUBE_BIN", "$HELM_BIN"],
  "pauseImage": "$PAUSE_IMAGE",
  "brokenNamespaces": "$BROKEN_NAMESPACES",
  "nodes": [
    {
      "name": "$NODE_NAME",
      "criEndpoint": "unix://$CONTAINERD_SOCK",
      "kubeletCriEndpoint": "unix://$CRI_PROXY_SOCK",
      "handlers": { "runc": "io.containerd.runc.v2", "kata": "io.containerd.runc.v2", "runc-alt": "io.containerd.runc.v2" },
      "defaultHandler": "runc"
    }
  ]
}
JSON
}

main() {
  preflight
  mkdir -p "$TB"
  install_packages
  build_tools
  make_pki
  setup_network
  start_etcd
  start_apiserver
  start_control_plane
  start_containerd
  start_cri_proxy
  start_kubelet
  start_kube_proxy
  wait_for "node $NODE_NAME to be Ready" 120 kubelet node_ready
  apply_cluster_objects
  write_summary
  cat >&2 <<MSG

  testbed up in $((SECONDS - t0))s: Kubernetes v$KUBE_VERSION, node $NODE_NAME Ready
    export KUBECONFIG=$KUBECONFIG_ADMIN PATH=$KUBE_BIN:$HELM_BIN:\$PATH
    containerd CRI socket:   unix://$CONTAINERD_SOCK
    kubelet's CRI endpoint:  unix://$CRI_PROXY_SOCK (blanks the handler in namespaces matching $BROKEN_NAMESPACES)
    logs: $LOGS/   stop: npm run testbed:down
MSG
}

# Sourcing this file (tests, debugging) defines the steps without running them.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then main "$@"; fi
