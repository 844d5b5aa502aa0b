#!/usr/bin/env bash
# containerd.sh stop|start NODE: stops or starts one node's containerd, the
# way an outage or a runtime upgrade would (its pods' shims keep running).
# Tests use it to check that the agent rides out a runtime restart.
source "$(dirname "${BASH_SOURCE[0]}")/up.sh"
action=${1:-} target=${2:-}
index=
for i in "${!NODES[@]}"; do [ "${NODES[$i]}" = "$target" ] && index=$i; done
[ -n "$index" ] || die "usage: $0 stop|start NODE (one of ${NODES[*]})"
node_vars "$index"
case "$action" in
  stop)
    is_running "containerd@$NODE_NAME" || die "containerd of $NODE_NAME is not running"
    stop "containerd@$NODE_NAME"
    ! is_running "containerd@$NODE_NAME" || die "containerd of $NODE_NAME did not stop"
    ;;
  start) start_containerd ;;
  *) die "usage: $0 stop|start NODE" ;;
esac
