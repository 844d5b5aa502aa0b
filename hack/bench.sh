#!/usr/bin/env bash
# npm run bench: every benchmark under test/bench/ (files *.bench.ts), each of
# which prints its own figures. Benchmarks that need the testbed bring it up.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$RCA_ROOT"
mapfile -t benches < <(find test/bench -name '*.bench.ts' 2>/dev/null | sort)
[ ${#benches[@]} -gt 0 ] || { log "no benchmarks yet (test/bench/*.bench.ts)"; exit 0; }
for b in "${benches[@]}"; do log "benchmark $b"; node_modules/.bin/node "$b"; done
