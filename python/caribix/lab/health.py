"""The lab's health summary: sessions and routes on each route server (one
parser of BIRD's output, caribix_lg.birdparse), alerts firing."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.error
import urllib.request
from typing import Any, Callable

from caribix.lab.cabling import Runner, run_command
from caribix.lab.plan import PROMETHEUS_PORT, Lab
from caribix_lg.birdparse import parse_protocols

COUNT_RE = re.compile(r"^(\d+) of (\d+) routes for (\d+) networks in table (\S+)")


def parse_bgp_protocols(text: str) -> dict[str, dict[str, str]]:
    """``birdc show protocols`` -> {name: {state, since, info}} for BGP protocols.

    The looking glass's parser (caribix_lg.birdparse) reads the output: one
    parser of BIRD's protocol table for the looking glass, the lab and the
    tests.
    """
    return {
        name: {"state": protocol["state"], "since": protocol["state_changed"], "info": protocol["info"]}
        for name, protocol in parse_protocols(text).items()
        if protocol["bird_protocol"] == "BGP"
    }


def parse_route_counts(text: str, tables: tuple[str, ...] = ("master4", "master6")) -> dict[str, int]:
    """``birdc show route [filtered] count`` -> routes per table (the BGP tables only)."""
    counts = {}
    for line in text.splitlines():
        match = COUNT_RE.match(line.strip())
        if match and match.group(4) in tables:
            counts[match.group(4)] = int(match.group(1))
    return counts


def established(rows: dict[str, dict[str, str]]) -> int:
    return sum(1 for row in rows.values() if row["state"] == "up" and row["info"].startswith("Established"))


def _docker_exec(container: str, *argv: str) -> subprocess.CompletedProcess:
    return run_command(["docker", "exec", container, *argv], check=False)


def _http_json(url: str, timeout: float = 3.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (lab URL on this machine)
        return json.load(response)


def health(lab: Lab, execute: Runner = _docker_exec, fetch: Callable[[str], Any] = _http_json) -> dict[str, Any]:
    """What the lab's route servers, monitoring and looking glass say now."""
    summary: dict[str, Any] = {"island": lab.island, "route_servers": [], "alerts": None, "urls": {}}
    expected = sum(1 for m in lab.members if m.route_server) * 2
    for rs in lab.group("route_servers"):
        entry: dict[str, Any] = {"host": rs.name, "expected_sessions": expected}
        protocols = execute(rs.container, "birdc", "-r", "show", "protocols")
        if protocols.returncode != 0:
            entry["error"] = (protocols.stderr or protocols.stdout or "birdc failed").strip().splitlines()[-1]
        else:
            rows = parse_bgp_protocols(protocols.stdout)
            entry["sessions"] = len(rows)
            entry["established"] = established(rows)
            entry["down"] = sorted(name for name, row in rows.items() if not row["info"].startswith("Established"))
            accepted = parse_route_counts(execute(rs.container, "birdc", "-r", "show", "route", "count").stdout)
            filtered = parse_route_counts(execute(rs.container, "birdc", "-r", "show", "route", "filtered", "count").stdout)
            entry["accepted"] = sum(accepted.values())
            entry["filtered"] = sum(filtered.values())
        summary["route_servers"].append(entry)
    for mon in lab.group("monitoring"):
        url = f"http://{mon.management_ipv4}:{PROMETHEUS_PORT}"
        summary["urls"]["prometheus"] = url + "/alerts"
        try:
            alerts = fetch(url + "/api/v1/alerts")["data"]["alerts"]
            summary["alerts"] = sorted(
                f"{a['labels'].get('alertname')}({a['labels'].get('instance', a['labels'].get('neighbor', ''))})"
                for a in alerts
                if a.get("state") == "firing"
            )
        except (urllib.error.URLError, OSError, KeyError, ValueError) as error:
            summary["alerts_error"] = str(error)
    for lg in lab.group("looking_glass"):
        summary["urls"]["looking_glass"] = f"http://{lg.management_ipv4}/"
    return summary


def format_health(summary: dict[str, Any]) -> str:
    lines = [f"{summary['island']} lab health"]
    for rs in summary["route_servers"]:
        if "error" in rs:
            lines.append(f"  {rs['host']}: BIRD not answering ({rs['error']})")
            continue
        lines.append(
            f"  {rs['host']}: {rs['established']}/{rs['expected_sessions']} member sessions established"
            f" ({rs['sessions']} configured), routes accepted {rs['accepted']}, filtered {rs['filtered']}"
        )
        if rs["down"]:
            lines.append(f"    not established: {', '.join(rs['down'])}")
    if summary.get("alerts") is not None:
        lines.append(f"  alerts firing: {len(summary['alerts'])}" + (f" ({', '.join(summary['alerts'])})" if summary["alerts"] else ""))
    else:
        lines.append(f"  alerts: Prometheus not answering ({summary.get('alerts_error', 'no monitoring host')})")
    for what, url in sorted(summary["urls"].items()):
        lines.append(f"  {what.replace('_', ' ')}: {url}")
    return "\n".join(lines)


def healthy(summary: dict[str, Any]) -> bool:
    """Every route server answers and has every member session up."""
    return bool(summary["route_servers"]) and all(
        "error" not in rs and rs["established"] == rs["expected_sessions"] for rs in summary["route_servers"]
    )
