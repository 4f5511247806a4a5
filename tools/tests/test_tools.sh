#!/usr/bin/env bash
# test_tools.sh: tests of the instructor tools tools/make-handout, tools/make-autograder and
# tools/grade. One line per check (PASS/FAIL), then `N passed, M failed`; exit 1 on failure.
#
#  (a) make-handout writes a tree with no reference code and no hidden grader; the leak
#      scanner catches a planted copy; the handout configures (both impl settings), builds,
#      and its skeleton scores <= 10% (`tools/grade --max 10 --quiet`).
#  (b) make-autograder LAB (default 01) writes a zip; run_autograder (setup.sh skipped: the
#      packages are installed here) grades the reference solution in a scratch
#      AUTOGRADER_ROOT at full marks, hidden tests included; a submission that does not
#      compile still gets a results.json with score 0 and the compiler's message.
#
# Usage: tools/tests/test_tools.sh        (env: TOOLS_TEST_LAB=01, KEEP_TMP=1 keeps the scratch)
# In a student handout (no make-handout) it skips and reports `0 passed, 0 failed`.
# Cost: two debug builds of one lab, about 1.5-2.5 minutes on 2 cores.
set -uo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LAB=${TOOLS_TEST_LAB:-01}
passed=0
failed=0

if [[ ! -f "$TOP/tools/make-handout" || ! -f "$TOP/tools/make-autograder" ]]; then
  echo "skip: the instructor tools (make-handout, make-autograder) are not in this tree"
  echo "0 passed, 0 failed"
  exit 0
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/ipclab-tools-test.XXXXXX")
cleanup() { if [[ -n "${KEEP_TMP:-}" ]]; then echo "kept $TMP"; else rm -rf "$TMP"; fi; }
trap cleanup EXIT

ok() { echo "PASS: $1 [${SECONDS}s]"; passed=$((passed + 1)); }
bad() { echo "FAIL: $1 [${SECONDS}s]"; failed=$((failed + 1)); [[ -n "${2:-}" && -f "$2" ]] && tail -n 30 "$2" | sed 's/^/    | /'; }
# check DESCRIPTION LOG CMD...: run CMD (output to LOG), PASS if it exits 0.
check() {
  local what=$1 log=$2
  shift 2
  if "$@" > "$log" 2>&1; then ok "$what"; else bad "$what (exit $?)" "$log"; fi
}

# sha256 of every reference file that differs from every skeleton file (the secrets).
secret_hashes() {
  local skel
  skel=$(find "$TOP"/solutions-skeletons/*/src -type f -exec sha256sum {} + 2>/dev/null | cut -d' ' -f1 | sort -u)
  find "$TOP"/labs/*/src -type f -exec sha256sum {} + | cut -d' ' -f1 | sort -u | comm -23 - <(echo "$skel")
}
# no_secrets DIR [hidden]: no file in DIR has the content of a reference file (or hidden grader).
no_secrets() {
  local dir=$1 secrets found
  secrets=$(secret_hashes)
  if [[ "${2:-}" == hidden ]]; then
    secrets+=$'\n'$(find "$TOP"/graders/lab*/hidden -type f -exec sha256sum {} + 2>/dev/null | cut -d' ' -f1)
  fi
  found=$(find "$dir" -type f -exec sha256sum {} + | grep -F -f <(echo "$secrets" | grep .) || true)
  [[ -z "$found" ]] || { echo "$found"; return 1; }
}

labdir=$(find "$TOP/labs" -mindepth 1 -maxdepth 1 -type d -name "$LAB-*" -printf '%f\n' | sort | head -1)
if [[ -z "$labdir" ]]; then
  bad "lab $LAB exists under labs/"
  echo "$passed passed, $failed failed"
  exit 1
fi

# ---- (a) the handout ----------------------------------------------------------------------
H="$TMP/handout"
check "make-handout writes a handout" "$TMP/handout.log" "$TOP/tools/make-handout" "$H"
if [[ -d "$H" ]]; then
  check "handout: no reference solution file in it (content hashes)" "$TMP/scan.log" no_secrets "$H" hidden
  hidden=$(find "$H" -path '*/graders/*/hidden*' | head -5)
  if [[ -z "$hidden" ]] && ! grep -rqs "hidden/" "$H"/graders/*/meson.build; then
    ok "handout: no hidden grader (graders/*/hidden absent, not named in meson.build)"
  else
    bad "handout: hidden grader present: $hidden"
  fi
  same=1
  for d in "$H"/solutions-skeletons/*/src; do
    n=$(basename "$(dirname "$d")")
    diff -r "$d" "$H/labs/$n/src" > "$TMP/diff.log" 2>&1 || same=0
    diff -r "$TOP/solutions-skeletons/$n/src" "$H/labs/$n/src" >> "$TMP/diff.log" 2>&1 || same=0
  done
  if ((same)); then ok "handout: labs/*/src hold the skeletons"; else bad "handout: labs/*/src differ from the skeletons" "$TMP/diff.log"; fi
  if [[ ! -e "$H/tools/make-handout" && ! -e "$H/tools/make-autograder" ]]; then
    ok "handout: make-handout and make-autograder left out"
  else
    bad "handout: instructor tools present"
  fi

  check "handout: configures with -Dimpl=skeleton too" "$TMP/setup-skel.log" \
    meson setup "$TMP/build-handout-skel" "$H" -Dimpl=skeleton -Dbuildtype=debug
  check "handout: configures and builds (meson setup + ninja)" "$TMP/build-handout.log" \
    bash -c "meson setup '$TMP/build-handout' '$H' -Dbuildtype=debug && ninja -C '$TMP/build-handout'"
  grade="$H/tools/grade"
  if [[ ! -f "$grade" ]]; then
    echo "note: the handout has no tools/grade (not tracked by git yet); using the repository's"
    grade="$TOP/tools/grade"
  fi
  check "handout: the skeleton scores <= 10% (tools/grade --max 10 --quiet)" "$TMP/grade-handout.log" \
    python3 "$grade" -C "$TMP/build-handout" --max 10 --quiet
  sed 's/^/    /' "$TMP/grade-handout.log"
fi

# The scanner itself: a planted copy of a reference file must be found.
mkdir -p "$TMP/planted/deep"
ref=$(find "$TOP/labs/$labdir/src" -type f | head -1)
cp "$ref" "$TMP/planted/deep/innocent.txt"
sed 's/$/  /' "$ref" > "$TMP/planted/reformatted.cpp"   # same code, trailing blanks added
if python3 - "$TOP/tools/make-handout" "$TMP/planted" > "$TMP/planted.log" 2>&1 <<'PY'
import importlib.util, sys
from importlib.machinery import SourceFileLoader
sys.dont_write_bytecode = True
loader = SourceFileLoader("make_handout", sys.argv[1])
mh = importlib.util.module_from_spec(importlib.util.spec_from_loader("make_handout", loader))
loader.exec_module(mh)
_, _, leaks = mh.leak_scan(sys.argv[2], keep_hidden=False)
print("\n".join(leaks))
sys.exit(0 if len(leaks) == 2 else 1)
PY
then ok "leak scan: finds a planted reference file, exact and reformatted"
else bad "leak scan: missed a planted reference file" "$TMP/planted.log"; fi

# ---- (b) the autograder -------------------------------------------------------------------
Z="$TMP/autograder-lab$LAB.zip"
R="$TMP/autograder"
check "make-autograder $LAB writes a zip" "$TMP/make-autograder.log" "$TOP/tools/make-autograder" "$LAB" "$Z"
if [[ -f "$Z" ]]; then
  mkdir -p "$R/source" "$R/results"
  python3 -m zipfile -e "$Z" "$R/source"
  if [[ -f "$R/source/setup.sh" && -f "$R/source/run_autograder" ]] && bash -n "$R/source/setup.sh" \
     && bash -n "$R/source/run_autograder"; then
    ok "autograder: setup.sh and run_autograder at the zip's root, valid bash"
  else
    bad "autograder: setup.sh / run_autograder missing or not valid bash"
  fi
  check "autograder: no reference solution file in the zip" "$TMP/scan-ag.log" no_secrets "$R/source"
  if [[ -d "$TOP/graders/lab$LAB/hidden" ]]; then
    if [[ -d "$R/source/ipc-labs/graders/lab$LAB/hidden" ]]; then
      ok "autograder: hidden grader included"
    else
      bad "autograder: hidden grader missing"
    fi
  fi
  cp "$R/source/run_autograder" "$R/run_autograder"   # where Gradescope puts it

  # A submission with the reference solution, in a sub-folder: full marks expected.
  mkdir -p "$R/submission/my-work/src"
  cp "$TOP/labs/$labdir/src/"* "$R/submission/my-work/src/"
  AUTOGRADER_ROOT="$R" AUTOGRADER_MESON_ARGS="-Dbuildtype=debug" bash "$R/run_autograder" \
    > "$TMP/run-autograder.log" 2>&1
  if python3 - "$R/results/results.json" > "$TMP/results-check.log" 2>&1 <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
mx = sum(t["max_score"] for t in d["tests"])
print(f"results.json: score {d['score']} of {mx} ({len(d['tests'])} tests)")
assert mx > 0 and d["score"] == mx, "not full marks"
assert all(t["status"] == "passed" for t in d["tests"])
PY
  then ok "autograder: reference submission at full marks ($(cat "$TMP/results-check.log"))"
  else bad "autograder: reference submission not at full marks" "$TMP/run-autograder.log"; cat "$TMP/results-check.log"; fi
  if [[ -d "$TOP/graders/lab$LAB/hidden" ]]; then
    if python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if any(t["visibility"] == "after_due_date" for t in d["tests"]) else 1)' \
      "$R/results/results.json" 2>/dev/null; then
      ok "autograder: hidden tests ran, visibility after_due_date"
    else
      bad "autograder: no hidden (after_due_date) test in results.json"
    fi
  fi

  # A submission that does not compile: results.json with score 0 and the compiler error.
  rm -rf "$R/submission" "$R/results/results.json"
  mkdir -p "$R/submission"
  first=$(find "$TOP/solutions-skeletons/$labdir/src" -maxdepth 1 -type f -printf '%f\n' | sort | head -1)
  printf 'this does not compile {\n' > "$R/submission/$first"
  AUTOGRADER_ROOT="$R" AUTOGRADER_MESON_ARGS="-Dbuildtype=debug" bash "$R/run_autograder" \
    > "$TMP/run-autograder-broken.log" 2>&1
  if python3 - "$R/results/results.json" "$first" > "$TMP/broken-check.log" 2>&1 <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["score"] == 0, d["score"]
assert "does not compile" in d["output"] and sys.argv[2] in d["output"], d["output"][:500]
PY
  then ok "autograder: a submission that does not compile gets score 0 and the compiler's message"
  else bad "autograder: broken submission not reported" "$TMP/broken-check.log"; fi
fi

echo "$passed passed, $failed failed"
((failed == 0))
