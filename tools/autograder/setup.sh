#!/usr/bin/env bash
# setup.sh: Gradescope image set-up for one lab of ipc-labs. tools/make-autograder puts this
# file at the root of the lab's autograder zip, with @LAB@ and @EXTRA_PACKAGES@ filled in,
# next to ipc-labs/ (the lab's tree). Gradescope runs it once, as root, when it builds the
# image: it installs the Debian packages of the build and of the lab (tools/packages.txt,
# through tools/install-deps, which also mounts /dev/mqueue), and Meson >= 1.0 when the
# image's is older. It builds nothing: run_autograder builds each submission.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

LAB=@LAB@
EXTRA_PACKAGES=(@EXTRA_PACKAGES@)   # make-autograder --extra-packages

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bash "$here/ipc-labs/tools/install-deps" --lab "$LAB"
if ((${#EXTRA_PACKAGES[@]})); then
  apt-get update -qq
  apt-get install -y --no-install-recommends "${EXTRA_PACKAGES[@]}"
fi

# The kit needs Meson >= 1.0 (Debian 12, Ubuntu 24.04). Older images (Ubuntu 22.04 has
# 0.61) get it from PyPI instead.
meson_ok() {
  python3 - "$(meson --version 2>/dev/null || echo 0)" <<'PY'
import sys
parts = (sys.argv[1].split(".") + ["0", "0"])[:2]
sys.exit(0 if tuple(int(p) if p.isdigit() else 0 for p in parts) >= (1, 0) else 1)
PY
}
if ! meson_ok; then
  echo "setup.sh: meson $(meson --version 2>/dev/null || echo none) is older than 1.0; installing it with pip"
  apt-get install -y --no-install-recommends python3-pip
  python3 -m pip install 'meson>=1.0' || python3 -m pip install --break-system-packages 'meson>=1.0'
  hash -r
  meson_ok || { echo "setup.sh: error: Meson >= 1.0 is required (found $(meson --version))" >&2; exit 1; }
fi

# A /dev/mqueue mount made while the image is built may not survive into the grading
# container, so run_autograder mounts it again when it can.
grep -qs ' /dev/mqueue mqueue ' /proc/mounts \
  || echo "setup.sh: note: /dev/mqueue is not mounted (the graders cope without it)"
echo "setup.sh: done ($(meson --version), $(g++ --version | head -1))"
