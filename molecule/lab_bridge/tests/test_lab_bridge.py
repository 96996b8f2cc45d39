"""Two islands and the bridge: Molecule's verify step of lab_bridge.

    molecule test -s lab_bridge
or, on labs already running:
    bash scripts/lab.sh up saint-martin && bash scripts/lab.sh up saint-barthelemy
    .venv/bin/pytest -v molecule/lab_bridge/tests/

Every pair of islands joined by a `bridged` inter-island link (from
inventories/*/group_vars/all/inter_island.yml) whose two labs are running:
each member of one pings each member of the other, IPv4 and IPv6, across
both switches' port security and the VXLAN tunnel between them. At least
one such pair must be running.

Then the bridge is cut: one switch's cable to the underlay goes down on
this machine, as a cut cable would. Traffic across it stops; inside each
island, members still reach each other and no route-server session is
reset; within a minute both switches report the link down
(caribix_fabric_inter_island_link_up) and each island's Prometheus fires
CaribixInterIslandLinkDown naming the link. Mended, the link reports up,
the alerts clear and members reach across it again. (That an unbridged link carries nothing
is proven by the fabric_whitebox scenario, which has all three islands.)
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest
import requests
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


LINK_METRICS = "/var/lib/prometheus/node-exporter/caribix_fabric.prom"


def bridged_link(island: str, remote: str) -> dict:
    return next(l for l in island_data(island)[1] if l["bridged"] and l["remote_island"] == remote)


def link_up(island: str, remote: str) -> int | None:
    """What the island's switch last exported for its bridged link to remote (None: not yet)."""
    link = bridged_link(island, remote)
    text = subprocess.run(["docker", "exec", lab.host_container(link["local_switch"]), "cat", LINK_METRICS],
                          capture_output=True, text=True).stdout
    found = re.search(r'caribix_fabric_inter_island_link_up\{[^}]*link="%s"[^}]*\} ([01])' % re.escape(link["name"]), text)
    return int(found.group(1)) if found else None


def wait_for(condition, seconds: float) -> float | None:
    """Seconds until condition() held, or None if it did not within seconds."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if condition():
            return time.monotonic() - start
        time.sleep(1)
    return None


def underlay_cable(container: str) -> str:
    """This machine's end of the container's underlay interface: the veth
    Docker plugged into the underlay bridge."""
    address = subprocess.run(["docker", "exec", container, "ip", "-o", "-4", "addr", "show", "to", lab.UNDERLAY_SUBNET],
                             capture_output=True, text=True, check=True).stdout.split()
    assert address, f"{container} has no address on the underlay {lab.UNDERLAY_SUBNET}"
    peer_index = subprocess.run(["docker", "exec", container, "cat", f"/sys/class/net/{address[1]}/iflink"],
                                capture_output=True, text=True, check=True).stdout.strip()
    for interface in Path("/sys/class/net").iterdir():
        if (interface / "ifindex").read_text().strip() == peer_index:
            return interface.name
    raise AssertionError(f"no interface of this machine is the underlay end of {container}'s {address[1]}")


def pairs_reach(left: str, right: str) -> list[bool]:
    """Whether each member of left pings the first member of right (IPv4)."""
    target = island_data(right)[0][0]
    return [ping(lab.member_container(left, m["asn"]), str(target["ipv4"])) for m in island_data(left)[0]
            if m["asn"] != target["asn"]]


def lab_hosts(island: str, group: str) -> list[dict]:
    """The island's lab hosts of one group, as scripts/lab.sh planned them."""
    plan = json.loads((REPO / "build" / "lab" / island / "plan.json").read_text())
    return [host for host in plan["hosts"] if group in host["groups"]]


def sessions_since(island: str) -> dict[str, dict[str, str]]:
    """Per route server, when each established member session came up."""
    since = {}
    for rs in lab_hosts(island, "route_servers"):
        out = subprocess.run(["docker", "exec", rs["container"], "birdc", "-r", "show", "protocols"],
                             capture_output=True, text=True).stdout
        since[rs["name"]] = {name: row["since"] for name, row in lab.parse_bgp_protocols(out).items()
                             if row["state"] == "up" and row["info"].startswith("Established")}
    return since


def link_alerts(island: str, remote: str) -> list[dict]:
    """The island's firing CaribixInterIslandLinkDown alerts for its bridged link to remote."""
    link = bridged_link(island, remote)["name"]
    firing = []
    for mon in lab_hosts(island, "monitoring"):
        alerts = requests.get(f"http://{mon['management_ipv4']}:9090/api/v1/alerts", timeout=10).json()["data"]["alerts"]
        firing += [a for a in alerts if a["labels"]["alertname"] == "CaribixInterIslandLinkDown"
                   and a["labels"].get("link") == link and a["state"] == "firing"]
    return firing


def test_a_cut_bridge_stops_only_the_traffic_across_it():
    pairs = running_bridged_pairs()
    if not pairs:
        pytest.fail("no two labs joined by a bridged link are running")
    a, b = pairs[0]
    for island in (a, b):
        assert lab_hosts(island, "route_servers") and lab_hosts(island, "monitoring"), f"{island}'s lab has no route servers or monitoring"
    assert wait_for(lambda: link_up(a, b) == 1 and link_up(b, a) == 1, 60) is not None, (
        f"the switches do not report the {a}-{b} link up: {link_up(a, b)}, {link_up(b, a)}")
    assert wait_for(lambda: not link_alerts(a, b) and not link_alerts(b, a), 90) is not None, "the link alert fires before the cut"
    sessions = {island: sessions_since(island) for island in (a, b)}
    assert all(all(rs.values()) for rs in sessions.values()), f"a route server has no established session: {sessions}"
    cable = underlay_cable(lab.host_container(bridged_link(a, b)["local_switch"]))
    subprocess.run(["ip", "link", "set", cable, "down"], check=True)
    try:
        took = wait_for(lambda: link_up(a, b) == 0 and link_up(b, a) == 0, 60)
        assert took is not None, f"60 s after the cut the switches report {link_up(a, b)} ({a}) and {link_up(b, a)} ({b})"
        print(f"both switches reported the cut after {took:.0f} s")
        alerted = wait_for(lambda: link_alerts(a, b) and link_alerts(b, a), 60 - took)
        assert alerted is not None, f"a minute after the cut: {a} alerts {link_alerts(a, b)}, {b} alerts {link_alerts(b, a)}"
        print(f"both islands' Prometheus fired CaribixInterIslandLinkDown {took + alerted:.0f} s after the cut")
        assert not any(pairs_reach(a, b)) and not any(pairs_reach(b, a)), "traffic still crosses the cut link"
        for island in (a, b):
            assert all(pairs_reach(island, island)), f"members of {island} no longer reach each other inside the island"
            assert sessions_since(island) == sessions[island], f"{island}: a route-server session was reset by the cut"
    finally:
        subprocess.run(["ip", "link", "set", cable, "up"], check=True)
    took = wait_for(lambda: link_up(a, b) == 1 and link_up(b, a) == 1, 60)
    assert took is not None, f"60 s after the repair the switches report {link_up(a, b)} ({a}) and {link_up(b, a)} ({b})"
    assert wait_for(lambda: all(pairs_reach(a, b)) and all(pairs_reach(b, a)), 30) is not None, (
        "members do not reach across the mended link")
    cleared = wait_for(lambda: not link_alerts(a, b) and not link_alerts(b, a), 60)
    assert cleared is not None, "the link alert still fires a minute after the repair"
    for island in (a, b):
        assert sessions_since(island) == sessions[island], f"{island}: a route-server session was reset by the repair"
