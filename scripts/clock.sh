# Sourced by scripts/test.sh and scripts/lab.sh once bootstrap is done.
# CARIBIX_FAKETIME moves the controller's clock for everything that follows
# (pytest, Molecule, Ansible, the route-server builds) with Debian's
# libfaketime, e.g. CARIBIX_FAKETIME=+400d: proof that nothing in the
# build expires with the calendar (docs/clock.md). The containers keep the
# real clock (libfaketime lives in the controller's processes only).
if [ -n "${CARIBIX_FAKETIME:-}" ]; then
  caribix_faketime_lib=$(find /usr/lib -path '*/faketime/libfaketime.so.1' 2>/dev/null | head -n 1)
  if [ -z "$caribix_faketime_lib" ]; then
    echo "CARIBIX_FAKETIME=$CARIBIX_FAKETIME needs Debian's faketime package (scripts/controller-packages.txt)" >&2
    exit 1
  fi
  export LD_PRELOAD="$caribix_faketime_lib" FAKETIME="$CARIBIX_FAKETIME" FAKETIME_DONT_FAKE_MONOTONIC=1
  echo "[clock] the controller's clock reads $(date -u +%FT%TZ) (CARIBIX_FAKETIME=$CARIBIX_FAKETIME); containers keep the real one" >&2
fi
