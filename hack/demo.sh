#!/usr/bin/env bash
# The README's first command: bring up the testbed, show pods meant for kata
# whose sandboxes really ran with another handler with nothing in the API to
# tell, then build the image, `helm install` the chart and show
# `kubectl get audits` catching them.
source "$(dirname "${BASH_SOURCE[0]}")/testbed/common.sh"
cd "$RCA_ROOT"
bash hack/testbed/up.sh
KUBE_BIN=$(hack/tools.sh kubernetes)
HELM_BIN=$(hack/tools.sh helm)
k() { "$KUBE_BIN/kubectl" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }
h() { KUBECONFIG="$KUBECONFIG_ADMIN" "$HELM_BIN/helm" "$@"; }
RELEASE=rcaudit RELEASE_NS=rcaudit-system AGENT_NS=rcaudit-agent

for ns in payments broken-payments; do
  k create namespace "$ns" --dry-run=client -o yaml | k apply -f - >/dev/null
  # A new namespace's default ServiceAccount must exist before a pod can be admitted.
  for _ in $(seq 1 60); do k get -n "$ns" serviceaccount default >/dev/null 2>&1 && break; sleep 0.5; done
done
k apply -f test/testbed/demo-pods.yaml >/dev/null
k wait --for=condition=Ready --timeout=120s -n payments pod/card-vault pod/ledger >/dev/null
k wait --for=condition=Ready --timeout=120s -n broken-payments pod/card-vault >/dev/null

echo
echo "== What the API server says: every pod asked for kata, every pod is Running."
k get pods -A -o custom-columns='NAMESPACE:.metadata.namespace,POD:.metadata.name,RUNTIMECLASS:.spec.runtimeClassName,NODE:.spec.nodeName,PHASE:.status.phase' \
  | awk 'NR == 1 || $1 ~ /^(broken-)?payments$/'
for i in "${!NODES[@]}"; do
  node_vars "$i"
  echo
  echo "== What containerd on $NODE_NAME says each sandbox really got:"
  "$NODE_BIN" test/testbed/sandboxes.ts "unix://$RUNTIME_SOCK" | awk 'NR == 1 || $1 ~ /^(broken-)?payments$/'
done
node_vars 0
cat <<MSG

Only payments/card-vault really got handler "kata". broken-payments/card-vault
lost its handler on the way (rcaudit-node's CRI path drops it for "broken-*"
namespaces), and payments/ledger runs on rcaudit-node-2, whose kubelet path
drops every pod's handler, as kuscia's kubelet does. Nothing in Kubernetes
says so. (And "kata" itself is configured as plain runc on these nodes: the
runtime type column shows it.)

MSG

echo "== Installing runtimeclass-audit with Helm: the image, an agent per node, the operator."
# Earlier versions of this demo ran the agents and the operator as plain processes.
stop operator
for n in "${NODES[@]}"; do stop "agent@$n"; done
log "building the image and loading it into both nodes' containerd (no registry here)"
bash hack/image.sh --load >/dev/null
# CRDs applied by hand (npm test does) are adopted into the release, the way
# the chart's README tells users who applied them before installing.
for crd in nodesandboxreports.rcaudit.dev runtimeclassaudits.rcaudit.dev; do
  if k get crd "$crd" >/dev/null 2>&1; then
    k annotate --overwrite crd "$crd" meta.helm.sh/release-name=$RELEASE meta.helm.sh/release-namespace=$RELEASE_NS >/dev/null
    k label --overwrite crd "$crd" app.kubernetes.io/managed-by=Helm >/dev/null
  fi
done
# Both testbed nodes live on this one machine, so each node's containerd
# socket has its own path: the main DaemonSet takes the first node's, and
# criSocketByNodeLabel gives the second its own (by hostname).
node_vars 1; second_sock=${RUNTIME_SOCK}; second=$NODE_NAME
node_vars 0
cat > "$TB/demo-values.yaml" <<YAML
image: { pullPolicy: Never }
agent:
  namespace: { name: $AGENT_NS, create: true }
  criSocket: $RUNTIME_SOCK
  criSocketByNodeLabel:
    key: kubernetes.io/hostname
    sockets: { $second: $second_sock }
  interval: 1s
reportPolicy: { enabled: true }
YAML
h upgrade --install $RELEASE charts/runtimeclass-audit -n $RELEASE_NS --create-namespace \
  -f "$TB/demo-values.yaml" --wait --timeout 300s >/dev/null
k -n $AGENT_NS rollout status daemonset --timeout=120s >/dev/null
for _ in $(seq 1 120); do
  [ "$(k get audit cluster -o jsonpath='{.status.counts.mismatched}' 2>/dev/null)" = 2 ] && break
  sleep 0.5
done
k get pods -n $AGENT_NS -o wide
k get pods -n $RELEASE_NS

echo
echo "== kubectl get audits"
k get audits
echo
echo "== The flagged pods' events"
k get events -A --field-selector reason=RuntimeHandlerMismatch \
  -o custom-columns='NAMESPACE:.involvedObject.namespace,POD:.involvedObject.name,TYPE:.type,REASON:.reason,MESSAGE:.message' \
  | awk 'NR == 1 || $1 ~ /^(broken-)?payments$/'
cat <<MSG

Look further:
  export KUBECONFIG=$KUBECONFIG_ADMIN PATH=$KUBE_BIN:$HELM_BIN:\$PATH
  kubectl get audit cluster -o yaml          # counts, conditions, the mismatched pods
  kubectl get nsr -o wide                    # one report per node (the agents' word, with the verdicts counted)
  kubectl get nsr $NODE_NAME -o yaml         # its sandboxes, and the operator's verdicts in status
  kubectl -n $RELEASE_NS logs deploy/$RELEASE-runtimeclass-audit-operator
  curl -s "\$(kubectl -n $RELEASE_NS get pod -l app.kubernetes.io/component=operator -o jsonpath='{.items[0].status.podIP}'):8080/metrics" | grep rcaudit_pod_mismatch_info
  helm -n $RELEASE_NS get values $RELEASE    # what the demo installed ($TB/demo-values.yaml)
Tear down: helm -n $RELEASE_NS uninstall $RELEASE (keeps the CRDs and audits), or all of it: npm run testbed:down
MSG
