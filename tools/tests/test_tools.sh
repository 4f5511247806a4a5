#!/usr/bin/env bash
# test_tools.sh: tests of the instructor tools tools/make-handout, tools/make-autograder,
# tools/install-deps (with tools/packages.txt) and tools/grade. One line per check
# (PASS/FAIL), then `N passed, M failed`; exit 1 on failure.
#
#  (a) make-handout writes a tree with no reference code, no hidden grader, no
#      solutions-skeletons/ and none of the instructor's tools; the leak scanner catches a
#      planted copy; the handout's README is the students' (no instructor words, every lab
#      listed, every `make X` a target of the handout's Makefile, every tools/ file and link
#      present); `make grade` in the handout builds and prints the table ending with the
#      next-step line, exit 0, each lab of the skeleton at <= 10%; `make submit LAB=NN`
#      refuses uncommitted files, then (lab NN filled with the reference) writes a zip
#      with the lab's files and score table, which (c) grades in the autograder layout.
#  (b) tools/packages.txt: every system header and dependency() of each lab comes from a
#      package listed for it (check_packages.py); install-deps --check names what a lab lacks.
#  (c) for each lab of TOOLS_TEST_LABS (default 01 and 14, the one with the most packages):
#      make-autograder writes a zip; its setup.sh runs (when the lab's packages are already
#      installed, so that it installs nothing); run_autograder grades the reference solution
#      in a scratch AUTOGRADER_ROOT at full marks, hidden tests included (for the first lab
#      the submission is the zip `make submit` wrote in (a), extracted as Gradescope does).
#      For the first lab, also: the skeleton scores <= 10%, and a submission that does not
#      compile still gets a results.json with score 0 and the compiler's message.
#
# Usage: tools/tests/test_tools.sh   (env: TOOLS_TEST_LABS="01 14", KEEP_TMP=1 keeps the scratch)
# In a student handout (no make-handout) it skips and reports `0 passed, 0 failed`.
# Cost: the handout's debug build and grading of every lab (make grade), then one debug
# build per autograder run (ccache makes the repeated ones cheap).
set -uo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
read -r -a LABS <<< "${TOOLS_TEST_LABS:-01 14}"
LAB=${LABS[0]}
# ccache (when installed) reuses objects across the scratch trees: their paths differ.
export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-true}
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
  for d in "$H"/labs/*/src; do
    n=$(basename "$(dirname "$d")")
    diff -r "$TOP/solutions-skeletons/$n/src" "$d" >> "$TMP/diff.log" 2>&1 || same=0
  done
  if ((same)); then ok "handout: labs/*/src hold the skeletons"; else bad "handout: labs/*/src differ from the skeletons" "$TMP/diff.log"; fi
  left=""
  for p in solutions-skeletons tools/make-handout tools/make-autograder tools/autograder tools/run-tests tools/tests .ci; do
    [[ -e "$H/$p" ]] && left+=" $p"
  done
  if [[ -z "$left" ]] && ! grep -q "skeleton" "$H/meson_options.txt"; then
    ok "handout: no solutions-skeletons/, no instructor tools, impl has no skeleton choice"
  else
    bad "handout: still holds:$left $(grep -o "skeleton" "$H/meson_options.txt" | head -1)"
  fi
  check "handout: README.md is the students' (no instructor words, every lab, commands and links exist)" \
    "$TMP/readme.log" python3 - "$H" <<'PY'
import os, re, subprocess, sys
h = sys.argv[1]
text = open(os.path.join(h, "README.md"), encoding="utf-8").read()
bad = [w for w in ["reference solution", "instructor", "make-autograder", "make-handout",
                   "solutions-skeletons", "-Dimpl", "make tidy", "make handout"] if w in text.lower()]
assert not bad, f"instructor words: {bad}"
labs = sorted(d for d in os.listdir(os.path.join(h, "labs")) if re.match(r"\d\d-", d))
missing = [d for d in labs if f"](labs/{d}/README.md)" not in text]
assert labs and not missing, f"labs not listed: {missing}"
code = "\n".join(re.findall(r"```[a-z]*\n(.*?)```", text, re.S) + re.findall(r"`([^`\n]+)`", text))
targets = sorted(set(re.findall(r"\bmake ([a-z][\w-]*)", code)))
for t in targets:
    r = subprocess.run(["make", "-n", "-C", h, t, "LAB=01"], capture_output=True, text=True)
    assert r.returncode == 0, f"make {t}: not a target of the handout's Makefile: {r.stderr.strip()}"
for lab in set(re.findall(r"meson test -C build (lab\d\d)", code)):
    assert any(d.startswith(lab[3:] + "-") for d in labs), f"{lab}: no such lab in the handout"
tools = sorted(set(re.findall(r"\btools/[\w.-]+", text)))
for p in tools + re.findall(r"\]\(([^)#:]+)[)#]", text):
    assert os.path.exists(os.path.join(h, p)), f"{p}: named in README.md, not in the handout"
print(f"{len(labs)} labs listed; make targets {', '.join(targets)}; {len(tools)} tools exist")
PY
  sed 's/^/    /' "$TMP/readme.log"

  # make grade as a student runs it (debug build, quicker): the table, then the next step.
  B="$TMP/build-handout"
  make --no-print-directory -C "$H" grade BUILD="$B" MESON_FLAGS=-Dbuildtype=debug > "$TMP/grade-handout.log" 2>&1
  rc=$?
  last=$(tail -n 1 "$TMP/grade-handout.log")
  low=$(find "$H/labs" -mindepth 1 -maxdepth 1 -type d -name '[0-9][0-9]-*' -printf '%f\n' | sort | head -1 | cut -c1-2)
  if ((rc == 0)) && grep -q '^total ' "$TMP/grade-handout.log" \
     && [[ "$last" == "next: lab$low "*"; rerun it: meson test -C $B lab$low --test-args=--gtest_filter="* ]]; then
    ok "handout: make grade prints the table and ends with the next step (exit 0)"
  else
    bad "handout: make grade (exit $rc) does not end with 'next: lab$low ...; rerun it: meson test -C $B lab$low ...'" "$TMP/grade-handout.log"
  fi
  sed -n '/^lab  *title/,$p' "$TMP/grade-handout.log" | sed 's/^/    /'
  over=$(grep -E '^lab[0-9]{2} ' "$TMP/grade-handout.log" | awk '{for (i = 1; i <= NF; i++) if ($i ~ /%$/) { if ($i + 0 > 10) print $1; break }}')
  n=$(grep -cE '^lab[0-9]{2} .*%' "$TMP/grade-handout.log")
  if [[ -z "$over" ]] && ((n > 0)); then ok "handout: the skeleton scores <= 10% in each of $n labs"
  else bad "handout: the skeleton scores > 10% in: ${over:-no lab graded}"; fi

  # make submit: refuses uncommitted work; then lab $LAB filled with the reference.
  # (Never `producer | grep -q` here: grep -q exits at the first match, the producer dies of
  # SIGPIPE, and pipefail turns a match into a failure now and then.)
  git -C "$H" init -q && git -C "$H" add -A \
    && git -C "$H" -c user.name=t -c user.email=t@t commit -qm handout > "$TMP/git.log" 2>&1
  cp -r "$TOP/labs/$labdir/src/." "$H/labs/$labdir/src/"
  bash "$H/tools/submit" "$LAB" "$B" > "$TMP/submit-dirty.log" 2>&1
  rc=$?
  if ((rc == 1)) && grep -q "not committed" "$TMP/submit-dirty.log" && [[ ! -e "$H/submit-lab$LAB.zip" ]]; then
    ok "handout: make submit refuses uncommitted files (exit 1, no zip)"
  else
    bad "handout: make submit with uncommitted files: exit $rc" "$TMP/submit-dirty.log"
  fi
  git -C "$H" -c user.name=t -c user.email=t@t commit -qam "lab $LAB" >> "$TMP/git.log" 2>&1
  make --no-print-directory -C "$H" submit LAB="$LAB" BUILD="$B" > "$TMP/submit.log" 2>&1
  rc=$?
  SUBMIT_ZIP="$H/submit-lab$LAB.zip"
  if ((rc == 0)) && grep -q "^wrote $SUBMIT_ZIP ([0-9]* bytes)" "$TMP/submit.log" \
     && grep -qE "^lab$LAB .* 100\.0% " <<< "$(unzip -p "$SUBMIT_ZIP" "grade-lab$LAB.txt" 2>/dev/null)" \
     && grep -q " labs/$labdir/src/" <<< "$(unzip -l "$SUBMIT_ZIP")"; then
    ok "handout: make submit LAB=$LAB writes the zip (labs/$labdir/src, grade-lab$LAB.txt at full marks), path and size"
  else
    bad "handout: make submit LAB=$LAB (exit $rc)" "$TMP/submit.log"
    SUBMIT_ZIP=""
  fi
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

# ---- (b) the package list -----------------------------------------------------------------
check "packages.txt: each lab's headers and dependency() come from its packages" "$TMP/packages.log" \
  python3 "$TOP/tools/tests/check_packages.py"
sed 's/^/    /' "$TMP/packages.log"
# install-deps --check names what a lab lacks: a copy of it with a package that cannot exist.
mkdir -p "$TMP/deps/tools"
cp "$TOP/tools/install-deps" "$TMP/deps/tools/"
{ cat "$TOP/tools/packages.txt"; echo "14: ipclab-no-such-package"; } > "$TMP/deps/tools/packages.txt"
bash "$TMP/deps/tools/install-deps" --check > "$TMP/deps-check.log" 2>&1
rc=$?
if ((rc == 1)) && grep -qx "install-deps: lab 14 needs: ipclab-no-such-package" "$TMP/deps-check.log"; then
  ok "install-deps --check: names the package a lab lacks (lab 14 needs: ...), exit 1"
else
  bad "install-deps --check: exit $rc, expected 1 and 'lab 14 needs: ipclab-no-such-package'" "$TMP/deps-check.log"
fi

# ---- (c) the autograder -------------------------------------------------------------------
# run_graded ROOT NAME: run ROOT's run_autograder (debug build, quicker), log to $TMP/NAME.log.
run_graded() {
  rm -f "$1/results/results.json"
  AUTOGRADER_ROOT="$1" AUTOGRADER_MESON_ARGS="-Dbuildtype=debug" bash "$1/run_autograder" \
    > "$TMP/$2.log" 2>&1
}
# score_check RESULTS WHAT: python assertions on results.json (below, on stdin) -> PASS/FAIL.
score_check() {
  local results=$1 what=$2 log=$3
  shift 3
  if python3 - "$results" "$@" > "$log.check" 2>&1; then ok "$what ($(tail -1 "$log.check"))"
  else bad "$what" "$log"; cat "$log.check"; fi
}

# autograder_case LAB FULL: zip, set-up, reference at full marks; with FULL=all also the
# skeleton and a submission that does not compile.
autograder_case() {
  local lab=$1 more=$2 dir z r first what
  dir=$(find "$TOP/labs" -mindepth 1 -maxdepth 1 -type d -name "$lab-*" -printf '%f\n' | sort | head -1)
  if [[ -z "$dir" ]]; then bad "lab $lab exists under labs/"; return; fi
  z="$TMP/autograder-lab$lab.zip"
  r="$TMP/autograder-$lab"
  check "autograder $lab: make-autograder writes a zip" "$TMP/make-autograder-$lab.log" \
    "$TOP/tools/make-autograder" "$lab" "$z"
  [[ -f "$z" ]] || return
  mkdir -p "$r/source" "$r/results"
  python3 -m zipfile -e "$z" "$r/source"
  if [[ -f "$r/source/setup.sh" && -f "$r/source/run_autograder" ]] && bash -n "$r/source/setup.sh" \
     && bash -n "$r/source/run_autograder" && ! grep -q '@[A-Z_]*@' "$r/source/setup.sh" "$r/source/run_autograder"; then
    ok "autograder $lab: setup.sh and run_autograder at the zip's root, filled in, valid bash"
  else
    bad "autograder $lab: setup.sh / run_autograder missing, not filled in or not valid bash"
  fi
  if "$TOP/tools/install-deps" --check --lab "$lab" > /dev/null 2>&1; then
    check "autograder $lab: setup.sh runs (the lab's packages are installed: it installs nothing)" \
      "$TMP/setup-$lab.log" bash "$r/source/setup.sh"
  else
    echo "note: lab $lab's packages are not all installed here: setup.sh not run (it would install them)"
  fi
  check "autograder $lab: no reference solution file in the zip" "$TMP/scan-ag-$lab.log" no_secrets "$r/source"
  if [[ -d "$TOP/graders/lab$lab/hidden" ]]; then
    if [[ -d "$r/source/ipc-labs/graders/lab$lab/hidden" ]]; then
      ok "autograder $lab: hidden grader included"
    else
      bad "autograder $lab: hidden grader missing"
    fi
  fi
  cp "$r/source/run_autograder" "$r/run_autograder"   # where Gradescope puts it

  # A submission with the reference solution: for the first lab the zip make submit wrote
  # in the handout, extracted as Gradescope does; otherwise the files in a sub-folder.
  if [[ "$more" == all && -n "${SUBMIT_ZIP:-}" ]]; then
    mkdir -p "$r/submission"
    python3 -m zipfile -e "$SUBMIT_ZIP" "$r/submission"
    what="the zip of make submit (reference in the handout)"
  else
    mkdir -p "$r/submission/my-work/src"
    cp -r "$TOP/labs/$dir/src/." "$r/submission/my-work/src/"
    what="reference submission"
  fi
  run_graded "$r" "run-autograder-$lab"
  score_check "$r/results/results.json" "autograder $lab: $what at full marks" \
    "$TMP/run-autograder-$lab.log" "$TOP/graders/lab$lab/hidden" <<'PY'
import json, os, sys
d = json.load(open(sys.argv[1]))
mx = sum(t["max_score"] for t in d["tests"])
assert mx > 0 and d["score"] == mx, f"not full marks: {d['score']} of {mx}"
assert all(t["status"] == "passed" for t in d["tests"])
if os.path.isdir(sys.argv[2]):  # the hidden tests ran, shown after the due date
    assert any(t["visibility"] == "after_due_date" for t in d["tests"]), "no hidden test"
print(f"score {d['score']:g} of {mx:g}, {len(d['tests'])} tests")
PY
  [[ "$more" == all ]] || return

  # The skeleton as the submission: it scores <= 10%.
  rm -rf "$r/submission"
  mkdir -p "$r/submission"
  cp -r "$TOP/solutions-skeletons/$dir/src/." "$r/submission/"
  run_graded "$r" "run-autograder-$lab-skeleton"
  score_check "$r/results/results.json" "autograder $lab: the skeleton scores <= 10%" \
    "$TMP/run-autograder-$lab-skeleton.log" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
mx = sum(t["max_score"] for t in d["tests"])
assert mx > 0 and d["score"] <= 0.1 * mx, f"{d['score']} of {mx}"
print(f"score {d['score']:g} of {mx:g}")
PY

  # A submission that does not compile: results.json with score 0 and the compiler error.
  rm -rf "$r/submission"
  mkdir -p "$r/submission"
  first=$(find "$TOP/solutions-skeletons/$dir/src" -maxdepth 1 -type f -printf '%f\n' | sort | head -1)
  printf 'this does not compile {\n' > "$r/submission/$first"
  run_graded "$r" "run-autograder-$lab-broken"
  score_check "$r/results/results.json" "autograder $lab: a submission that does not compile gets score 0 and the compiler's message" \
    "$TMP/run-autograder-$lab-broken.log" "$first" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["score"] == 0, d["score"]
assert "does not compile" in d["output"] and sys.argv[2] in d["output"], d["output"][:500]
print("score 0, the compiler's message shown")
PY
}

for lab in "${LABS[@]}"; do
  start=$SECONDS
  autograder_case "$lab" "$([[ "$lab" == "$LAB" ]] && echo all || echo reference)"
  echo "    (autograder $lab: $((SECONDS - start))s)"
done

echo "$passed passed, $failed failed"
((failed == 0))
