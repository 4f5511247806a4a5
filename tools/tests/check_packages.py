#!/usr/bin/env python3
"""check_packages.py: tools/packages.txt lists what each lab's code needs.

For every lab folder (labs/NN-*, with graders/labNN) and for the house (common/,
graders/harness, tools/), the system headers its C++ files include and the dependency()
calls of its meson.build files are traced to the Debian package that ships them (dpkg -S);
that package must be among `tools/install-deps --list --lab NN` (the build's packages and
the lab's) or what they depend on. So a lab that starts to use a library, without its
package in tools/packages.txt, fails here rather than on a bare machine or on Gradescope.

Prints one line per lab (PASS/FAIL with what is unlisted); exit 1 if any failed.
Headers that are not under /usr/include, and C++ standard headers, are not traced.
"""
from __future__ import annotations

import glob
import os
import re
import subprocess
import sys

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INCLUDE = re.compile(r'^\s*#\s*include\s*<([^>]+)>', re.M)
DEPENDENCY = re.compile(r"dependency\(\s*'([^']+)'")
# dependency() names that pkg-config does not find, and a file their package ships.
NO_PKG_CONFIG = {"boost": "/usr/include/boost/version.hpp", "threads": None}


def run(cmd: list[str]) -> str:
    return subprocess.run(cmd, capture_output=True, text=True).stdout


def scopes() -> dict[str, list[str]]:
    """{'house' | 'NN': folders whose code and meson.build files belong to it}."""
    out = {"house": [os.path.join(TOP, d) for d in ("common", "graders/harness", "tools")]}
    for d in sorted(glob.glob(os.path.join(TOP, "labs", "[0-9][0-9]-*"))):
        n = os.path.basename(d)[:2]
        out[n] = [d, os.path.join(TOP, "graders", f"lab{n}")]
    return out


def needs(folders: list[str]) -> tuple[set[str], set[str]]:
    """(system headers included, dependency() names) under the folders."""
    headers, deps = set(), set()
    for folder in folders:
        for dirpath, _, names in os.walk(folder):
            for name in names:
                path = os.path.join(dirpath, name)
                if name.endswith((".cpp", ".hpp", ".h", ".cc")):
                    headers |= set(INCLUDE.findall(open(path, errors="replace").read()))
                elif name == "meson.build":
                    deps |= set(DEPENDENCY.findall(open(path, errors="replace").read()))
    return headers, deps


def files_for(headers: set[str], deps: set[str], multiarch: str) -> dict[str, str]:
    """{system file: what needs it} for the headers and dependencies that resolve."""
    out = {}
    for h in headers:
        for root in ("/usr/include", f"/usr/include/{multiarch}"):
            if os.path.isfile(os.path.join(root, h)):
                out[os.path.join(root, h)] = f"<{h}>"
                break
    for d in deps:
        if d in NO_PKG_CONFIG:
            path = NO_PKG_CONFIG[d]
        else:
            pcdir = run(["pkg-config", "--variable=pcfiledir", d]).strip()
            path = os.path.join(pcdir, f"{d}.pc") if pcdir else f"(pkg-config finds no {d})"
        if path:
            out[path] = f"dependency('{d}')"
    return out


def owners(paths: list[str]) -> dict[str, set[str]]:
    """{path: packages shipping it} (dpkg -S, one call)."""
    out: dict[str, set[str]] = {p: set() for p in paths}
    for line in run(["dpkg", "-S"] + paths).splitlines():
        pkgs, _, path = line.partition(": ")
        if path in out:
            out[path] |= {p.strip().split(":")[0] for p in pkgs.split(",")}
    return out


def closure(roots: list[str], depends: dict[str, set[str]]) -> set[str]:
    seen, todo = set(), list(roots)
    while todo:
        p = todo.pop()
        if p not in seen:
            seen.add(p)
            todo.extend(depends.get(p, ()))
    return seen


def installed_depends() -> dict[str, set[str]]:
    """{installed package: the packages it depends on (alternatives and provides included)}."""
    graph: dict[str, set[str]] = {}
    fmt = "${Package}\t${Depends}, ${Pre-Depends}\t${Provides}\n"
    for line in run(["dpkg-query", "-W", "-f", fmt]).splitlines():
        name, deps, provides = (line.split("\t") + ["", ""])[:3]
        targets = {re.split(r"[\s(:]", alt.strip())[0] for dep in deps.split(",") for alt in dep.split("|")}
        graph.setdefault(name, set()).update(t for t in targets if t)
        for virtual in provides.split(","):
            v = re.split(r"[\s(]", virtual.strip())[0]
            if v:
                graph.setdefault(v, set()).add(name)  # a virtual package leads to its provider
    return graph


def main() -> int:
    multiarch = run(["gcc", "-print-multiarch"]).strip()
    graph = installed_depends()
    needed, listed = {}, {}
    for scope, folders in scopes().items():
        needed[scope] = files_for(*needs(folders), multiarch)
        select = ["--group", "build"] if scope == "house" else ["--lab", scope]
        listed[scope] = run([os.path.join(TOP, "tools", "install-deps"), "--list"] + select).split()
    shipped = owners(sorted({p for n in needed.values() for p in n}))
    failed = 0
    for scope, need in needed.items():
        allowed = closure(listed[scope], graph)
        unlisted = []
        for path in sorted(need):
            if not shipped[path]:
                unlisted.append(f"{need[path]} (no package ships {path})")
            elif not shipped[path] & allowed:
                unlisted.append(f"{need[path]} from {'/'.join(sorted(shipped[path]))}")
        who = "the build" if scope == "house" else f"lab {scope}"
        if unlisted:
            failed += 1
            print(f"FAIL: {who} uses what tools/packages.txt does not list for it: {'; '.join(unlisted)}")
        else:
            print(f"PASS: {who}: {len(need)} system header(s)/dependencies, all from its packages")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
