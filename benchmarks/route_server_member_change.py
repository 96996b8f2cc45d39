#!/usr/bin/env python3
"""How long until an edited member is live on both route servers, build included.

The day-2 change (docs/route-servers.md, "Scale"): N members are live on
two route servers (two BIRDs of the route servers' version, containers of
caribix.birdcheck); one member's max-prefix is edited; then, as the
playbook does (serial: 1), for each route server in turn: build its
bird.conf with caribix.routeserver.build (with the role's shared build
directory: the second route server reuses the first one's build with its
own router id), stage it as the candidate and
`birdc configure "<candidate>"` (the role's one parse). The clock stops
when the second BIRD has reconfigured and shows the new limit.

What is not in the number: Ansible's own overhead (fact gathering, SSH,
the other tasks of the role), measured by the playbook timings of
docs/production.md.

    .venv/bin/python benchmarks/route_server_member_change.py --members 1000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from route_server_bench import _cpu_s, synthetic, write_snapshot  # noqa: E402

from caribix import birdcheck  # noqa: E402
from caribix import routeserver as rs  # noqa: E402

ROUTE_SERVERS = {"rs1": "192.0.2.250", "rs2": "192.0.2.251"}


def build(exchange, members, snapshot: Path, work: Path, router_id: str, policy: dict) -> tuple[float, float, Path]:
    """(wall seconds, CPU seconds, candidate file)."""
    data = {"exchange": exchange, "members": members, "router_id": router_id, "lab_mode": False, "policy": policy}
    start, cpu_start = time.monotonic(), _cpu_s()
    result = rs.build(data, snapshot, work / "build", shared_cache=work.parent / "shared")
    candidate = work / "bird.conf.candidate"
    candidate.write_text(result.config)
    return time.monotonic() - start, _cpu_s() - cpu_start, candidate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--prefixes", type=int, default=5, help="IPv4 and IPv6 route objects per ASN")
    args = parser.parse_args()
    exchange, members, snapshot = synthetic(args.members, args.prefixes)
    policy = {"snapshot_max_age_hours": {p: {"warn": 1, "fail": 2} for p in rs.SNAPSHOT_PARTS}}
    tmp = Path(tempfile.mkdtemp(prefix="rs-member-change-"))
    daemons: dict[str, birdcheck.BirdDaemon] = {}
    try:
        write_snapshot(tmp / "snapshot", snapshot)
        for name, router_id in ROUTE_SERVERS.items():
            work = tmp / name
            work.mkdir()
            daemons[name] = birdcheck.BirdDaemon(work)
            _, _, candidate = build(exchange, members, tmp / "snapshot", work, router_id, policy)
            _, out = daemons[name].configure(candidate)
            assert "Reconfigured" in out or "in progress" in out, out

        edited = members[len(members) // 2]
        edited["max_prefix"] = {"ipv4": 123, "ipv6": 45}
        steps: dict[str, float] = {}
        start = time.monotonic()
        for name, router_id in ROUTE_SERVERS.items():
            work = tmp / name
            steps[f"{name}_build_s"], steps[f"{name}_build_cpu_s"], candidate = build(
                exchange, members, tmp / "snapshot", work, router_id, policy
            )
            cpu_before = daemons[name].cpu_s()
            steps[f"{name}_configure_s"], out = daemons[name].configure(candidate)
            steps[f"{name}_configure_cpu_s"] = daemons[name].cpu_s() - cpu_before
            assert "Reconfigured" in out or "in progress" in out, out
            shown = daemons[name].birdc("show", "protocols", "all", f"AS{edited['asn']}_1")
            assert "Import limit:   123" in shown or "Import limit: 123" in " ".join(shown.split()), shown
        total = time.monotonic() - start
        row = {
            "date": f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC",
            "load_average": round(os.getloadavg()[0], 1),
            "members": args.members,
            "bird": rs.BIRD_HOST_VERSION,
            "target": rs.BIRD_TARGET_VERSION,
            **{k: round(v, 2) for k, v in steps.items()},
            "edited_member_live_on_both_s": round(total, 2),
            # What the same steps cost in CPU: the wall time on an idle
            # machine with a core free (builds and reloads are sequential).
            "edited_member_cpu_s": round(sum(v for k, v in steps.items() if k.endswith("_cpu_s")), 2),
        }
        print(json.dumps(row))
    finally:
        for daemon in daemons.values():
            daemon.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
