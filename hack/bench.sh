#!/usr/bin/env bash
# npm run bench: every benchmark under test/bench/ (files *.bench.ts), each of
# which prints its own figures. Benchmarks run on the testbed: it is brought
# up when not running, and then taken down afterwards.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$RCA_ROOT/hack/testbed/ensure.sh"
cd "$RCA_ROOT"
mapfile -t benches < <(find test/bench -name '*.bench.ts' 2>/dev/null | sort)
[ ${#benches[@]} -gt 0 ] || { log "no benchmarks yet (test/bench/*.bench.ts)"; exit 0; }
ensure_node
ensure_testbed
for b in "${benches[@]}"; do log "benchmark $b"; node_modules/.bin/node "$b"; done
