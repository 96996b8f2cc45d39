#!/usr/bin/env bash
# Everything a fresh Debian 12 machine needs before the lab or the tests:
# controller packages, the pinned Python venv (.venv), a running Docker
# engine and the base image. Each step is skipped when already done, so
# it is safe (and quick) to call before every run. Run as root.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
log() { printf '[bootstrap] %s\n' "$*" >&2; }

# Controller tools the tests and builds call (one package a line).
missing=()
while read -r package; do
  [ -z "$package" ] && continue
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done < <(grep -v '^#' scripts/controller-packages.txt)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d: the controller only needs the tools (promtool, bird -p,
  # nft), never their daemons running.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
fi

# Python 3.11: ansible 12.3.0 is the newest bundle that installs on it.
python=${CARIBIX_PYTHON:-$(command -v python3.11 || true)}
if [ -z "$python" ]; then
  log "no python3.11 found: install Debian 12's python3 and python3-venv"
  exit 1
fi
stamp=.venv/.caribix-requirements.sha256
wanted=$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  log "creating .venv with $python"
  "$python" -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r requirements.txt
  .venv/bin/pip install -q --no-deps -e .
  echo "$wanted" > "$stamp"
fi

bash scripts/docker-engine.sh
bash images/base/build.sh
