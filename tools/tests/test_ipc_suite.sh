#!/usr/bin/env bash
# test_ipc_suite.sh: tests of tools/ipc_suite, end to end. One line per check (PASS/FAIL),
# then `N passed, M failed`; exit 1 on failure. Speed is never asserted.
#
#  - benchmark --all --quick: the table (every mechanism, the Recommendation block); on a few
#    mechanisms: the CSV (its exact columns, every row verified), the JSON (it parses, docs/benchmarking.md's shape), and
#    --report: report.md with the machine and the trade-offs, each PNG decodes and is not blank
#  - stress of every mechanism for about a second (several producers where it allows)
#  - the corruption hook (IPCLAB_BENCH_CORRUPT=N): a stress run and a benchmark exit 1
#    naming the damaged message
#  - bad numbers exit 2; SIGINT in the middle of a benchmark removes its objects; nothing is
#    left in the test's namespace (tools/ipc-clean --dry-run)
#
# Usage: tools/tests/test_ipc_suite.sh [BUILD]   (default build; KEEP_TMP=1 keeps the scratch)
set -uo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${1:-build}
[[ "$BUILD" = /* ]] || BUILD="$TOP/$BUILD"
SUITE="$BUILD/tools/ipc_suite/ipc_suite"
CLEAN="$BUILD/tools/ipc-clean"
passed=0
failed=0
ok() { echo "PASS: $1 [${SECONDS}s]"; passed=$((passed + 1)); }
bad() { echo "FAIL: $1 [${SECONDS}s]"; failed=$((failed + 1)); [[ -n "${2:-}" && -f "$2" ]] && tail -n 20 "$2" | sed 's/^/    | /'; }

if [[ ! -x "$SUITE" ]]; then
  bad "ipc_suite is built ($SUITE)"
  echo "$passed passed, $failed failed"
  exit 1
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/ipclab-suite-test.XXXXXX")
cleanup() { if [[ -n "${KEEP_TMP:-}" ]]; then echo "kept $TMP"; else rm -rf "$TMP"; fi; }
trap cleanup EXIT
# A namespace and run directory of this test's own: whatever it leaves is attributable.
export IPCLAB_NS="suite-test-$$"
export IPCLAB_RUNDIR="$TMP/run"
unset IPCLAB_BENCH_CORRUPT

mapfile -t MECHS < <("$SUITE" list | awk '{print $1}')
# Those that cannot run here (sun_rpc without rpcbind) say why in their row: not stressed.
mapfile -t AWAY < <("$SUITE" list | awk '/; unavailable: / {print $1}')
away() { [[ " ${AWAY[*]} " == *" $1 "* ]]; }
if ((${#MECHS[@]} >= 14)); then ok "list names ${#MECHS[@]} mechanisms"; else bad "list names ${#MECHS[@]} mechanisms (expected 14 or more)"; fi

# ---- benchmark --quick: table + report, CSV, JSON --------------------------------------------
if "$SUITE" benchmark --all --quick --runs 1 --report "$TMP/report" > "$TMP/table.txt" 2> "$TMP/table.err"; then
  ok "benchmark --all --quick --report exits 0"
else
  bad "benchmark --all --quick --report exits 0 (exit $?)" "$TMP/table.err"
fi
missing=()
for m in "${MECHS[@]}"; do grep -q "^$m " "$TMP/table.txt" || missing+=("$m"); done
if ((${#missing[@]} == 0)); then ok "the table has a row for every mechanism"; else bad "the table lacks ${missing[*]}" "$TMP/table.txt"; fi
if grep -q '^Recommendation:' "$TMP/table.txt" && grep -q 'fastest:' "$TMP/table.txt" \
   && grep -q 'lowest latency:' "$TMP/table.txt" && grep -q 'simplest with message boundaries' "$TMP/table.txt"; then
  ok "the table ends with the Recommendation block"
else
  bad "the table ends with the Recommendation block" "$TMP/table.txt"
fi
if grep -qv '^report: ' "$TMP/table.err"; then
  bad "no progress line on stderr when it is not a terminal" "$TMP/table.err"
else
  ok "no progress line on stderr when it is not a terminal"
fi

# The formats are the same code whatever runs: CSV and JSON on a few mechanisms (time).
FEW=(--mechanisms "pipe,tcp,shm_ring,sun_rpc" --sizes "64,1024" --quick --runs 1)
if "$SUITE" benchmark "${FEW[@]}" --format csv > "$TMP/out.csv" 2> "$TMP/csv.err"; then
  if python3 - "$TMP/out.csv" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
assert rows[0] == "mechanism,msg_size,throughput_msgs,throughput_bytes,p50_ns,p99_ns,runs,verified".split(","), rows[0]
assert len(rows) >= 7, f"only {len(rows) - 1} rows"
for r in rows[1:]:
    assert len(r) == 8, r
    assert float(r[2]) > 0 and float(r[3]) > 0 and int(r[6]) == 1 and int(r[7]) > 0, r
PY
  then ok "CSV: the exact columns, every row measured and verified"; else bad "CSV: columns and rows" "$TMP/out.csv"; fi
else
  bad "benchmark --format csv exits 0" "$TMP/csv.err"
fi

if "$SUITE" benchmark "${FEW[@]}" --format json > "$TMP/out.json" 2> "$TMP/json.err"; then
  if python3 - "$TMP/out.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["benchmark"] == "ipc_suite" and "params" in d, d.keys()
ran = [r for r in d["results"] if "skipped" not in r]
assert len(ran) >= 6, len(ran)
for r in ran:
    for k in ("name", "ops_per_s", "bytes_per_s", "p50_ns", "p99_ns", "runs", "verified"):
        assert k in r, (k, r)
assert any(k.endswith("/pipe:1024") for k in d["ratios"]), list(d["ratios"])[:5]
assert any(k.endswith("/tcp:1024") for k in d["ratios"]), list(d["ratios"])[:5]
PY
  then ok "JSON parses: benchmark, params, results, ratios against pipe and tcp"; else bad "JSON shape" "$TMP/out.json"; fi
else
  bad "benchmark --format json exits 0" "$TMP/json.err"
fi

# ---- the report --------------------------------------------------------------------------------
if [[ -f "$TMP/report/report.md" ]] && grep -q '## Trade-offs' "$TMP/report/report.md" \
   && grep -q '^Machine: .*cores.*Linux' "$TMP/report/report.md" && grep -q 'Recommendation:' "$TMP/report/report.md"; then
  ok "report.md: machine, table, recommendation, trade-offs"
else
  bad "report.md: machine, table, recommendation, trade-offs" "$TMP/report/report.md"
fi
for png in throughput latency_p50 latency_p99; do
  if python3 "$TOP/tools/tests/png_check.py" "$TMP/report/$png.png" > "$TMP/png.log" 2>&1; then
    ok "$png.png decodes and is not blank ($(cat "$TMP/png.log"))"
  else
    bad "$png.png decodes and is not blank" "$TMP/png.log"
  fi
  grep -q "($png.png)" "$TMP/report/report.md" || bad "report.md shows $png.png"
done

# ---- stress: every mechanism, about a second -------------------------------------------------
for m in "${MECHS[@]}"; do
  if away "$m"; then
    echo "skip: stress $m: $("$SUITE" list | grep "^$m " | sed 's/.*unavailable: //')"
    continue
  fi
  if "$SUITE" stress "$m" --producers 3 --seconds 1 > "$TMP/stress.log" 2>&1 \
     && grep -q 'none lost, duplicated or corrupted' "$TMP/stress.log"; then
    ok "stress $m: $(grep -o '[0-9]* messages verified' "$TMP/stress.log")"
  else
    bad "stress $m" "$TMP/stress.log"
  fi
done

# ---- the corruption hook is caught -----------------------------------------------------------
for m in pipe shm_ring sun_rpc; do
  away "$m" && continue
  IPCLAB_BENCH_CORRUPT=500 "$SUITE" stress "$m" --producers 2 --seconds 0.3 > "$TMP/corrupt.log" 2>&1
  rc=$?
  if ((rc == 1)) && grep -q 'error: stress .*message 500 .*\(corrupted\|wrong\)' "$TMP/corrupt.log"; then
    ok "stress $m catches the message the hook damaged (exit 1)"
  else
    bad "stress $m catches the damaged message (exit $rc)" "$TMP/corrupt.log"
  fi
done
IPCLAB_BENCH_CORRUPT=100 "$SUITE" benchmark --mechanisms spsc,tcp --sizes 1024 --quick --runs 1 > "$TMP/corrupt.log" 2>&1
rc=$?
if ((rc == 1)) && grep -q 'error: .* message 100 .*corrupted' "$TMP/corrupt.log"; then
  ok "benchmark catches the message the hook damaged (exit 1)"
else
  bad "benchmark catches the damaged message (exit $rc)" "$TMP/corrupt.log"
fi

# ---- numbers, signals, leftovers -----------------------------------------------------------
for args in "benchmark --all --runs nan" "benchmark --all --runs 0" "benchmark --all --sizes 1e300" \
            "stress pipe --producers 0" "stress pipe --seconds inf" "stress pipe --size=" \
            "benchmark --all --format xml" "stress nosuch"; do
  # shellcheck disable=SC2086  # the words are the arguments
  "$SUITE" $args > "$TMP/bad.log" 2>&1
  rc=$?
  if ((rc == 2)); then ok "usage error exit 2: $args"; else bad "usage error exit 2: $args (exit $rc)" "$TMP/bad.log"; fi
done

"$SUITE" benchmark --mechanisms posix_mq,shm_ring --runs 50 > "$TMP/int.log" 2>&1 &
pid=$!
# Interrupt it once it holds objects: wait (with a deadline) until its POSIX objects exist.
for _ in $(seq 100); do
  compgen -G "/dev/shm/ipclab.$IPCLAB_NS.*" > /dev/null || compgen -G "/dev/mqueue/ipclab.$IPCLAB_NS.*" > /dev/null && break
  sleep 0.05
done
kill -INT "$pid"
wait "$pid"
rc=$?
if ((rc != 0)) && grep -q 'interrupted by SIGINT' "$TMP/int.log" && "$CLEAN" --ns "$IPCLAB_NS" --dry-run > "$TMP/clean.log" 2>&1; then
  ok "SIGINT mid-benchmark: exit $rc, every object removed"
else
  bad "SIGINT mid-benchmark removes its objects (exit $rc)" "$TMP/clean.log"
  cat "$TMP/int.log"
fi

if "$CLEAN" --ns "$IPCLAB_NS" --dry-run > "$TMP/clean.log" 2>&1; then
  ok "nothing left behind in namespace $IPCLAB_NS"
else
  bad "nothing left behind in namespace $IPCLAB_NS" "$TMP/clean.log"
  "$CLEAN" --ns "$IPCLAB_NS" > /dev/null 2>&1
fi

echo "$passed passed, $failed failed"
((failed == 0))
