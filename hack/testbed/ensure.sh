# Sourced by test.sh and bench.sh. ensure_testbed [VERSION] makes the testbed
# run Kubernetes VERSION (the pinned KUBE_VERSION by default): it uses a
# running one of that version, or brings one up, taking down first a running
# one of another version. When the caller exits, the testbed goes back to
# what it was before: down if none was running, else up again at the version
# that was running.
TESTBED_BEFORE=""
TESTBED_TOUCHED=""

# The version of the testbed that runs now, or nothing.
running_testbed_version() {
  [ -f "$TESTBED_DIR/testbed.json" ] && bash "$RCA_ROOT/hack/testbed/status.sh" >/dev/null 2>&1 || return 0
  cat "$TESTBED_DIR/kube-version" 2>/dev/null || echo unknown
}

restore_testbed() {
  local status=$1
  # down.sh checks that nothing of the testbed is left (processes, mounts,
  # cgroups): when it finds something, the run fails even if every test passed.
  if ! bash "$RCA_ROOT/hack/testbed/down.sh"; then
    log "testbed:down left something behind (see above)"
    [ "$status" -ne 0 ] || status=1
  elif [ -n "$TESTBED_BEFORE" ] && [ "$TESTBED_BEFORE" != unknown ]; then
    log "bringing the testbed back up as it was, at Kubernetes v$TESTBED_BEFORE"
    KUBE_VERSION=$TESTBED_BEFORE bash "$RCA_ROOT/hack/testbed/up.sh" >/dev/null || log "could not bring the testbed back up"
  fi
  exit "$status"
}

ensure_testbed() {
  local want=${1:-$KUBE_VERSION} running
  running=$(running_testbed_version)
  if [ -z "$TESTBED_TOUCHED" ]; then
    TESTBED_BEFORE=$running TESTBED_TOUCHED=1
  fi
  if [ "$running" = "$want" ]; then
    log "using the running testbed (Kubernetes v$want)"; return 0
  fi
  trap 'restore_testbed $?' EXIT
  if [ -n "$running" ]; then
    log "the running testbed has Kubernetes v$running; taking it down for v$want"
    bash "$RCA_ROOT/hack/testbed/down.sh"
  elif [ -f "$TESTBED_DIR/kube-version" ] && [ "$(cat "$TESTBED_DIR/kube-version")" != "$want" ]; then
    log "the testbed's state is of Kubernetes v$(cat "$TESTBED_DIR/kube-version"), half up; taking it down for v$want"
    bash "$RCA_ROOT/hack/testbed/down.sh"
  fi
  KUBE_VERSION=$want bash "$RCA_ROOT/hack/testbed/up.sh"
}
