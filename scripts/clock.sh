# Sourced by scripts/test.sh and scripts/lab.sh once bootstrap is done.
# CARIBIX_CLOCK_AHEAD_DAYS moves the controller's clock that many days
# ahead for everything that follows (pytest, Molecule, Ansible, the
# route-server builds), with Debian's datefudge (an LD_PRELOAD library
# that shifts the wall clock only; monotonic clocks and sleeps stay real,
# which libfaketime on Debian 12 gets wrong for Python). Proof that nothing
# in the build expires with the calendar (docs/clock.md). The containers
# keep the real clock: the library lives in the controller's processes.
if [ -n "${CARIBIX_CLOCK_AHEAD_DAYS:-}" ]; then
  caribix_datefudge_lib=$(find /usr/lib -path '*/datefudge/datefudge.so' 2>/dev/null | head -n 1)
  if [ -z "$caribix_datefudge_lib" ]; then
    echo "CARIBIX_CLOCK_AHEAD_DAYS needs Debian's datefudge package (scripts/controller-packages.txt)" >&2
    exit 1
  fi
  # datefudge subtracts DATEFUDGE seconds from the real time.
  export LD_PRELOAD="$caribix_datefudge_lib" DATEFUDGE=$((-86400 * CARIBIX_CLOCK_AHEAD_DAYS))
  echo "[clock] the controller's clock reads $(date -u +%FT%TZ) (CARIBIX_CLOCK_AHEAD_DAYS=$CARIBIX_CLOCK_AHEAD_DAYS); containers keep the real one" >&2
fi
