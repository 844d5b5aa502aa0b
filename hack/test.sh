#!/usr/bin/env bash
# hack/test.sh unit|integration|e2e|all — the one entry point for tests.
#   unit:        typecheck, lint, the import rules, format check, pure tests, and the chart (helm lint and
#                template, promtool; no cluster)
#   integration: against the testbed's real containerd and API server
#   e2e:         against the testbed's real kubelet and pods
#   oldest:      the chart's end-to-end tests (OLDEST_E2E) again, on a testbed of the oldest Kubernetes
#                the chart claims (KUBE_OLDEST_VERSION)
#   all:         every tier, in that order
# Tiers that need the testbed bring it up at the version they need, and leave
# it afterwards as they found it (down, or up at the version it had).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$RCA_ROOT"
tier=${1:-all}
source "$RCA_ROOT/hack/testbed/ensure.sh"
# The test runner's TAP files, for the closing count: cleared here, at the
# start, and kept by down.sh, which the switch to the oldest Kubernetes runs
# between tiers.
results="$TESTBED_DIR/test-results"
rm -rf "$results" && mkdir -p "$results"

setup_node() {
  ensure_node
  log "node $(node --version)"
}

# The end-to-end tests that run on the oldest Kubernetes too: the chart as users
# install it (from the registry, the demo's findings, the alerts), the upgrade
# from the previous release, and the operations faults (runtime restart, agent
# roll, API server restart). The rest runs on the newest only.
OLDEST_E2E=(test/e2e/release.test.ts test/e2e/chart.test.ts test/e2e/operations.test.ts)

# run_tests NAME [FILE...]: node's test runner over test/NAME's tests (or the
# FILEs), spec output to the terminal and TAP to NAME.tap so the summary below
# can add the tiers up.
run_tests() {
  local name=$1; shift
  local files=("$@")
  if [ ${#files[@]} -eq 0 ]; then
    if [ -z "$(find "test/$name" -name '*.test.ts' 2>/dev/null)" ]; then log "no $name tests yet"; return 0; fi
    files=("test/$name/**/*.test.ts")
  fi
  log "running $name tests"
  node --test --test-concurrency=1 --test-timeout=600000 \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$results/$name.tap" "${files[@]}"
}

# The oldest tier: skipped (saying so) when the oldest is the newest.
oldest() {
  if [ "$KUBE_OLDEST_VERSION" = "$KUBE_VERSION" ]; then
    log "KUBE_OLDEST_VERSION is KUBE_VERSION ($KUBE_VERSION): the end-to-end tests ran on it already"; return 0
  fi
  # (Called as `oldest || rc=$?`, where set -e does not stop at a failure.)
  ensure_testbed "$KUBE_OLDEST_VERSION" || return 1
  quiesce_testbed || return 1
  run_tests "e2e-kubernetes-$KUBE_OLDEST_VERSION" "${OLDEST_E2E[@]}"
}

# prebuild VERSION: builds, in the background and at the lowest CPU and I/O
# priority, the tools a testbed of Kubernetes VERSION needs, so that `all`
# compiles them in the time its tests leave the CPU idle rather than after
# them (from cold, the oldest Kubernetes alone is 5 minutes). hack/tools.sh
# holds a lock per build: a tier that needs a tool before its build is done
# waits for it, and finds it built. A build that fails here fails again, in
# the open, when the tier asks for it; its output is in the logs.
PREBUILDS=()
prebuild() {
  local version=$1 logs="$TESTBED_DIR/logs"
  mkdir -p "$logs"
  log "building the tools of a Kubernetes v$version testbed in the background (log: $logs/prebuild-$version.log)"
  local idle=(); command -v ionice >/dev/null && idle=(ionice -c 3)
  # up.sh's own list; then, on the newest, the relinked kubelet that the
  # probes' end-to-end tests restart a node with.
  setsid nice -n 19 "${idle[@]}" bash -c '
    source "$1/hack/testbed/up.sh"
    build_tools "$2"
    [ "$2" != "$3" ] || KUBE_VERSION=$2 "$1/hack/tools.sh" kubelet-as "v$2-relinked" >/dev/null
  ' prebuild "$RCA_ROOT" "$version" "$KUBE_VERSION" >"$logs/prebuild-$version.log" 2>&1 </dev/null &
  PREBUILDS+=($!)
}

# Builds still running when the run ends (a tier failed before it needed
# them) are stopped with it.
stop_prebuilds() {
  local pid
  for pid in "${PREBUILDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
}

# One closing line over every tier that ran, in the "N passed, N failed" form.
summary() {
  cat "$results"/*.tap 2>/dev/null | awk '
    /^# pass / { p += $3 } /^# fail / { f += $3 } /^# skipped / { s += $3 }
    END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }'
}

unit() {
  local r=0
  log "typecheck"; tsc -p tsconfig.json || r=1
  log "lint"; eslint --max-warnings 0 . || r=1
  log "imports (no loop, no layer importing one above it: .dependency-cruiser.ts)"
  depcruise --config .dependency-cruiser.ts --output-type err agent api cli kube observability operator test hack || r=1
  log "format"; prettier --check --log-level warn '**/*.{ts,js,mjs}' || { echo "not formatted: run npm run format" >&2; r=1; }
  run_tests unit || r=1
  return $r
}

# The testbed's nodes must be the tests' alone: a demo's Helm release (or
# the plain processes of older demos) would write the same nodes' reports.
quiesce_testbed() {
  local hb releases r
  hb=$("$RCA_ROOT/hack/tools.sh" helm)
  releases=$(KUBECONFIG="$TESTBED_DIR/kubeconfig" "$hb/helm" list -A -o json |
    jq -r '.[] | select(.chart | startswith("runtimeclass-audit-")) | "\(.namespace)/\(.name)"')
  for r in $releases; do
    log "uninstalling Helm release $r (the tests need the testbed's nodes to themselves)"
    KUBECONFIG="$TESTBED_DIR/kubeconfig" "$hb/helm" uninstall -n "${r%%/*}" "${r#*/}" --wait >/dev/null
  done
  ( source "$RCA_ROOT/hack/testbed/common.sh"; stop operator; for n in "${NODES[@]}"; do stop "agent@$n"; done )
  # Audits outlive their release (uninstall keeps them, as it should for users), and each one judges every
  # test's pods: the demo's "cluster" audit expects a VM for kata, so a test's kata pod that its own audit
  # finds Matched would stay Mismatched by that one. The tests make the audits they need.
  local kubectl audits
  kubectl="$(KUBE_VERSION=$(cat "$TESTBED_DIR/kube-version") "$RCA_ROOT/hack/tools.sh" kubernetes)/kubectl"
  audits=$("$kubectl" --kubeconfig "$TESTBED_DIR/kubeconfig" get runtimeclassaudits -o name 2>/dev/null || true)
  if [ -n "$audits" ]; then
    log "deleting the audits left on the testbed ($(echo "$audits" | wc -l)): the tests make their own"
    "$kubectl" --kubeconfig "$TESTBED_DIR/kubeconfig" delete runtimeclassaudits --all --wait >/dev/null
  fi
  # The demo's gated RuntimeClass and the probes' node labels: coverage counts every RuntimeClass.
  "$kubectl" --kubeconfig "$TESTBED_DIR/kubeconfig" delete runtimeclass gvisor-proven rcaudit-probe.gvisor-proven --ignore-not-found >/dev/null
  "$kubectl" --kubeconfig "$TESTBED_DIR/kubeconfig" delete namespace sandboxed --ignore-not-found --wait=false >/dev/null
  local probe_labels
  probe_labels=$("$kubectl" --kubeconfig "$TESTBED_DIR/kubeconfig" get nodes -o json |
    jq -r '[.items[].metadata.labels | keys[] | select(startswith("runtimeclass.rcaudit.dev/") or startswith("probe.runtimeclass.rcaudit.dev/")) | "\(.)-"] | unique | join(" ")')
  [ -z "$probe_labels" ] || "$kubectl" --kubeconfig "$TESTBED_DIR/kubeconfig" label nodes --all $probe_labels >/dev/null
}

setup_node
rc=0
case "$tier" in
  unit) unit || rc=$? ;;
  integration) ensure_testbed; quiesce_testbed; run_tests integration || rc=$? ;;
  e2e) ensure_testbed; quiesce_testbed; run_tests e2e || rc=$? ;;
  oldest) oldest || rc=$? ;;
  all)
    # The newest testbed's tools build while the unit tests run, and the
    # oldest Kubernetes while the newest's tests run.
    prebuild "$KUBE_VERSION"
    unit || rc=$?
    ensure_testbed
    [ "$KUBE_OLDEST_VERSION" = "$KUBE_VERSION" ] || prebuild "$KUBE_OLDEST_VERSION"
    quiesce_testbed
    run_tests integration || rc=$?
    run_tests e2e || rc=$?
    oldest || rc=$?
    ;;
  *) die "usage: $0 unit|integration|e2e|oldest|all" ;;
esac
stop_prebuilds
summary
exit $rc
