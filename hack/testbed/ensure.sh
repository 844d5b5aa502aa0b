# Sourced by test.sh and bench.sh: ensure_testbed brings the testbed up when
# it is not running, and then (only then) takes it down when the caller exits.
ensure_testbed() {
  if [ -f "$TESTBED_DIR/testbed.json" ] && bash "$RCA_ROOT/hack/testbed/status.sh" >/dev/null 2>&1; then
    log "using the running testbed"; return 0
  fi
  # down.sh checks that nothing of the testbed is left (processes, mounts,
  # cgroups): when it finds something, the run fails even if every test passed.
  trap 'status=$?; bash "$RCA_ROOT/hack/testbed/down.sh" || { log "testbed:down left something behind (see above)"; [ $status -ne 0 ] || status=1; }; exit $status' EXIT
  bash "$RCA_ROOT/hack/testbed/up.sh"
}
