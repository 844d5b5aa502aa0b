# Sourced by test.sh and bench.sh: ensure_testbed brings the testbed up when
# it is not running, and then (only then) takes it down when the caller exits.
ensure_testbed() {
  if [ -f "$TESTBED_DIR/testbed.json" ] && bash "$RCA_ROOT/hack/testbed/status.sh" >/dev/null 2>&1; then
    log "using the running testbed"; return 0
  fi
  trap 'status=$?; bash "$RCA_ROOT/hack/testbed/down.sh" || true; exit $status' EXIT
  bash "$RCA_ROOT/hack/testbed/up.sh"
}
