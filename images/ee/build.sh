#!/usr/bin/env bash
# Build the CaribIX execution environment offline (called by
# `bash scripts/ee.sh build`, which decides whether a build is needed):
#   1. the base image caribix-ee-base (Debian 12 + Python 3.11) with
#      mmdebstrap + docker import, as images/base/ does: no registry;
#   2. the wheelhouse, on the controller (the image cannot reach PyPI),
#      and the caribix wheel from python/ (with the looking glass, from
#      roles/looking_glass/files/caribix_lg);
#   3. ansible-builder build from execution-environment.yml.
# Usage: images/ee/build.sh IMAGE_TAG   (e.g. caribix-ee:<inputs hash>)
set -euo pipefail

image=${1:?usage: build.sh IMAGE_TAG}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=$repo/build/ee
python=${CARIBIX_PYTHON:-$repo/.venv/bin/python}
builder=${CARIBIX_ANSIBLE_BUILDER:-$repo/.venv/bin/ansible-builder}

log() { printf '[ee-image] %s\n' "$*" >&2; }

# --- 1. Base image --------------------------------------------------------
bash "$here/base.sh"

# --- 2. Wheelhouse and the caribix wheel ----------------------------------
# Made with the controller's pip and Python 3.11 on Debian 12, so binary
# wheels built here from sdists run in the image. Constrained by the
# repository's pins. Rebuilt only when the requirement lists change.
wheel_lists=("$here/requirements.txt" "$here/build-requirements.txt" "$here/wheelhouse-extra.txt")
wheel_hash=$(cat "$repo/requirements.txt" "${wheel_lists[@]}" | sha256sum | cut -c1-12)
if [[ "$(cat "$out/wheelhouse/.inputs" 2>/dev/null)" != "$wheel_hash" ]]; then
  log "building the wheelhouse (pip wheel, on the controller)"
  rm -rf "$out/wheelhouse"
  mkdir -p "$out/wheelhouse"
  "$python" -m pip wheel --quiet --wheel-dir "$out/wheelhouse" -c "$repo/requirements.txt" \
    $(printf -- '-r %s ' "${wheel_lists[@]}")
  # The looking glass hosts run Debian 13's Python 3.13: their compiled
  # wheels (MarkupSafe) are downloaded for it too, which the role's own
  # download then finds here (the image's pip has no index).
  "$python" -m pip download --quiet --only-binary=:all: --no-deps --python-version 3.13 --implementation cp \
    --abi cp313 --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
    --dest "$out/wheelhouse" -r "$here/wheelhouse-extra.txt"
  echo "$wheel_hash" >"$out/wheelhouse/.inputs"
else
  log "wheelhouse is current"
fi

# The caribix package (python/ and the looking glass application in its
# role, see pyproject.toml), from a copy of the tracked sources (setuptools would
# otherwise write build/lib and egg-info into the working tree).
rm -rf "$out/caribix" "$out/caribix-src"
mkdir -p "$out/caribix" "$out/caribix-src"
(cd "$repo" && git ls-files -co --exclude-standard -- pyproject.toml python roles/looking_glass/files/caribix_lg | tar -cf - -T -) |
  tar -xf - -C "$out/caribix-src"
"$python" -m pip wheel --quiet --no-deps --wheel-dir "$out/caribix" "$out/caribix-src"
rm -rf "$out/caribix-src"

# --- 3. ansible-builder ---------------------------------------------------
log "ansible-builder build -> $image"
cd "$repo"
"$builder" build --file execution-environment.yml --context "$out/context" \
  --container-runtime docker --tag "$image" --tag caribix-ee:latest --verbosity 2 \
  --extra-build-cli-args "--label org.caribix.ee.inputs=${image##*:}"
log "built $image"
