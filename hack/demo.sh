#!/usr/bin/env bash
# The README's first command: bring up the testbed and show a pod meant for
# kata whose sandbox really ran with another handler, with nothing in the API
# to tell. (Later issues put the agent and operator in here to catch it.)
source "$(dirname "${BASH_SOURCE[0]}")/testbed/common.sh"
cd "$RCA_ROOT"
bash hack/testbed/up.sh
KUBE_BIN=$(hack/tools.sh kubernetes)
k() { "$KUBE_BIN/kubectl" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }

# A new namespace's default ServiceAccount must exist before a pod can be admitted.
k create namespace payments --dry-run=client -o yaml | k apply -f - >/dev/null
k create namespace broken-payments --dry-run=client -o yaml | k apply -f - >/dev/null
for ns in payments broken-payments; do
  for _ in $(seq 1 60); do k get -n "$ns" serviceaccount default >/dev/null 2>&1 && break; sleep 0.5; done
done
k apply -f test/testbed/demo-pods.yaml >/dev/null
k wait --for=condition=Ready --timeout=120s -n payments pod/card-vault >/dev/null
k wait --for=condition=Ready --timeout=120s -n broken-payments pod/card-vault >/dev/null

cat <<MSG

== What the API server says: both pods asked for kata, both are Running.
MSG
k get pods -A -o custom-columns='NAMESPACE:.metadata.namespace,POD:.metadata.name,RUNTIMECLASS:.spec.runtimeClassName,NODE:.spec.nodeName,PHASE:.status.phase' \
  | awk 'NR == 1 || /card-vault/'
cat <<MSG

== What containerd on node $NODE_NAME says each sandbox really got:
MSG
"$NODE_BIN" test/testbed/sandboxes.ts "unix://$CONTAINERD_SOCK" | awk 'NR == 1 || /card-vault/'
cat <<MSG

The pod in broken-payments asked for kata, but the kubelet's RunPodSandbox
reached containerd with handler "" (the default, runc): it runs without the
isolation it asked for, and nothing in Kubernetes says so. That is the gap
runtimeclass-audit closes.

Look further:
  export KUBECONFIG=$KUBECONFIG_ADMIN PATH=$KUBE_BIN:\$PATH
  kubectl get runtimeclasses; kubectl get pods -A
  node_modules/.bin/node test/testbed/sandboxes.ts unix://$CONTAINERD_SOCK
  cat $LOGS/cri-proxy.log     # the broken path blanking the handler
Tear down: npm run testbed:down
MSG
