#!/usr/bin/env bash
# Install Debian packages non-interactively: as root directly, otherwise through sudo.
# Used by `make test` (chromium), `make test-postgres` (postgresql) and the venv bootstrap
# (python3-venv), so CI needs nothing installed by hand.
set -euo pipefail

if [ "$#" -eq 0 ]; then
  echo "usage: $0 PACKAGE..." >&2
  exit 2
fi

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo --non-interactive)
else
  echo "error: installing $* needs root or sudo; install it by hand: apt-get install $*" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# A fresh machine has empty package lists; refresh them unless another step just did.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -60 2>/dev/null | head -n 1)" ]; then
  echo "apt-get update" >&2
  "${as_root[@]}" apt-get update -q
fi
echo "apt-get install -y $*" >&2
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
