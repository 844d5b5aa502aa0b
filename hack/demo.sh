#!/usr/bin/env bash
# The README's first command: bring up the testbed, show pods meant for kata
# whose sandboxes really ran with another handler with nothing in the API to
# tell, then run the agents and the operator and show `kubectl get audits`
# catching them. (The Helm chart's install replaces the plain processes in a
# later issue.)
source "$(dirname "${BASH_SOURCE[0]}")/testbed/common.sh"
cd "$RCA_ROOT"
bash hack/testbed/up.sh
KUBE_BIN=$(hack/tools.sh kubernetes)
k() { "$KUBE_BIN/kubectl" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }

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
  "$NODE_BIN" test/testbed/sandboxes.ts "unix://$CONTAINERD_SOCK" | awk 'NR == 1 || $1 ~ /^(broken-)?payments$/'
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

echo "== Starting runtimeclass-audit: an agent per node, the operator, and the audit \"cluster\"."
k apply -f charts/runtimeclass-audit/files/crds/ >/dev/null
k wait --for=condition=Established --timeout=60s crd/nodesandboxreports.rcaudit.dev crd/runtimeclassaudits.rcaudit.dev >/dev/null
for i in "${!NODES[@]}"; do
  node_vars "$i"
  start "agent@$NODE_NAME" "--node-name $NODE_NAME" "$NODE_BIN" agent/main.ts --node-name "$NODE_NAME" \
    --cri-endpoint "unix://$CONTAINERD_SOCK" --kubeconfig "$KUBECONFIG_ADMIN" --listen-host 127.0.0.1 --listen-port "$((18090 + i))"
done
start operator "operator/main.ts" "$NODE_BIN" operator/main.ts --kubeconfig "$KUBECONFIG_ADMIN" --no-leader-elect \
  --listen-host 127.0.0.1 --listen-port 18080
k apply -f - >/dev/null <<'YAML'
apiVersion: rcaudit.dev/v1alpha1
kind: RuntimeClassAudit
metadata:
  name: cluster
spec: {}
YAML
for _ in $(seq 1 120); do
  [ "$(k get audit cluster -o jsonpath='{.status.counts.mismatched}' 2>/dev/null)" = 2 ] && break
  sleep 0.5
done

echo
echo "== kubectl get audits"
k get audits
echo
echo "== The flagged pods' events"
k get events -A --field-selector reason=RuntimeHandlerMismatch \
  -o custom-columns='NAMESPACE:.involvedObject.namespace,POD:.involvedObject.name,TYPE:.type,REASON:.reason,MESSAGE:.message' \
  | awk 'NR == 1 || $1 ~ /^(broken-)?payments$/'
node_vars 0
cat <<MSG

Look further:
  export KUBECONFIG=$KUBECONFIG_ADMIN PATH=$KUBE_BIN:\$PATH
  kubectl get audit cluster -o yaml          # counts, conditions, the mismatches
  kubectl get nsr                            # one report per node (the agents' word)
  kubectl get nsr $NODE_NAME -o yaml         # its sandboxes, and the operator's verdicts in status
  curl -s 127.0.0.1:18080/metrics | grep rcaudit_pod_mismatch_info
  node_modules/.bin/node test/testbed/sandboxes.ts unix://$CONTAINERD_SOCK
  ls $LOGS/                                  # agent@*, operator, cri-proxy@* (the broken paths)
Tear down: npm run testbed:down
MSG
