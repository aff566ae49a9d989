#!/usr/bin/env bash
# Install ironframe_py and what it needs on Debian/Ubuntu, into ./.venv.
#
#   tools/install.sh            the library, its C extensions and the CLI
#   tools/install.sh --tests    also the test/doc tools, bubblewrap, crun, runc + busybox-static
#                               (benchmark baselines) and Wine + mingw-w64
#                               (the Windows backend's tests)
#
# Written for a fresh Debian 12: nothing is assumed but apt-get and a shell
# (python3-venv, make and git are not on a minimal install; `wine64` alone
# ships no `wine` command, the `wine` package does).
#
# System packages are installed with apt-get when run as root; otherwise
# they must already be there.  Idempotent: safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

with_tests=0
[ "${1:-}" = "--tests" ] && with_tests=1

packages=(python3 python3-venv python3-dev gcc libc6-dev make git libacl1-dev acl libffi-dev
          e2fsprogs util-linux)
if [ "$with_tests" = 1 ]; then
    packages+=(xfsprogs bubblewrap crun runc busybox-static wine wine64 mingw-w64)
fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    # "installed" means dpkg's status says so: a removed package keeps its
    # config files and `dpkg -s` still succeeds for it.
    installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }
    missing=()
    for pkg in "${packages[@]}"; do
        installed "$pkg" || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "install.sh: apt-get install ${missing[*]}" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
        for pkg in "${missing[@]}"; do
            installed "$pkg" || { echo "install.sh: $pkg did not install" >&2; exit 1; }
        done
    fi
fi

python=${PYTHON:-python3}
for tool in "$python" gcc make; do
    command -v "$tool" >/dev/null || { echo "install.sh: $tool is missing (run as root to install it)" >&2; exit 1; }
done
if [ "$with_tests" = 1 ]; then
    for tool in wine x86_64-w64-mingw32-gcc bwrap; do
        command -v "$tool" >/dev/null || { echo "install.sh: $tool is missing (run as root to install it)" >&2; exit 1; }
    done
fi
if [ ! -x .venv/bin/python ]; then
    echo "install.sh: creating .venv with $($python --version)" >&2
    "$python" -m venv .venv
fi
extras=""
[ "$with_tests" = 1 ] && extras="[test,docs,dev]"
echo "install.sh: pip install -e .$extras (builds the C extensions)" >&2
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".$extras"
echo "install.sh: done; the CLI is .venv/bin/ironframe" >&2
