#!/usr/bin/env bash
# Install ironframe_py and what it needs on Debian/Ubuntu, into ./.venv.
#
#   tools/install.sh            the library, its C extensions and the CLI
#   tools/install.sh --tests    also the test/doc tools, bubblewrap + crun
#                               (benchmark baselines) and Wine + mingw-w64
#                               (the Windows backend's tests)
#
# System packages are installed with apt-get when run as root; otherwise
# they must already be there.  Idempotent: safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

with_tests=0
[ "${1:-}" = "--tests" ] && with_tests=1

packages=(gcc libc6-dev libacl1-dev acl libffi-dev e2fsprogs util-linux)
if [ "$with_tests" = 1 ]; then
    packages+=(python3 xfsprogs bubblewrap crun wine64 mingw-w64)
fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    missing=()
    for pkg in "${packages[@]}"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "install.sh: apt-get install ${missing[*]}" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
fi

python=${PYTHON:-python3}
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
