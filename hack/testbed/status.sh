#!/usr/bin/env bash
# Exits 0 when every testbed component runs; prints each one's state.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
rc=0
for name in "${COMPONENTS[@]}"; do
  if is_running "$name"; then echo "$name: running (pid $(pid_of "$name"))"; else echo "$name: not running"; rc=1; fi
done
exit $rc
