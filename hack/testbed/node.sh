#!/usr/bin/env bash
# node.sh stop|start runtime|kubelet|cri-proxy NODE [PATTERN]: stops or
# starts one node's container runtime (containerd or CRI-O), kubelet, or the
# CRI proxy between its kubelet and runtime.
#   runtime: the way an outage or a runtime upgrade would (its pods' shims
#            and conmons keep running); tests check that the agent rides it out.
#   kubelet: so a test can run sandboxes straight through CRI on the kuscia
#            node, whose kubelet path drops every handler, without that
#            kubelet killing them as pods it does not know. start waits until
#            the node is Ready again; start kubelet NODE GIT_VERSION starts
#            the same kubelet built to say it is GIT_VERSION (v1.37.2-patched,
#            say), as an upgraded kubelet would come back.
#   cri-proxy: so a test can mend (or break) a node's kubelet path: start
#            takes the namespaces whose handler it blanks as PATTERN (a
#            regular expression; default: the node's own, as up.sh set it).
# start runtime NODE gvisor: CRI-O with runsc as its `gvisor` handler too
# (off by default: runsc needs an infra container, which CRI-O keeps only for
# pods that share their process namespace).
source "$(dirname "${BASH_SOURCE[0]}")/up.sh"
action=${1:-} part=${2:-} target=${3:-} pattern=${4:-}
usage="usage: $0 stop|start runtime|kubelet|cri-proxy NODE [PATTERN, gvisor for a CRI-O runtime, or a kubelet's version] (NODE one of ${NODES[*]})"
index=
for i in "${!NODES[@]}"; do [ "${NODES[$i]}" = "$target" ] && index=$i; done
[ -n "$index" ] || die "$usage"
node_vars "$index"
case "$part" in
  runtime) component=$RUNTIME_COMPONENT ;;
  kubelet) component="kubelet@$NODE_NAME" ;;
  cri-proxy) component="cri-proxy@$NODE_NAME" ;;
  *) die "$usage" ;;
esac
case "$action" in
  stop)
    is_running "$component" || die "$component is not running"
    stop "$component"
    ! is_running "$component" || die "$component did not stop"
    ;;
  start)
    # The binaries' places (cached builds), as up.sh and apiserver.sh find them.
    build_tools
    if [ "$part" = cri-proxy ]; then
      [ -z "$pattern" ] || BROKEN_NAMESPACES=$pattern
      start_cri_proxy
    elif [ "$part" = runtime ]; then
      [ "$pattern" != gvisor ] || export CRIO_GVISOR=1
      start_runtime
    else
      [ -z "$pattern" ] || KUBELET_BIN=$("$RCA_ROOT/hack/tools.sh" kubelet-as "$pattern") || exit 1
      start_kubelet
      # The node may still show Ready from before the stop: wait for this kubelet's own health first.
      wait_for "the kubelet of $NODE_NAME to be healthy" 60 "kubelet@$NODE_NAME" curl -fsS "http://127.0.0.1:$KUBELET_HEALTHZ_PORT/healthz"
      # Ready alone may still be the stopped kubelet's status: wait until the node reports this kubelet's version
      # (a test that asks for another version reads it next).
      wait_for "node $NODE_NAME to be Ready under kubelet ${pattern:-v$KUBE_VERSION}" 120 "kubelet@$NODE_NAME" \
        node_runs_kubelet "$NODE_NAME" "${pattern:-v$KUBE_VERSION}"
    fi
    ;;
  *) die "$usage" ;;
esac
