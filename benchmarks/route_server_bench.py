#!/usr/bin/env python3
"""Route-server build/load benchmark (not a test; results go in docs/route-servers.md).

For synthetic exchanges of N members (full policy: IRR origin+prefix sets,
RPKI over RTR, max-prefix, roles, blackhole, graceful shutdown, the
too-many-communities hook, lab relaxations off) it measures:

* build: caribix.routeserver.build (snapshot load + age check + cache
  seeding + arouteserver + post-processing) and arouteserver alone on
  the same input (its share of the build), as a ratio;
* parse: ``bird -p -c`` on our config and on arouteserver's raw output,
  timed inside the container;
* load: ``birdc configure "<file>"`` of a running BIRD from an empty
  config, as the role's deploy does, and BIRD's memory afterwards
  (``birdc show memory`` total, RSS).

BIRD is the route servers' own (caribix.birdcheck: Debian 13's bird2 in a
container of the managed hosts' image, no network), never the
controller's.

Variants (``--variant``) test configuration choices that cut BIRD's parse
time (see docs/route-servers.md):

* ``full``       the production policy;
* ``per-af``     one BIRD per address family (arouteserver --ip-ver 4/6),
                 i.e. half the filters per config: sum of both is reported;
* ``no-tag-as-set`` no informational AS-SET tagging communities.

Synthetic data: member i has ASN 4200000000+i (private use), one customer
ASN, ``--prefixes`` IPv4 and IPv6 route objects per ASN in 10.0.0.0/8 and
2001:db8::/32 (config only: nothing is announced), addresses in the
benchmarking range 198.18.0.0/15 and 2001:db8:ffff::/64.

    .venv/bin/python benchmarks/route_server_bench.py --sizes 10 100 500
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import netaddr

from caribix import birdcheck
from caribix import routeserver as rs

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def synthetic(n: int, prefixes_per_asn: int) -> tuple[dict, list, dict]:
    exchange = {
        "shortname": f"BENCH-{n}",
        "island": "bench",
        "route_server_asn": 64496,
        "peering_lan": {"ipv4": "198.18.0.0/15", "ipv6": "2001:db8:ffff::/64"},
    }
    members, as_sets, routes, networks = [], {}, {}, {}
    v4_blocks = netaddr.IPNetwork("10.0.0.0/8").subnet(24)
    v6_blocks = netaddr.IPNetwork("2001:db8::/32").subnet(48)
    lan4 = netaddr.IPNetwork("198.18.0.0/15")
    for i in range(n):
        asn, customer = 4200000000 + 2 * i, 4200000000 + 2 * i + 1
        name = f"AS-BENCH{i}"
        members.append(
            {
                "name": f"Member {i}",
                "asn": asn,
                "as_set": name,
                "ipv4": str(lan4[10 + i]),
                "ipv6": f"2001:db8:ffff::{10 + i:x}",
                "max_prefix": {"ipv4": 100, "ipv6": 50},
                "route_server": True,
            }
        )
        as_sets[name] = [asn, customer]
        for a in (asn, customer):
            routes[str(a)] = [str(next(v4_blocks)) for _ in range(prefixes_per_asn)] + [
                str(next(v6_blocks)) for _ in range(prefixes_per_asn)
            ]
            networks[str(a)] = {"info_prefixes4": 10, "info_prefixes6": 5, "irr_as_set": name}
        networks[str(customer)]["info_never_via_route_servers"] = i % 50 == 0
    roas = [
        {"asn": int(a), "prefix": p[0], "maxLength": netaddr.IPNetwork(p[0]).prefixlen, "ta": "bench"}
        for a, p in list(routes.items())[::2]
    ]
    snapshot = {
        "irr.json": {"as_sets": as_sets, "route_objects": routes},
        "peeringdb.json": {"networks": networks},
        # Each member's customer publishes an ASPA naming the member.
        "vrps.json": {"metadata": {}, "roas": roas, "aspas": [
            {"customer_asid": m["asn"] + 1, "providers": [m["asn"]]} for m in members
        ]},
    }
    return exchange, members, snapshot


def write_snapshot(directory: Path, snapshot: dict) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in snapshot.items():
        (directory / name).write_text(json.dumps(data))
    parts = "\n".join(f"  {p}: {{fetched_at: '{NOW}', source: bench}}" for p in rs.SNAPSHOT_PARTS)
    (directory / "metadata.yml").write_text(f"island: bench\nparts:\n{parts}\n")


def one_build(exchange, members, snapshot_dir: Path, workdir: Path, policy: dict, ip_ver: int | None = None):
    data = {"exchange": exchange, "members": members, "router_id": "192.0.2.250", "lab_mode": False, "policy": policy}
    if ip_ver:
        data["members"] = [dict(m, **({"ipv6": None} if ip_ver == 4 else {"ipv4": None})) for m in members]
    start = time.monotonic()
    cpu_start = _cpu_s()
    result = rs.build(data, snapshot_dir, workdir)
    total = time.monotonic() - start
    result.timings["build_cpu_s"] = _cpu_s() - cpu_start
    return total, result


def _cpu_s() -> float:
    """CPU seconds of this process and its finished children (arouteserver)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def bench(n: int, variant: str, prefixes: int, keep: Path | None, repeat: int = 3) -> dict:
    exchange, members, snapshot = synthetic(n, prefixes)
    tmp = Path(tempfile.mkdtemp(prefix=f"rsbench-{n}-"))
    row: dict = {"members": n, "variant": variant}
    try:
        write_snapshot(tmp / "snapshot", snapshot)
        policy = {"snapshot_max_age_hours": {p: {"warn": 1, "fail": 2} for p in rs.SNAPSHOT_PARTS}}
        if variant == "no-tag-as-set":
            policy["irr_tag_as_set"] = False
        ip_vers = [4, 6] if variant == "per-af" else [None]
        build_s = ars_s = parse_s = raw_parse_s = conf_s = 0.0
        build_cpu_s = parse_cpu_s = conf_cpu_s = 0.0
        mem, rss = [], 0
        for ip_ver in ip_vers:
            work = tmp / f"build{ip_ver or ''}"
            total, result = one_build(exchange, members, tmp / "snapshot", work, policy, ip_ver)
            build_s += total
            build_cpu_s += result.timings["build_cpu_s"]
            ars_s += result.timings["arouteserver_s"]
            conf = work / "bird.conf"
            conf.write_text(result.config)
            raw = (work / "arouteserver-output.conf").read_text()
            local = work / "local"
            local.mkdir(exist_ok=True)
            (local / "rpki_rtr_config.local").write_text(rs.rtr_config(8282))
            (local / "header.local").write_text(rs.hook_config(100))
            raw_conf = work / "raw.conf"
            raw_conf.write_text(raw.replace(rs.LOCAL_FILES_MARKER, str(local)))
            bird = birdcheck.BirdDaemon(work)
            try:
                # Alternate the two parses and keep the fastest of each: on a
                # shared machine a single run mostly measures the neighbours.
                ours, theirs, ours_cpu = [], [], []
                for _ in range(repeat):
                    t, proc = bird.parse(conf)
                    if proc.returncode != 0:
                        raise RuntimeError(f"bird -p failed: {proc.stderr}")
                    ours.append(t)
                    ours_cpu.append(birdcheck.last_parse_cpu_s)
                    t, proc = bird.parse(raw_conf)
                    theirs.append(t if proc.returncode == 0 else float("nan"))
                parse_s += min(ours)
                parse_cpu_s += min(ours_cpu)
                raw_parse_s += min(theirs)
                cpu_before = bird.cpu_s()
                t, out = bird.configure(conf)
                conf_cpu_s += bird.cpu_s() - cpu_before
                if "Reconfigured" not in out and "in progress" not in out:
                    raise RuntimeError(f"birdc configure: {out}")
                conf_s += t
                total_mem, this_rss = bird.memory()
                mem.append(total_mem)
                rss += this_rss
            finally:
                bird.stop()
            if keep:
                shutil.copy(conf, keep / f"bird-{n}-{variant}-{ip_ver or 'both'}.conf")
        row.update(
            {
                "build_s": round(build_s, 2),
                "build_cpu_s": round(build_cpu_s, 2),
                "arouteserver_s": round(ars_s, 2),
                "build_ratio": round(build_s / ars_s, 2) if ars_s else None,
                "bird_p_s": round(parse_s, 2),
                "bird_p_cpu_s": round(parse_cpu_s, 2),
                "bird_p_arouteserver_raw_s": round(raw_parse_s, 2),
                "parse_ratio": round(parse_s / raw_parse_s, 2) if raw_parse_s else None,
                "configure_s": round(conf_s, 2),
                "configure_cpu_s": round(conf_cpu_s, 2),
                "bird_memory": " + ".join(mem),
                "bird_rss_mib": round(rss / 1024, 1),
                "config_lines": sum(len((tmp / f"build{v or ''}" / "bird.conf").read_text().splitlines()) for v in ip_vers),
            }
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 500, 1000])
    parser.add_argument("--variants", nargs="+", default=["full"], choices=["full", "per-af", "no-tag-as-set"])
    parser.add_argument("--prefixes", type=int, default=5, help="IPv4 and IPv6 route objects per ASN")
    parser.add_argument("--keep", type=Path, help="copy the built configs here")
    parser.add_argument("--repeat", type=int, default=3, help="bird -p runs per config (fastest is kept)")
    parser.add_argument("--json", action="store_true", help="JSON lines instead of a Markdown table")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    print(f"<!-- {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, load average {os.getloadavg()[0]:.1f}, "
          f"{os.cpu_count()} CPUs, BIRD {rs.BIRD_HOST_VERSION} (container {birdcheck.ensure_image()}), "
          f"arouteserver --target-version {rs.BIRD_TARGET_VERSION} -->")
    columns = ["members", "variant", "build_s", "build_cpu_s", "arouteserver_s", "build_ratio", "bird_p_s", "bird_p_cpu_s",
               "bird_p_arouteserver_raw_s", "parse_ratio", "configure_s", "configure_cpu_s", "bird_memory", "bird_rss_mib",
               "config_lines"]
    if not args.json:
        print("| " + " | ".join(columns) + " |")
        print("|" + "---|" * len(columns))
    for n in args.sizes:
        for variant in args.variants:
            row = bench(n, variant, args.prefixes, args.keep, args.repeat)
            if args.json:
                print(json.dumps(row), flush=True)
            else:
                print("| " + " | ".join(str(row.get(c, "")) for c in columns) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
