#!/usr/bin/python3
"""route-server-apply: switch BIRD to a candidate configuration in one
command, or leave it on the one it runs.

Runs ON the route server (python3 standard library only), copied there by
the route_server role as /usr/local/sbin/route-server-apply. One command
instead of five tasks, because the member change pays per command over
SSH, one route server after the other (docs/performance.md).

    route-server-apply --candidate /etc/bird/bird.conf.candidate \
        --config /etc/bird/bird.conf --previous /etc/bird/bird.conf.previous \
        --expected-sessions 12

1. The candidate is the live file: nothing to do.
2. ``birdc configure "<candidate>"``: BIRD parses the new file and switches
   to it in one transaction; sessions whose configuration did not change
   stay up. If BIRD refuses it, it still runs the live file.
3. BIRD must then run one BGP session per member address (the build's
   count); otherwise it is switched back to the live file.
4. Only then the live file is kept as the previous one and the candidate
   takes its place (what BIRD loads at its next start).

If BIRD died on the way it is restarted on the live file. Prints one JSON
object: ``{"changed": bool, "applied": bool, "sessions": int|null,
"message": str}``; exit 0 when the candidate runs (or already ran), 1 when
it was not applied (BIRD runs the live file; the candidate is kept).
"""

from __future__ import annotations

import argparse
import filecmp
import grp
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
from collections.abc import Callable

RECONFIGURED = re.compile(r"Reconfigured|Reconfiguration in progress")
BGP_LINE = re.compile(r"^\S+\s+BGP\s")

Runner = Callable[[list[str]], "subprocess.CompletedProcess[str]"]


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False)


def configure(path: str, runner: Runner) -> tuple[bool, str]:
    """Ask BIRD to switch to ``path``; True when it did."""
    done = runner(["birdc", "configure", f'"{path}"'])
    output = (done.stdout + done.stderr).strip()
    return done.returncode == 0 and bool(RECONFIGURED.search(done.stdout)), output


def bgp_sessions(runner: Runner) -> int | None:
    """How many BGP protocols BIRD runs (None: BIRD does not answer)."""
    done = runner(["birdc", "-r", "show", "protocols"])
    if done.returncode != 0:
        return None
    return sum(1 for line in done.stdout.splitlines() if BGP_LINE.match(line))


def back_to_live(config: str, runner: Runner) -> str:
    """Put BIRD back on the live file: restart it if it died, else
    configure the live file again (a no-op when BIRD refused the candidate)."""
    if runner(["systemctl", "is-active", "--quiet", "bird"]).returncode != 0:
        restarted = runner(["systemctl", "restart", "bird"])
        if restarted.returncode != 0:
            return f"BIRD had died and did not start again on {config}: {restarted.stderr.strip()}"
        return f"BIRD had died; restarted on {config}"
    ok, output = configure(config, runner)
    return f"BIRD runs {config} again" if ok else f"BIRD did not take {config} back either: {output}"


def install(source: str, destination: str, owner: str = "bird", group: str = "bird", mode: int = 0o640) -> None:
    """Copy ``source`` to ``destination`` atomically, with BIRD's owner and mode."""
    temporary = destination + ".new"
    shutil.copyfile(source, temporary)
    try:
        os.chown(temporary, pwd.getpwnam(owner).pw_uid, grp.getgrnam(group).gr_gid)
    except KeyError:  # no bird user: leave the owner (tests, a bare host)
        pass
    os.chmod(temporary, mode)
    os.replace(temporary, destination)


def apply(candidate: str, config: str, previous: str, expected: int, runner: Runner = run,
          promote: Callable[[str, str], None] = install) -> tuple[int, dict]:
    if not os.path.isfile(candidate):
        return 1, {"changed": False, "applied": False, "sessions": None,
                   "message": f"no candidate {candidate}: nothing was staged"}
    if os.path.exists(config) and filecmp.cmp(candidate, config, shallow=False):
        return 0, {"changed": False, "applied": True, "sessions": None,
                   "message": f"{candidate} is what BIRD runs already"}
    ok, output = configure(candidate, runner)
    if not ok:
        restored = back_to_live(config, runner)
        return 1, {"changed": False, "applied": False, "sessions": None,
                   "message": f"BIRD refused {candidate}: {output}; {restored}"}
    sessions = bgp_sessions(runner)
    if sessions != expected:
        restored = back_to_live(config, runner)
        return 1, {"changed": True, "applied": False, "sessions": sessions,
                   "message": f"BIRD runs {sessions} BGP sessions with {candidate}, {expected} expected; {restored}"}
    if os.path.exists(config):
        promote(config, previous)
    promote(candidate, config)
    return 0, {"changed": True, "applied": True, "sessions": sessions,
               "message": f"BIRD runs {candidate} ({sessions} BGP sessions); it is now {config}"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="route-server-apply", description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidate", required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--previous", required=True)
    parser.add_argument("--expected-sessions", type=int, required=True)
    args = parser.parse_args(argv)
    code, report = apply(args.candidate, args.config, args.previous, args.expected_sessions)
    print(json.dumps(report))
    return code


if __name__ == "__main__":
    sys.exit(main())
