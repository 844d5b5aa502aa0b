#!/usr/bin/env bash
# runtime.sh stop|start NODE: stops or starts one node's container runtime
# (containerd or CRI-O), the way an outage or a runtime upgrade would (its
# pods' shims and conmons keep running). Tests use it to check that the
# agent rides out a runtime restart.
source "$(dirname "${BASH_SOURCE[0]}")/up.sh"
action=${1:-} target=${2:-}
index=
for i in "${!NODES[@]}"; do [ "${NODES[$i]}" = "$target" ] && index=$i; done
[ -n "$index" ] || die "usage: $0 stop|start NODE (one of ${NODES[*]})"
node_vars "$index"
case "$action" in
  stop)
    is_running "$RUNTIME_COMPONENT" || die "the runtime of $NODE_NAME ($RUNTIME_COMPONENT) is not running"
    stop "$RUNTIME_COMPONENT"
    ! is_running "$RUNTIME_COMPONENT" || die "the runtime of $NODE_NAME ($RUNTIME_COMPONENT) did not stop"
    ;;
  start) start_runtime ;;
  *) die "usage: $0 stop|start NODE" ;;
esac
