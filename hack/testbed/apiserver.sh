#!/usr/bin/env bash
# apiserver.sh stop|start: stops or starts the testbed's kube-apiserver, the
# way a control-plane upgrade or crash would (etcd and the nodes stay up).
# Tests use it to check that the operator's watches survive a restart.
source "$(dirname "${BASH_SOURCE[0]}")/up.sh"
case "${1:-}" in
  stop)
    is_running kube-apiserver || die "kube-apiserver is not running"
    stop kube-apiserver
    ! is_running kube-apiserver || die "kube-apiserver did not stop"
    ;;
  start) build_tools && start_apiserver ;;
  *) die "usage: $0 stop|start" ;;
esac
