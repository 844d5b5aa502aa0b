#!/usr/bin/env bash
# capture-cri.sh: runs a pod per handler on every testbed node (no
# RuntimeClass, runc, kata, gvisor where the node has it, and kata on the
# node's broken path) and saves what each node's runtime answers over CRI
# into test/fixtures/cri/<runtime>-<version>/, the unit tests' fixtures.
# On the kuscia node, whose kubelet path drops every handler, the honest
# ones are sandboxes run straight through CRI while its kubelet is stopped.
# It also saves what the host's /proc shows of some of those pods' sandboxes
# into test/fixtures/proc/<runtime>-<version>/<pod>/, for isolation evidence.
# Run after a runtime upgrade; needs a running testbed (npm run testbed:up).
source "$(dirname "${BASH_SOURCE[0]}")/testbed/common.sh"
[ -f "$TB/testbed.json" ] || die "no testbed running (npm run testbed:up)"
export KUBECONFIG=$KUBECONFIG_ADMIN
PATH="$(jq -r '.binDirs | join(":")' "$TB/testbed.json"):$PATH"
ns=fixtures broken=broken-fixtures
kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl create namespace "$broken" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
trap 'kubectl delete namespace "$ns" "$broken" --wait=false >/dev/null 2>&1 || true' EXIT

# pod NAMESPACE NAME NODE [RUNTIMECLASS]
pod() {
  jq -n --arg ns "$1" --arg name "$2" --arg node "$3" --arg class "${4:-}" --arg image "$PAUSE_IMAGE" '{
    apiVersion: "v1", kind: "Pod", metadata: {namespace: $ns, name: $name},
    spec: ({nodeName: $node, terminationGracePeriodSeconds: 1,
      containers: [{name: "main", image: $image, imagePullPolicy: "Never"}]}
      + (if $class == "" then {} else {runtimeClassName: $class} end))}' | kubectl apply -f - >/dev/null
}

for i in "${!NODES[@]}"; do
  node_vars "$i"
  specs=("$ns/default=default" "$ns/runc=runc" "$ns/kata=kata" "$broken/kata=broken-kata")
  pod "$broken" kata "$NODE_NAME" kata
  procs=()
  if [ "$RUNTIME" = containerd ]; then pod "$broken" gvisor "$NODE_NAME" gvisor; procs+=("$broken/gvisor=dropped-gvisor"); fi
  if ! [[ "$ns" =~ $BROKEN_NAMESPACES ]]; then
    pod "$ns" default "$NODE_NAME"
    for class in runc kata; do pod "$ns" "$class" "$NODE_NAME" "$class"; done
    procs+=("$ns/kata=kata")
    if [ "$RUNTIME" = containerd ]; then pod "$ns" gvisor "$NODE_NAME" gvisor; specs+=("$ns/gvisor=gvisor"); procs+=("$ns/gvisor=gvisor"); fi
    kubectl wait -n "$ns" pod --all --for=condition=Ready --timeout=120s >/dev/null
  fi
  kubectl wait -n "$broken" pod --all --for=condition=Ready --timeout=120s >/dev/null
  out="$RCA_ROOT/test/fixtures/cri/$RUNTIME_BUILD"
  rm -rf "$out"
  if [[ "$ns" =~ $BROKEN_NAMESPACES ]]; then
    # Every pod's handler is dropped here: the honest answers come from sandboxes run without the kubelet.
    specs=("$broken/kata=broken-kata" run:default=default run:runc=runc run:kata=kata)
    [ "$RUNTIME" != containerd ] || specs+=(run:gvisor=gvisor)
    bash "$RCA_ROOT/hack/testbed/node.sh" stop kubelet "$NODE_NAME"
    "$NODE_BIN" "$RCA_ROOT/hack/testbed/capture-cri.ts" "unix://$RUNTIME_SOCK" "$out" "$CGROUP_ROOT" "${specs[@]}"
    bash "$RCA_ROOT/hack/testbed/node.sh" start kubelet "$NODE_NAME"
  else
    "$NODE_BIN" "$RCA_ROOT/hack/testbed/capture-cri.ts" "unix://$RUNTIME_SOCK" "$out" "$CGROUP_ROOT" "${specs[@]}"
  fi
  proc_out="$RCA_ROOT/test/fixtures/proc/$RUNTIME_BUILD"
  rm -rf "$proc_out"
  "$NODE_BIN" "$RCA_ROOT/hack/testbed/capture-proc.ts" "unix://$RUNTIME_SOCK" "$proc_out" "${procs[@]}"
  log "captured $RUNTIME $RUNTIME_VERSION on $NODE_NAME into ${out#"$RCA_ROOT/"} and ${proc_out#"$RCA_ROOT/"}"
  kubectl delete -n "$ns" pod --all --wait=true --timeout=60s >/dev/null
  kubectl delete -n "$broken" pod --all --wait=true --timeout=60s >/dev/null
done
