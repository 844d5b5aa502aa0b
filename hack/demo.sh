#!/usr/bin/env bash
# The README's first command: bring up the testbed and show pods meant for
# kata whose sandboxes really ran with another handler, with nothing in the
# API to tell. (Later issues put the agent and operator in here to catch it.)
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
drops every pod's handler, as kuscia's kubelet does. Both run under the
default runtime (runc) without the isolation they asked for, and nothing in
Kubernetes says so. That is the gap runtimeclass-audit closes. (And "kata"
itself is configured as plain runc on these nodes: the runtime type column
shows it.)

Look further:
  export KUBECONFIG=$KUBECONFIG_ADMIN PATH=$KUBE_BIN:\$PATH
  kubectl get nodes,runtimeclasses; kubectl get pods -A -o wide
  node_modules/.bin/node test/testbed/sandboxes.ts unix://$CONTAINERD_SOCK
  cat $LOGS/cri-proxy@*.log     # the broken paths blanking the handler
Tear down: npm run testbed:down
MSG
