# Layout and process helpers shared by up.sh, down.sh and status.sh. Sourced.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

TB="$TESTBED_DIR"
PIDS="$TB/pids"
LOGS="$TB/logs"
PKI="$TB/pki"
KUBECONFIG_ADMIN="$TB/kubeconfig"
# The Kubernetes version a running testbed was brought up with (up.sh writes
# it first; down.sh removes it with the rest): node.sh, apiserver.sh and a
# second up restart that version's components, whatever versions.env pins.
# Exported: tools.sh, and every script these start, read versions.env afresh
# and would otherwise build or start the pinned one.
KUBE_VERSION_FILE="$TB/kube-version"
if [ -s "$KUBE_VERSION_FILE" ]; then KUBE_VERSION=$(cat "$KUBE_VERSION_FILE"); fi
export KUBE_VERSION
SERVICE_CIDR=10.96.0.0/16
CLUSTER_CIDR=10.244.0.0/16
APISERVER_PORT=6443
ETCD_CLIENT_PORT=23790
ETCD_PEER_PORT=23800
KUBELET_PORT=10250
PROXY_METRICS_PORT=10249
PROXY_HEALTHZ_PORT=10256
CONTROLLER_MANAGER_PORT=10257
SCHEDULER_PORT=10259
# The registry the release path publishes to and every node pulls from
# (plain HTTP on loopback, as a node's runtime is told in its registry config).
REGISTRY_PORT=${RCA_REGISTRY_PORT:-5000}
REGISTRY_ADDR=127.0.0.1:$REGISTRY_PORT
PAUSE_IMAGE=localhost/rcaudit/pause:testbed
NODE_BIN="$RCA_ROOT/node_modules/.bin/node"

# Three real nodes on this machine, each with its own runtime, CRI proxy,
# kubelet, bridge, cgroup root and state. Each kubelet talks to its runtime
# through a CRI proxy that blanks RunPodSandbox's runtime handler for pods in
# the namespaces its pattern matches, like a kubelet that drops it:
#   rcaudit-node    containerd 2.x (current)  only "broken-*" namespaces: both paths on one node
#   rcaudit-node-2  containerd 1.7            every pod, like a node running kuscia's kubelet
#   rcaudit-node-3  CRI-O                     only "broken-*" namespaces
# Every node has the handlers runc (the default), runc-alt, and kata
# configured as plain runc (the name promises a VM, the runtime is runc: the
# misconfiguration to catch). The containerd nodes also have gvisor, runsc
# for real; CRI-O's runsc is not dependable here (its StartContainer hangs).
NODES=(rcaudit-node rcaudit-node-2 rcaudit-node-3)
NODE_RUNTIMES=("containerd-$CONTAINERD_VERSION" "containerd-$CONTAINERD_17_VERSION" "cri-o-$CRIO_VERSION")
NODE_BROKEN_NAMESPACES=("${RCA_BROKEN_NAMESPACES:-^broken(-.*)?\$}" '.*' "${RCA_BROKEN_NAMESPACES:-^broken(-.*)?\$}")

# node_vars I: sets the NODE_* and RUNTIME_* variables of node I (0-based).
node_vars() {
  local i=$1
  NODE_NAME=${NODES[$i]}
  BROKEN_NAMESPACES=${NODE_BROKEN_NAMESPACES[$i]}
  # containerd-2.4.2 or cri-o-1.34.0: the runtime, and the cache folder its build lives in.
  RUNTIME_BUILD=${NODE_RUNTIMES[$i]}
  RUNTIME=${RUNTIME_BUILD%-*}
  RUNTIME_VERSION=${RUNTIME_BUILD##*-}
  RUNTIME_BIN="$RCA_CACHE/tools/$RUNTIME_BUILD/bin"
  # The node lives on its CNI bridge's own address (the first node's is the
  # API server's too): traffic from pods never leaves this machine.
  BRIDGE=rca$i
  NODE_IP=10.244.$i.1
  POD_SUBNET=10.244.$i.0/24
  NODE_DIR="$TB/nodes/$NODE_NAME"
  # RUNTIME_COMPONENT: the process the testbed starts for the runtime (status.sh, down.sh, node.sh).
  case $RUNTIME in
    cri-o) RUNTIME_SOCK="$NODE_DIR/run/crio.sock" RUNTIME_COMPONENT="crio@$NODE_NAME" ;;
    *) RUNTIME_SOCK="$NODE_DIR/run/containerd.sock" RUNTIME_COMPONENT="containerd@$NODE_NAME" ;;
  esac
  CRI_PROXY_SOCK="$NODE_DIR/run/cri-proxy.sock"
  KUBELET_HEALTHZ_PORT=$((10248 + 100 * i))
  # Each kubelet gets its own cgroup tree so no two manage each other's pods.
  CGROUP_ROOT=/rcaudit/$NODE_NAME
}
GVISOR_BIN="$RCA_CACHE/tools/gvisor-$GVISOR_VERSION/bin"
node_vars 0
APISERVER_IP=$NODE_IP

# Every process we start, in start order: status.sh reports them and down.sh
# checks that none is left.
COMPONENTS=(registry etcd kube-apiserver kube-controller-manager kube-scheduler)
for i in "${!NODES[@]}"; do node_vars "$i"; COMPONENTS+=("$RUNTIME_COMPONENT" "cri-proxy@$NODE_NAME" "kubelet@$NODE_NAME"); done
COMPONENTS+=(kube-proxy)
node_vars 0
unset i

pid_of() { [ -f "$PIDS/$1.pid" ] && cat "$PIDS/$1.pid"; }

# is_running NAME: our recorded pid is alive and still runs what we started.
is_running() {
  local pid; pid=$(pid_of "$1") || return 1
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  [[ "$(tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline")" == *"$(cat "$PIDS/$1.match")"* ]]
}

# start NAME MATCH CMD...: runs CMD detached, logging to $LOGS/NAME.log.
# MATCH is a string from the command line that proves a pid is still ours.
start() {
  local name=$1 match=$2; shift 2
  if is_running "$name"; then log "$name already running (pid $(pid_of "$name"))"; return 0; fi
  mkdir -p "$PIDS" "$LOGS"
  printf '%s' "$match" > "$PIDS/$name.match"
  setsid "$@" >>"$LOGS/$name.log" 2>&1 < /dev/null &
  local pid=$!
  echo "$pid" > "$PIDS/$name.pid"
  # Until the child has exec'd, its command line is still this script's, and
  # is_running would call it dead: wait for the exec (or for its death).
  for _ in $(seq 1 100); do is_running "$name" || ! kill -0 "$pid" 2>/dev/null && break; sleep 0.05; done
  log "started $name (pid $pid, log $LOGS/$name.log)"
}

# stop NAME: TERM the process group we started, KILL it after 15 s.
stop() {
  local name=$1 pid
  if is_running "$name"; then
    pid=$(pid_of "$name")
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do is_running "$name" || break; sleep 0.5; done
    if is_running "$name"; then
      log "$name (pid $pid) ignored SIGTERM; killing"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
      sleep 1
    fi
    # Keep the pid file of a process that survived even SIGKILL, so the check below reports it.
    if is_running "$name"; then log "$name (pid $pid) is still running"; return 0; fi
    log "stopped $name (pid $pid)"
  fi
  rm -f "$PIDS/$name.pid" "$PIDS/$name.match"
}

# wait_for WHAT SECONDS CMD...: polls CMD until it succeeds.
wait_for() {
  local what=$1 secs=$2 name=${3:-}; shift 3
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    # Dead, not merely unrecognized: on a loaded machine the child may not
    # have exec'd yet (its command line still this script's), and waiting
    # on is what the deadline is for. Seen: etcd and CRI-O called dead
    # while the unit tests ran beside `testbed:up`.
    if [ -n "$name" ] && ! is_running "$name" && ! kill -0 "$(pid_of "$name")" 2>/dev/null; then
      tail -n 30 "$LOGS/$name.log" >&2 || true
      die "$name exited while waiting for $what (log: $LOGS/$name.log)"
    fi
    [ $SECONDS -lt $deadline ] || { [ -n "$name" ] && tail -n 30 "$LOGS/$name.log" >&2; die "timed out after ${secs}s waiting for $what"; }
    sleep 0.5
  done
}

# write_config FILE < content: replaces FILE only when the content differs.
# kube-proxy exits when its config file changes under it, and a second `up`
# must leave a running testbed alone.
write_config() {
  local tmp; tmp=$(mktemp "$1.XXXXXX")
  cat > "$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv "$tmp" "$1"; fi
}

port_free() { [ -z "$(ss -Hltn "sport = :$1")" ]; }
