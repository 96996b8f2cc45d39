#!/usr/bin/env bash
# The base image of the execution environment, caribix-ee-base:bookworm:
# Debian 12 with its Python 3.11, like the controller, built with
# mmdebstrap + docker import as images/base/ does (no registry). Its own
# image, not images/base/: that one is for managed hosts and moves with
# them to newer Debian releases; the EE follows the controller. Tagged
# with a hash of this file, so it is rebuilt only when this recipe changes.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
log() { printf '[ee-base] %s\n' "$*" >&2; }

# Only what ansible-builder's stages need before they install anything:
# Python 3.11 with pip (ensurepip is not in Debian's python3), CA
# certificates for apt. Everything else comes through execution-environment.yml.
base_packages=python3,python3-pip,ca-certificates
base_repository=caribix-ee-base
base_hash=$(sha256sum <"$here/base.sh" | cut -c1-12)
base_image=$base_repository:$base_hash

command -v mmdebstrap >/dev/null || { log "mmdebstrap is missing (scripts/controller-packages.txt; bash scripts/bootstrap.sh)"; exit 1; }

if docker image inspect "$base_image" >/dev/null 2>&1; then
  log "$base_image is current"
else
  mirror=${CARIBIX_DEBIAN_MIRROR:-http://deb.debian.org/debian}
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  log "building $base_image (mirror $mirror)"
  # policy-rc.d: packages installed later in `docker build` must not try to
  # start their daemons (bird, prometheus) in a build container.
  mmdebstrap --variant=minbase --include="$base_packages" \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --customize-hook='printf "#!/bin/sh\nexit 101\n" > "$1/usr/sbin/policy-rc.d" && chmod 0755 "$1/usr/sbin/policy-rc.d"' \
    --customize-hook='echo "APT::Install-Recommends \"false\";" > "$1/etc/apt/apt.conf.d/90caribix-no-recommends"' \
    bookworm "$work/rootfs.tar" \
    "deb $mirror bookworm main" \
    "deb $mirror bookworm-updates main" \
    "deb http://deb.debian.org/debian-security bookworm-security main"
  docker import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["bash"]' \
    --message "CaribIX EE base image, recipe $base_hash" \
    "$work/rootfs.tar" "$base_image" >/dev/null
  rm -rf "$work"
  trap - EXIT
fi
# The name execution-environment.yml uses.
docker tag "$base_image" "$base_repository:bookworm"
