#!/usr/bin/env bash
# The execution environment (EE) for AWX / Automation Platform (docs/awx.md).
#   bash scripts/ee.sh build   # build the image offline; nothing to do when
#                              # caribix-ee:<inputs hash> already exists
#   bash scripts/ee.sh test    # build if needed, then run tests/ee (pytest)
#   bash scripts/ee.sh ci      # build + test only when the inputs differ from
#                              # images/ee/inputs.sha256 or CARIBIX_EE=1;
#                              # otherwise one line saying why it skipped
#   bash scripts/ee.sh stamp   # record the inputs verified (after `test`)
#   bash scripts/ee.sh hash    # print both hashes
#   bash scripts/ee.sh image   # print the current image's name
# The image is tagged with the hash of what goes into it, so a tag that
# exists is a build that can be skipped.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
stamp_file=images/ee/inputs.sha256

# What goes into the image: its recipe, the pins, the caribix package.
image_inputs=(execution-environment.yml images/ee requirements.txt requirements.yml pyproject.toml python roles/looking_glass/files/caribix_lg)
# What the CI decision covers: the image, plus what tests it. The
# stamp file itself is left out (it records this hash).
verified_inputs=("${image_inputs[@]}" scripts/ee.sh tests/ee awx)

# hash_of PATH...: one hash of the tracked and untracked (not ignored)
# files under PATHs, names and contents, as they are in the working tree.
hash_of() {
  git ls-files -co --exclude-standard -- "$@" | grep -vxF "$stamp_file" | LC_ALL=C sort |
    while IFS= read -r file; do
      [ -f "$file" ] && printf '%s  %s\n' "$(sha256sum <"$file" | cut -d' ' -f1)" "$file"
    done | sha256sum | cut -d' ' -f1
}

image_hash=$(hash_of "${image_inputs[@]}")
image=caribix-ee:${image_hash:0:12}

log() { printf 'ee: %s\n' "$*" >&2; }

build() {
  if docker image inspect "$image" >/dev/null 2>&1; then
    docker tag "$image" caribix-ee:latest
    log "$image is current (inputs unchanged), not rebuilt"
    return 0
  fi
  local start=$SECONDS
  bash images/ee/build.sh "$image"
  log "built $image in $((SECONDS - start))s"
}

run_tests() {
  build
  local start=$SECONDS
  CARIBIX_EE_IMAGE=$image "$repo/.venv/bin/python" -m pytest -q -p no:cacheprovider -rs tests/ee
  log "tests/ee passed in $((SECONDS - start))s"
}

case "${1:-}" in
  build) build ;;
  test) run_tests ;;
  ci)
    verified=$(hash_of "${verified_inputs[@]}")
    recorded=$(cut -d' ' -f1 "$stamp_file" 2>/dev/null || true)
    if [ "${CARIBIX_EE:-}" = 1 ]; then
      log "CARIBIX_EE=1: building and testing the EE"
    elif [ "$verified" != "$recorded" ]; then
      log "inputs changed (${verified:0:12}, $stamp_file has ${recorded:0:12}): building and testing the EE"
    else
      echo "ee: skipped: inputs unchanged since the last verified build (${verified:0:12} in $stamp_file); CARIBIX_EE=1 forces it"
      exit 0
    fi
    run_tests
    ;;
  stamp)
    printf '%s  execution-environment inputs verified by tests/ee with %s\n' \
      "$(hash_of "${verified_inputs[@]}")" "$image" >"$stamp_file"
    log "recorded in $stamp_file: $(cat "$stamp_file")"
    ;;
  hash)
    echo "image    $image_hash"
    echo "verified $(hash_of "${verified_inputs[@]}")"
    ;;
  image) echo "$image" ;;
  *)
    sed -n '2,12p' "$0" >&2
    exit 2
    ;;
esac
