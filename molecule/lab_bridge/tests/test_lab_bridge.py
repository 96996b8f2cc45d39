"""Two islands and the bridge: Molecule's verify step of lab_bridge.

    molecule test -s lab_bridge
or, on labs already running:
    bash scripts/lab.sh up saint-martin && bash scripts/lab.sh up saint-barthelemy
    .venv/bin/pytest -v molecule/lab_bridge/tests/

Every pair of islands joined by a `bridged` inter-island link (from
inventories/*/group_vars/all/inter_island.yml) whose two labs are running:
each member of one pings each member of the other, IPv4 and IPv6, across
both switches' port security and the VXLAN tunnel between them. At least
one such pair must be running. (That an unbridged link carries nothing
is proven by the fabric_whitebox scenario, which has all three islands.)
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from caribix import lab

REPO = Path(__file__).resolve().parents[3]


def island_data(island: str) -> tuple[list[dict], list[dict]]:
    group_vars = REPO / "inventories" / island / "group_vars" / "all"
    members = yaml.safe_load((group_vars / "members.yml").read_text())["members"]
    links = yaml.safe_load((group_vars / "inter_island.yml").read_text())["inter_island_links"]
    return members, links


def running(container: str) -> bool:
    out = subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", container], capture_output=True, text=True)
    return out.stdout.strip() == "true"


def bridged_pairs() -> list[tuple[str, str]]:
    pairs = set()
    inventories = REPO / "inventories"
    for island in sorted(p.name for p in inventories.iterdir() if (p / "group_vars/all/inter_island.yml").is_file()):
        if island == "template":
            continue
        for link in island_data(island)[1]:
            if link["bridged"]:
                pairs.add(tuple(sorted((island, link["remote_island"]))))
    return sorted(pairs)


def ping(container: str, address: str) -> bool:
    return subprocess.run(["docker", "exec", container, "ping", "-c", "1", "-W", "2", address], capture_output=True).returncode == 0


def running_bridged_pairs() -> list[tuple[str, str]]:
    return [
        (a, b) for a, b in bridged_pairs()
        if all(running(lab.member_container(i, m["asn"])) for i in (a, b) for m in island_data(i)[0])
    ]


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_members_reach_each_other_across_a_bridged_link(family):
    pairs = running_bridged_pairs()
    if not pairs:
        pytest.fail("no two labs joined by a bridged link are running: "
                    "bash scripts/lab.sh up saint-martin && bash scripts/lab.sh up saint-barthelemy")
    for a, b in pairs:
        for left, right in ((a, b), (b, a)):
            for member in island_data(left)[0]:
                for other in island_data(right)[0]:
                    assert ping(lab.member_container(left, member["asn"]), str(other[family])), (
                        f"{left} AS{member['asn']} cannot reach {right} AS{other['asn']} at {other[family]}"
                    )
