#!/usr/bin/env python3
"""test_mutate.py: fast self-test of tools/mutate (no build, no grader): the mutants found in
a small C++ file (each operator, nothing in comments, strings or directives, a do-while's
while left alone), applying one, deterministic sampling, the equivalent-mutants list format,
the lab list read from meson.build, and every checked-in equivalent list (each entry parses
and still names a mutant of the current reference). One line per check (PASS/FAIL), then
`N passed, M failed`; exit 1 on failure.

Usage: tools/tests/test_mutate.py
"""
import importlib.machinery
import importlib.util
import os
import sys

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
loader = importlib.machinery.SourceFileLoader("mutate", os.path.join(TOP, "tools", "mutate"))
spec = importlib.util.spec_from_loader("mutate", loader)
mutate = importlib.util.module_from_spec(spec)
sys.modules["mutate"] = mutate
loader.exec_module(mutate)

SOURCE = """\
#include <fcntl.h>  // a < b in a directive is no site
// while (x < 1) in a comment is no site either
int f(int n, std::atomic<int>& a) {
  const char* s = "a < b && c == 2";
  int fd = ::open("/x", O_RDWR | O_CLOEXEC);
  while (n > 0 && fd != -1) {
    n = n - 1;
  }
  do {
    n++;
  } while (n < 3);
  a.store(n, std::memory_order_release);
  pthread_cond_broadcast(&c);
  cv.notify_all();
  ::close(fd);
  if (n >= 2) sem_post(
      &sem);
  return semop(id, ops, SEM_UNDO);
}
"""

passed = failed = 0


def check(ok, what, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"PASS: {what}")
    else:
        failed += 1
        print(f"FAIL: {what}" + (f"\n    | {detail}" if detail else ""))


found = mutate.find_mutants("t.cpp", SOURCE)
ids = {(m.line, m.op.split("@")[0], SOURCE[m.start:m.end], m.replacement) for m in found}
expected = {
    (5, "drop-flag", " | O_CLOEXEC", ""),
    (6, "rel", ">", ">="), (6, "logic", "&&", "||"), (6, "eq", "!=", "=="),
    (6, "while-if", "while", "if"), (6, "plus1", "0", "1"),
    (7, "minus1", "1", "0"), (7, "plus1", "1", "2"),
    (12, "relaxed", "std::memory_order_release"[5:], "memory_order_relaxed"),
    (13, "broadcast", "pthread_cond_broadcast", "pthread_cond_signal"),
    (14, "notify-one", "notify_all", "notify_one"),
    (15, "del-call", "::close(fd);", "{}"),
    (16, "rel", ">=", ">"), (16, "del-call", "sem_post(\n      &sem);", "{}"),
    (18, "drop-flag", "SEM_UNDO", "0"),
}
check(expected <= ids, "every operator finds its site in a small file",
      f"missing: {sorted(expected - ids)}")
check(not any(m.line in (1, 2, 4) for m in found),
      "no site in a directive, a comment or a string literal",
      str([m.ident for m in found if m.line in (1, 2, 4)]))
check(not any(m.line == 11 and m.op.startswith("while-if") for m in found),
      "the while of a do-while is left alone")
check(not any(m.op.startswith("minus1") and SOURCE[m.start:m.end] == "0" for m in found),
      "no minus1 of a literal 0")
check(not any(m.line == 3 and m.op.startswith("rel") for m in found),
      "a template's angle brackets are no relational operator")
seven = [m for m in found if m.line == 7 and m.op.startswith("plus1")]
check(len(seven) == 1 and seven[0].op == "plus1", "one site on a line: no @K",
      str([m.ident for m in seven]))
dels = [m for m in found if m.op.startswith("del-call") and m.line == 16]
check(len(dels) == 1 and dels[0].apply(SOURCE).count("if (n >= 2) {}\n") == 1,
      "a deleted multi-line call becomes an empty statement", dels[0].apply(SOURCE) if dels else "")
flag = next(m for m in found if m.op == "drop-flag" and m.line == 5)
check('::open("/x", O_RDWR);' in flag.apply(SOURCE), "drop-flag removes the flag and its bar")
check(flag.ident == 't.cpp:5:drop-flag:int fd = ::open("/x", O_RDWR | O_CLOEXEC);',
      "a mutant is named FILE:LINE:OP:TEXT", flag.ident)
two = [m.op for m in mutate.find_mutants("t.cpp", "  if (a < b && c < d) x();\n") if m.op.startswith("rel")]
check(two == ["rel@1", "rel@2"], "several sites of an operator on a line are @1, @2", str(two))

# sampling
many = [m for i in range(30) for m in mutate.find_mutants(f"f{i}.cpp", SOURCE)]
a = [m.ident for m in mutate.sample(list(many), 20, 7)]
b = [m.ident for m in mutate.sample(list(many), 20, 7)]
c = [m.ident for m in mutate.sample(list(many), 20, 8)]
check(a == b and len(a) == 20, "the same seed samples the same mutants")
check(a != c, "another seed samples other mutants")
ops = {i.split(":")[2].split("@")[0] for i in a}
check(len(ops) == len(mutate.OPERATORS), "20 samples of 11 operators cover every operator", str(sorted(ops)))
check(len(mutate.sample(found, 1000, 1)) == len(found), "--max above the count takes every mutant")

# the equivalent list
text = "# comment\n\nt.cpp:99:plus1:int x = 1; -- the value is never read\n"
eq = mutate.parse_equivalent(text, "x")
check(eq == {("t.cpp", "plus1", "int x = 1;"): "the value is never read"},
      "an equivalent entry is FILE:LINE:OP:TEXT -- REASON (the line number is not matched)", str(eq))
twice = mutate.find_mutants("t.cpp", "int f() {\n  int x = 1;\n  int x = 1;\n}\n")
plus = [m for m in twice if m.op == "plus1"]
amb = mutate.ambiguous_keys(twice)
check(len(plus) == 2 and eq.reason(plus[0], amb) is None and eq.reason(plus[1], amb) is None,
      "an entry whose text is on two lines matches neither unless its line number names one")
eq3 = mutate.parse_equivalent("t.cpp:3:plus1:int x = 1; -- the second is never read\n", "x")
check(eq3.reason(plus[0], amb) is None and eq3.reason(plus[1], amb) == "the second is never read",
      "... and then only the one on that line")
try:
    mutate.parse_equivalent("t.cpp:1:plus1:int x = 1;\n", "x")
    check(False, "an entry without a reason is refused")
except mutate.Fatal:
    check(True, "an entry without a reason is refused")

# the lab list and the checked-in lists
d, src = mutate.lab_entry("07")
check(d == "07-producer-consumer" and src == ["bounded_buffer.cpp", "shared_buffer.cpp"],
      "lab 07's dir and src come from meson.build", f"{d} {src}")
for name in sorted(os.listdir(mutate.EQUIVALENT_DIR)) if os.path.isdir(mutate.EQUIVALENT_DIR) else []:
    num = name[3:5]
    try:
        entries = mutate.load_equivalent(num)
        labdir, files = mutate.lab_entry(num)
        current = set()
        for f in files:
            with open(os.path.join(TOP, "labs", labdir, "src", f), encoding="utf-8") as fh:
                current |= {(m.file, m.op, m.text) for m in mutate.find_mutants(f, fh.read())}
        stale = [k for k in entries if k not in current]
        check(not stale, f"{name}: every entry names a mutant of the current reference", str(stale))
        every = [m for f in files for m in mutate.find_mutants(
            f, open(os.path.join(TOP, "labs", labdir, "src", f), encoding="utf-8").read())]
        ambiguous = mutate.ambiguous_keys(every)
        lost = [(k, sorted(entries.lines[k])) for k in entries if k in ambiguous
                and not any((m.file, m.op, m.text) == k and m.line in entries.lines[k] for m in every)]
        check(not lost, f"{name}: an entry whose text is on several lines names one of them by its "
              "line number", str(lost))
    except mutate.Fatal as e:
        check(False, f"{name} parses", str(e))

# same access order: what a relaxed mutant can change on x86-64 is the order of the accesses
import subprocess  # noqa: E402
import tempfile  # noqa: E402

LOADS = """#include <atomic>
std::atomic<int> a, b;
int f() { int x = a.load(std::memory_order_%s); int y = b.load(std::memory_order_%s); return x - y; }
"""
with tempfile.TemporaryDirectory() as tmp:
    objs = {}
    for name, text in (("acquire", LOADS % ("acquire", "acquire")),
                       ("relaxed", LOADS % ("relaxed", "acquire")),
                       ("swapped", LOADS.replace("int x = a.load", "int y0 = b.load")
                        .replace("int y = b.load", "int x = a.load").replace("return x - y", "return x - y0")
                        % ("acquire", "acquire"))):
        src, obj = os.path.join(tmp, name + ".cpp"), os.path.join(tmp, name + ".o")
        with open(src, "w", encoding="utf-8") as fh:
            fh.write(text)
        r = subprocess.run(["c++", "-std=c++20", "-O2", "-c", src, "-o", obj], capture_output=True, text=True)
        objs[name] = obj if r.returncode == 0 else None
    if all(objs.values()):
        acq, rlx, swp = (mutate.access_order(objs[k]) for k in ("acquire", "relaxed", "swapped"))
        check(acq is not None and acq == rlx, "a load made relaxed: the same accesses in the same order")
        check(acq is not None and acq != swp, "two loads swapped: another access order",
              str(acq and acq[0]) + " / " + str(swp and swp[0]))
    else:
        check(False, "c++ compiles the access-order examples")

# a grader killed mid-test: the namespaces of its tests are cleaned (run directories always;
# a POSIX shm object too when the build has ipc-clean)
import tempfile  # noqa: E402
xdg = os.environ.get("XDG_RUNTIME_DIR", "")
base = xdg + "/ipclab" if xdg.startswith("/") else f"/tmp/ipclab-{os.getuid()}"
with tempfile.TemporaryDirectory() as tmp:
    s = mutate.Scratch(tmp, "lab99")
    real_clean = os.path.join(TOP, "build", "tools", "ipc-clean")
    if os.path.exists(real_clean):
        os.makedirs(os.path.join(s.build, "tools"))
        os.symlink(real_clean, os.path.join(s.build, "tools", "ipc-clean"))
    pid = 4000000 + os.getpid() % 100000  # no such grader runs
    ns = f"lab99-{pid}-3"
    os.makedirs(os.path.join(base, ns), exist_ok=True)
    os.makedirs(os.path.join(base, ns + ".scratch"), exist_ok=True)
    open(os.path.join(base, ns + ".output"), "w").close()
    shm = f"/dev/shm/ipclab.{ns}.q"
    open(shm, "w").close()
    sub = os.path.join(base, f"{ns}-bench{pid}")  # a sub-namespace the test made (lab 20's bench)
    os.makedirs(sub, exist_ok=True)
    other = os.path.join(base, f"lab99-{pid + 1}-3")  # another grader's: left alone
    os.makedirs(other, exist_ok=True)
    s.clean_namespaces(pid)
    left = [p for p in (os.path.join(base, ns), os.path.join(base, ns + ".scratch"),
                        os.path.join(base, ns + ".output"), sub) if os.path.exists(p)]
    check(not left, "a killed grader's run directories are removed", str(left))
    if os.path.exists(real_clean):
        check(not os.path.exists(shm), "a killed grader's shm object is removed (ipc-clean)")
    check(os.path.isdir(other), "another grader's namespace is left alone")
    for p in (shm, other):
        if os.path.isdir(p):
            os.rmdir(p)
        elif os.path.exists(p):
            os.remove(p)

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
