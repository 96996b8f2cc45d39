#!/usr/bin/env bash
# Build the Debian bookworm base image of every lab and Molecule container
# with mmdebstrap + docker import: no registry can be pulled from here.
# The image is tagged with a hash of its recipe (this script and
# packages.txt), so it is rebuilt only when the recipe changes; the tag
# caribix/debian-bookworm:lab always points at the current recipe.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repository=caribix/debian-bookworm
recipe_hash=$(cat "$here/build.sh" "$here/packages.txt" | sha256sum | cut -c1-12)
image="$repository:$recipe_hash"

log() { printf '[base-image] %s\n' "$*" >&2; }

if docker image inspect "$image" >/dev/null 2>&1; then
  docker tag "$image" "$repository:lab"
  log "$image is current"
  exit 0
fi

if ! command -v mmdebstrap >/dev/null 2>&1; then
  log "installing mmdebstrap from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq mmdebstrap >/dev/null
fi

packages=$(grep -v '^#' "$here/packages.txt" | xargs | tr ' ' ',')
mirror=${CARIBIX_DEBIAN_MIRROR:-http://deb.debian.org/debian}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

log "building $image (mirror $mirror)"
# Customize hooks: keep systemd quiet in a container (no getty, udev or
# kernel-facing units), keep apt lean, and drop docs to keep the image small.
# The package lists stay, as on any installed host: `apt` in --check mode
# needs them to know what it would install.
mmdebstrap --variant=minbase --include="$packages" --skip=cleanup/apt/lists \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --customize-hook='chroot "$1" systemctl mask getty.target console-getty.service systemd-udevd.service systemd-udev-trigger.service systemd-modules-load.service sys-kernel-config.mount sys-kernel-debug.mount sys-kernel-tracing.mount systemd-firstboot.service systemd-remount-fs.service' \
  --customize-hook='echo "APT::Install-Recommends \"false\";" > "$1/etc/apt/apt.conf.d/90caribix-no-recommends"' \
  --customize-hook='rm -f "$1/etc/machine-id" && touch "$1/etc/machine-id"' \
  bookworm "$work/rootfs.tar" \
  "deb $mirror bookworm main" \
  "deb $mirror bookworm-updates main" \
  "deb http://deb.debian.org/debian-security bookworm-security main"

docker import \
  --change 'ENV container=docker' \
  --change 'CMD ["/lib/systemd/systemd"]' \
  --message "CaribIX base image, recipe $recipe_hash" \
  "$work/rootfs.tar" "$image" >/dev/null
docker tag "$image" "$repository:lab"
log "built $image"
