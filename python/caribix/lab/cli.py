"""python -m caribix.lab plan|cable|health|newcomer|overlay (scripts/lab.sh)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import asdict
from typing import Any

from caribix.lab import __doc__ as PACKAGE_DOC
from caribix.lab.cabling import Cabler
from caribix.lab.health import format_health, health, healthy
from caribix.lab.newcomer import newcomer
from caribix.lab.plan import LAB_SFLOW_SAMPLING_RATE, LabError, build_lab, vtep_addresses


def with_extra_vars(inventory: dict[str, Any], path: str) -> dict[str, Any]:
    """Extra vars win over every host's vars, as in ansible-playbook -e @file."""
    import yaml

    with open(path, encoding="utf-8") as handle:
        extra = yaml.safe_load(handle) or {}
    merged = json.loads(json.dumps(inventory))
    for hv in merged["_meta"]["hostvars"].values():
        hv.update(extra)
    return merged


def _load_inventory(path: str) -> dict[str, Any]:
    if path == "-":
        return json.load(sys.stdin)
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m caribix.lab", description=PACKAGE_DOC.split("\n", 1)[0])
    parser.add_argument("command", choices=["plan", "cable", "health", "newcomer", "overlay"])
    parser.add_argument("inventory", help="ansible-inventory --list output (JSON file, or - for stdin)")
    parser.add_argument("island")
    parser.add_argument("--islands", default="", help="every island of the lab, comma separated (underlay addresses)")
    parser.add_argument("--json", action="store_true", help="health: print JSON instead of text")
    parser.add_argument("--extra-vars", help="JSON/YAML extra vars the lab's playbooks get (members override)")
    args = parser.parse_args(argv)
    islands = sorted(filter(None, args.islands.split(","))) or None
    try:
        inventory = _load_inventory(args.inventory)
        if args.command == "newcomer":
            print(json.dumps(newcomer(inventory), indent=2))
            return 0
        if args.extra_vars:
            inventory = with_extra_vars(inventory, args.extra_vars)
        lab = build_lab(args.island, inventory, islands)
        if args.command == "plan":
            print(json.dumps(asdict(lab), indent=2))
            return 0
        if args.command == "overlay":
            # Lab-only variables for the playbooks (extra vars). The lab's
            # traffic is thousands of frames, not billions: sample more.
            overlay = {
                "fabric_whitebox_vtep_addresses": vtep_addresses(islands or [args.island]),
                "fabric_whitebox_sflow_sampling_rate": LAB_SFLOW_SAMPLING_RATE,
            }
            print(json.dumps(overlay, indent=2))
            return 0
        if args.command == "cable":
            for action in Cabler(lab).cable():
                print(action)
            return 0
        summary = health(lab)
        print(json.dumps(summary, indent=2) if args.json else format_health(summary))
        return 0 if healthy(summary) else 1
    except (LabError, subprocess.CalledProcessError) as error:
        detail = getattr(error, "stderr", "") or ""
        print(f"lab: {error}{(': ' + detail.strip()) if detail else ''}", file=sys.stderr)
        return 1
