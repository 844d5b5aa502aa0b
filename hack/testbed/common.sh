# Layout and process helpers shared by up.sh, down.sh and status.sh. Sourced.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

TB="$TESTBED_DIR"
PIDS="$TB/pids"
LOGS="$TB/logs"
PKI="$TB/pki"
KUBECONFIG_ADMIN="$TB/kubeconfig"
NODE_NAME="${RCA_NODE_NAME:-rcaudit-node}"
# The node and the API server live on the CNI bridge's own address: traffic
# from pods to https://10.96.0.1 then never leaves this machine.
BRIDGE=rca0
NODE_IP=10.244.0.1
POD_SUBNET=10.244.0.0/24
SERVICE_CIDR=10.96.0.0/16
APISERVER_PORT=6443
ETCD_CLIENT_PORT=23790
ETCD_PEER_PORT=23800
KUBELET_PORT=10250
KUBELET_HEALTHZ_PORT=10248
PROXY_METRICS_PORT=10249
PROXY_HEALTHZ_PORT=10256
CONTROLLER_MANAGER_PORT=10257
SCHEDULER_PORT=10259
CONTAINERD_SOCK="$TB/run/containerd/containerd.sock"
# The kubelet talks to containerd through the CRI proxy, which blanks the
# runtime handler for pods in namespaces matching this (the broken path).
CRI_PROXY_SOCK="$TB/run/cri-proxy.sock"
BROKEN_NAMESPACES="${RCA_BROKEN_NAMESPACES:-^broken(-.*)?\$}"
PAUSE_IMAGE=localhost/rcaudit/pause:testbed
NODE_BIN="$RCA_ROOT/node_modules/.bin/node"

# Every process we start, in start order; down.sh stops them in reverse.
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler containerd cri-proxy kubelet kube-proxy)

pid_of() { [ -f "$PIDS/$1.pid" ] && cat "$PIDS/$1.pid"; }

# is_running NAME: our recorded pid is alive and still runs what we started.
is_running() {
  local pid; pid=$(pid_of "$1") || return 1
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline" | grep -q -- "$(cat "$PIDS/$1.match")"
}

# start NAME MATCH CMD...: runs CMD detached, logging to $LOGS/NAME.log.
# MATCH is a string from the command line that proves a pid is still ours.
start() {
  local name=$1 match=$2; shift 2
  if is_running "$name"; then log "$name already running (pid $(pid_of "$name"))"; return 0; fi
  mkdir -p "$PIDS" "$LOGS"
  printf '%s' "$match" > "$PIDS/$name.match"
  setsid "$@" >>"$LOGS/$name.log" 2>&1 < /dev/null &
  echo $! > "$PIDS/$name.pid"
  log "started $name (pid $!, log $LOGS/$name.log)"
}

# wait_for WHAT SECONDS CMD...: polls CMD until it succeeds.
wait_for() {
  local what=$1 secs=$2 name=${3:-}; shift 3
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if [ -n "$name" ] && ! is_running "$name"; then
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

port_free() { ! ss -Hltn "sport = :$1" | grep -q .; }
