#!/usr/bin/env bash
# The README's first command: bring up the testbed and run three pods side
# by side: one truly isolated by gVisor, one asking for kata that really runs
# under runc, one whose handler was dropped on the way, with nothing in the
# API to tell them apart. Then publish the image and the chart to the
# testbed's registry (hack/release.sh), `helm install` the chart from there as
# a user would, and show `kubectl get audits` catching the two. Last, proof
# before placement: a RuntimeClass gated on its proof label, probed on every
# node, and a Deployment of it landing only where gVisor was proven.
source "$(dirname "${BASH_SOURCE[0]}")/testbed/common.sh"
cd "$RCA_ROOT"
bash hack/testbed/up.sh
KUBE_BIN=$(hack/tools.sh kubernetes)
HELM_BIN=$(hack/tools.sh helm)
k() { "$KUBE_BIN/kubectl" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }
h() { KUBECONFIG="$KUBECONFIG_ADMIN" "$HELM_BIN/helm" "$@"; }
RELEASE=rcaudit RELEASE_NS=rcaudit-system AGENT_NS=rcaudit-agent

k create namespace payments --dry-run=client -o yaml | k apply -f - >/dev/null
# A new namespace's default ServiceAccount must exist before a pod can be admitted.
for _ in $(seq 1 60); do k get -n payments serviceaccount default >/dev/null 2>&1 && break; sleep 0.5; done
k apply -f hack/testbed/demo-pods.yaml >/dev/null
k wait --for=condition=Ready --timeout=120s -n payments pod/sandboxed pod/card-vault pod/ledger >/dev/null

echo
echo "== What the API server says: each pod asked for its RuntimeClass, each pod is Running."
k get pods -n payments -o custom-columns='NAMESPACE:.metadata.namespace,POD:.metadata.name,RUNTIMECLASS:.spec.runtimeClassName,NODE:.spec.nodeName,PHASE:.status.phase'
for i in 0 1; do
  node_vars "$i"
  echo
  echo "== What $RUNTIME $RUNTIME_VERSION on $NODE_NAME says each sandbox really got:"
  "$NODE_BIN" hack/testbed/sandboxes.ts "unix://$RUNTIME_SOCK" payments
done
echo
echo "== The kernel each pod sees (kubectl exec ... cat /proc/version):"
for pod in sandboxed card-vault ledger; do
  printf '  %-11s %s\n' "$pod" "$(k exec -n payments "$pod" -- /cat /proc/version | cut -c1-60)"
done
node_vars 0
cat <<MSG

Only payments/sandboxed is isolated: gVisor's own kernel answers inside it.
payments/card-vault got handler "kata", but this node configures "kata" as
plain runc (the runtime type column shows it, and the agent will find the
host's kernel under it). payments/ledger asked for gvisor on rcaudit-node-2,
whose kubelet path drops every pod's handler, as kuscia's kubelet does: it
runs under runc, on the host's kernel. Nothing in Kubernetes says so.

MSG

echo "== Installing runtimeclass-audit with Helm: the image, an agent per node, the operator."
# Earlier versions of this demo ran the agents and the operator as plain processes.
stop operator
for n in "${NODES[@]}"; do stop "agent@$n"; done
# Published to the testbed's registry, as hack/release.sh publishes a
# release anywhere; a registry that does not answer stops the demo here,
# before anything is installed. A version published earlier is published
# again (--force): the demo shows this tree.
REGISTRY="$REGISTRY_ADDR/rcaudit"
log "publishing the image and the chart to the testbed's registry ($REGISTRY)"
published=$(RCA_REGISTRY="$REGISTRY" bash hack/release.sh --force) || die "could not publish to the testbed's registry: nothing was installed"
echo "$published" | sed 's/^/  /'
VERSION=$(jq -r .version package.json)
# CRDs applied by hand (npm test does) are adopted into the release, the way
# the chart's README tells users who applied them before installing.
for crd in nodesandboxreports.rcaudit.dev runtimeclassaudits.rcaudit.dev; do
  if k get crd "$crd" >/dev/null 2>&1; then
    k annotate --overwrite crd "$crd" meta.helm.sh/release-name=$RELEASE meta.helm.sh/release-namespace=$RELEASE_NS >/dev/null
    k label --overwrite crd "$crd" app.kubernetes.io/managed-by=Helm >/dev/null
  fi
done
# The testbed's nodes live on this one machine, so each node's runtime
# socket has its own path: the main DaemonSet takes the first node's, and
# criSocketByNodeLabel gives each other node its own (by hostname).
sockets=()
for i in "${!NODES[@]}"; do [ "$i" = 0 ] || { node_vars "$i"; sockets+=("$NODE_NAME: $RUNTIME_SOCK"); }; done
node_vars 0
# The own-report policy needs Kubernetes 1.32 (KUBE_VERSION=1.30.14 npm run demo: without it).
report_policy=true
[ "$(echo "$KUBE_VERSION" | cut -d. -f2)" -ge 32 ] || report_policy=false
cat > "$TB/demo-values.yaml" <<YAML
image: { registry: $REGISTRY }
agent:
  namespace: { name: $AGENT_NS, create: true }
  criSocket: $RUNTIME_SOCK
  criSocketByNodeLabel:
    key: kubernetes.io/hostname
    sockets: { $(IFS=,; echo "${sockets[*]}") }
  interval: 1s
reportPolicy: { enabled: $report_policy }
# Who may read /metrics (HTTPS, checked with TokenReview and SubjectAccessReview).
metrics:
  readers: [{ kind: ServiceAccount, name: metrics-scraper, namespace: $RELEASE_NS }]
# Proof before placement: probe pods (the testbed's pause image, on every node already).
probes: { enabled: true, image: $PAUSE_IMAGE }
YAML
echo "  helm upgrade --install $RELEASE oci://$REGISTRY/charts/runtimeclass-audit --version $VERSION --plain-http -f $TB/demo-values.yaml"
h upgrade --install $RELEASE "oci://$REGISTRY/charts/runtimeclass-audit" --version "$VERSION" --plain-http -n $RELEASE_NS --create-namespace \
  -f "$TB/demo-values.yaml" --wait --timeout 300s >/dev/null
k -n $AGENT_NS rollout status daemonset --timeout=120s >/dev/null
for _ in $(seq 1 60); do k get audit cluster >/dev/null 2>&1 && break; sleep 0.5; done
# The default audit expects what the usual isolating handlers promise (kata: a
# VM, gvisor: gVisor's kernel) of the host's evidence: that is how a "kata"
# that is runc gets caught, even where the runtime type cannot tell.
echo "== The default audit's expectations: $(k get audit cluster -o jsonpath='{.spec.expectedIsolation}' 2>/dev/null)"
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
echo "== What each node's agent saw on the host (kubectl get nsr -o yaml: spec.sandboxes[].evidence)"
k get nsr -o json | jq -r '.items[].spec.sandboxes[] | select(.namespace == "payments")
  | "  \(.name): handler \(.requestedHandler | if . == "" then "\"\" (default)" else . end), runtime type \(.runtimeType // "-"), evidence \(.evidence.class // "-") (\(.evidence.process // "?") under \(.evidence.parent // "?"))"'
echo
echo "== /metrics, as a Prometheus bound to the chart's metrics-reader ClusterRole scrapes it (and without a token)"
k -n $RELEASE_NS create serviceaccount metrics-scraper --dry-run=client -o yaml | k apply -f - >/dev/null
operator_ip=$(k -n $RELEASE_NS get pod -l app.kubernetes.io/component=operator -o jsonpath='{.items[0].status.podIP}')
curl -sk -H "Authorization: Bearer $(k -n $RELEASE_NS create token metrics-scraper)" "https://$operator_ip:8080/metrics" \
  | grep '^rcaudit_pod_mismatch_info' | grep 'namespace="payments"' | sed 's/^/  /' || echo "  (no rcaudit_pod_mismatch_info series from $operator_ip)"
echo "  without a token: HTTP $(curl -sk -o /dev/null -w '%{http_code}' "https://$operator_ip:8080/metrics")"
echo
echo "== Proof before placement: a RuntimeClass gated on its proof label, probed on every node"
k apply -f - >/dev/null <<YAML
apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata: { name: gvisor-proven }
handler: gvisor
scheduling: { nodeSelector: { runtimeclass.rcaudit.dev/gvisor-proven: proven } }
---
apiVersion: rcaudit.dev/v1alpha1
kind: RuntimeClassAudit
metadata: { name: placement }
spec:
  namespaceSelector: { matchLabels: { kubernetes.io/metadata.name: sandboxed } }
  expectedIsolation: { gvisor: gvisor }
  probes: { runtimeClasses: [gvisor-proven] }
YAML
for _ in $(seq 1 120); do
  [ "$(k get audit placement -o jsonpath='{.status.probes[0].notProbed}' 2>/dev/null)" = 0 ] && break
  sleep 0.5
done
k get nodes -L runtimeclass.rcaudit.dev/gvisor-proven
k get audit placement -o json | jq -r '.status.probes[] | "  \(.runtimeClass): \(.proven) of \(.nodes) nodes proven; " + ([.failures[]? | "\(.node) \(.reason)"] | join(", "))'
k create namespace sandboxed --dry-run=client -o yaml | k apply -f - >/dev/null
k apply -f - >/dev/null <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: { name: sandboxed, namespace: sandboxed }
spec:
  replicas: 3
  selector: { matchLabels: { app: sandboxed } }
  template:
    metadata: { labels: { app: sandboxed } }
    spec:
      runtimeClassName: gvisor-proven
      automountServiceAccountToken: false
      terminationGracePeriodSeconds: 1
      containers: [{ name: main, image: $PAUSE_IMAGE, imagePullPolicy: Never }]
YAML
k -n sandboxed rollout status deployment/sandboxed --timeout=120s >/dev/null || true
echo "  a Deployment of gvisor-proven lands only where gVisor was proven (never on the kuscia node, whose kubelet drops the handler):"
k -n sandboxed get pods -o wide | sed 's/^/  /'

echo
echo "== The flagged pods' events"
k get events -A --field-selector reason=RuntimeHandlerMismatch \
  -o custom-columns='NAMESPACE:.involvedObject.namespace,POD:.involvedObject.name,TYPE:.type,REASON:.reason,MESSAGE:.message' \
  | awk 'NR == 1 || $1 == "payments"'
cat <<MSG

Look further:
  export KUBECONFIG=$KUBECONFIG_ADMIN PATH=$KUBE_BIN:$HELM_BIN:\$PATH
  kubectl get audit cluster -o yaml          # counts, conditions, the mismatched pods
  kubectl get nsr -o wide                    # one report per node (the agents' word, with the verdicts counted)
  kubectl get nsr $NODE_NAME -o yaml         # its sandboxes, and the operator's verdicts in status
  kubectl get nodes -L runtimeclass.rcaudit.dev/gvisor-proven   # the nodes proven for gvisor-proven (audit placement)
  kubectl -n $RELEASE_NS logs deploy/$RELEASE-runtimeclass-audit-operator
  curl -sk -H "Authorization: Bearer \$(kubectl -n $RELEASE_NS create token metrics-scraper)" \\
    "https://\$(kubectl -n $RELEASE_NS get pod -l app.kubernetes.io/component=operator -o jsonpath='{.items[0].status.podIP}'):8080/metrics" | grep rcaudit_pod_mismatch_info
  helm -n $RELEASE_NS get values $RELEASE    # what the demo installed ($TB/demo-values.yaml)
Tear down: helm -n $RELEASE_NS uninstall $RELEASE (keeps the CRDs and audits), or all of it: npm run testbed:down
MSG
