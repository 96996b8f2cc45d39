#!/usr/bin/env bash
# Build the Debian 13 (trixie) base image of every lab and Molecule
# container with mmdebstrap + docker import: no registry can be pulled from
# here. The image is tagged with a hash of its recipe (this script and
# packages.txt), so it is rebuilt only when the recipe changes; the tag
# caribix/debian-trixie:lab always points at the current recipe.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repository=caribix/debian-trixie
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
# openssh-server's postinst made host keys while the image was built: an
# image must not carry them (every container would share them). They are
# deleted, and each container makes its own on the first start of
# ssh.service: ssh-keygen -A (only the missing ones) before Debian's own
# `sshd -t`, which fails without host keys. (Debian 13's sshd-keygen.service
# would do it only on a first boot, ConditionFirstBoot, which a container
# started from this image never is.)
ssh_host_keys_dropin='# CaribIX base image: each container makes its own SSH host keys.
[Service]
ExecStartPre=
ExecStartPre=/usr/bin/ssh-keygen -A
ExecStartPre=/usr/sbin/sshd -t'
export ssh_host_keys_dropin
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
  --customize-hook='rm -f "$1"/etc/ssh/ssh_host_*' \
  --customize-hook='mkdir -p "$1/etc/systemd/system/ssh.service.d" && printf "%s\n" "$ssh_host_keys_dropin" > "$1/etc/systemd/system/ssh.service.d/caribix-host-keys.conf"' \
  trixie "$work/rootfs.tar" \
  "deb $mirror trixie main" \
  "deb $mirror trixie-updates main" \
  "deb http://deb.debian.org/debian-security trixie-security main"

docker import \
  --change 'ENV container=docker' \
  --change 'CMD ["/lib/systemd/systemd"]' \
  --message "CaribIX base image, recipe $recipe_hash" \
  "$work/rootfs.tar" "$image" >/dev/null
docker tag "$image" "$repository:lab"
log "built $image"
