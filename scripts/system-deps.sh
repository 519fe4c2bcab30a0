#!/usr/bin/env bash
# Debian packages the lab needs on the host: libev-dev (to build bjoern), gcc and python3-dev (its C
# extension), taskset (util-linux, pins server and generator), wrk (peak capacity). Installs what is
# missing when it can (root or password-less sudo); otherwise says what to install and carries on:
# bjoern or wrk is then skipped and the report says why.
set -euo pipefail

packages=(libev-dev gcc python3-dev util-linux wrk)
missing=()
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null; then
    echo "system-deps: not a Debian-like system; install libev (e.g. 'brew install libev') for bjoern" >&2
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then sudo=(); elif sudo -n true 2>/dev/null; then sudo=(sudo -n); else
    echo "system-deps: missing ${missing[*]}; run: sudo apt-get install -y ${missing[*]}" >&2
    exit 0
fi
echo "system-deps: installing ${missing[*]}" >&2
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
