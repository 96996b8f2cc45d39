"""The island lab's plan, cables and health summary (python/caribix/lab.py).

The plan is built from the real islands as Ansible merges them
(``ansible-inventory --list``, exactly what scripts/lab.sh feeds it); the
cabling and the health summary run against a recording fake of the
commands, so no container is needed here (the lab itself is the
end-to-end test, docs/lab.md).
"""

from __future__ import annotations

import copy
import ipaddress
import json
import subprocess
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

from caribix import lab
from caribix.model import load_island
from caribix.validate import load_siblings, validate_island, vault_keys_of

REPO = Path(__file__).resolve().parents[2]
ISLANDS = ["guadeloupe", "saint-barthelemy", "saint-martin"]


@lru_cache(maxsize=None)
def inventory(island: str) -> dict:
    out = subprocess.run(
        [str(REPO / ".venv/bin/ansible-inventory"), "-i", f"inventories/{island}", "--list"],
        cwd=REPO, check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(out)


def members_of(island: str) -> list[dict]:
    return yaml.safe_load((REPO / f"inventories/{island}/group_vars/all/members.yml").read_text())["members"]


@pytest.mark.parametrize("island", ISLANDS)
def test_plan_follows_the_island_data(island):
    plan = lab.build_lab(island, inventory(island), ISLANDS)
    members = members_of(island)
    assert [m.asn for m in plan.members] == [m["asn"] for m in members]
    assert [m.port for m in plan.members] == [m["port"] for m in members]
    assert len({m.container for m in plan.members}) == len(members)
    assert all(m.container == f"caribix-lab-{island}-as{m.asn}" for m in plan.members)
    # Every host with a peering address gets a leg; the looking glass has none.
    legs = {h.name for h in plan.hosts if h.peering_ipv4}
    assert legs == {h.name for h in plan.hosts if {"route_servers", "monitoring"} & set(h.groups)}
    # Members' management addresses never collide with a host's.
    upper = ipaddress.IPv4Network(plan.ip_range)
    assert upper.subnet_of(ipaddress.IPv4Network(plan.subnet))
    assert not any(ipaddress.IPv4Address(h.management_ipv4) in upper for h in plan.hosts)
    switch = plan.group("peering_switches")[0]
    assert switch.underlay_ipv4 == lab.underlay_address(ISLANDS.index(island))
    assert plan.bridge.startswith("br-")


def test_underlay_addresses_are_distinct_and_inside_the_underlay():
    addresses = [lab.underlay_address(i) for i in range(len(ISLANDS))]
    assert len(set(addresses)) == len(addresses)
    net = ipaddress.IPv4Network(lab.UNDERLAY_SUBNET)
    assert all(ipaddress.IPv4Address(a) in net for a in addresses)
    # Docker's gateway (the first address) is never given to a switch.
    assert str(net.network_address + 1) not in addresses


def test_a_host_in_the_members_half_is_refused():
    with pytest.raises(lab.LabError, match="upper half"):
        lab.member_ip_range("192.0.2.192/28", ["192.0.2.194", "192.0.2.201"])
    assert lab.member_ip_range("192.0.2.192/28", ["192.0.2.194"]) == "192.0.2.200/29"


@pytest.mark.parametrize("island", ["guadeloupe", "saint-barthelemy"])
def test_the_newcomer_is_valid_island_data(island):
    """The member-change rerun adds a member the data model accepts."""
    extra = lab.newcomer(inventory(island))
    path = REPO / "inventories" / island
    data = load_island(path, vault_ids=[f"lab@{REPO}/inventories/lab-vault-password.txt"])
    data.variables["members"] = extra["members"]
    assert validate_island(data, load_siblings(path), vault_keys_of(data)) == []
    added = extra["members"][-1]
    assert added["asn"] not in {m["asn"] for m in members_of(island)}


def test_the_newcomer_takes_no_port_of_the_exchange_hosts():
    # Saint-Martin: six members, two inter-island links, the route servers
    # and monitoring on swp9-11; swp12 is the one free port.
    assert lab.newcomer(inventory("saint-martin"))["members"][-1]["port"] == "swp12"


def test_no_newcomer_without_a_free_port():
    data = inventory("saint-martin")
    data["_meta"]["hostvars"]["sxm-sw1"]["switch_ports"].pop("swp12")
    with pytest.raises(lab.LabError, match="no free port on sxm-sw1"):
        lab.newcomer(data)


class FakeHost:
    """Records commands; answers `ip link show` from a set of links per pid."""

    def __init__(self, links: dict[int, set[str]], pids: dict[str, int]):
        self.links = links
        self.pids = pids
        self.commands: list[list[str]] = []
        self.macs: dict[int, str] = {}
        self.kinds: dict[int, str] = {}

    def __call__(self, argv, check=True):
        self.commands.append(argv)
        rc, out = 0, ""
        if argv[:2] == ["docker", "inspect"]:
            out = str(self.pids.get(argv[-1], 0))
        elif argv[0] == "nsenter":
            pid, cmd = int(argv[2]), argv[4:]
            if cmd[:3] == ["ip", "link", "show"]:
                rc = 0 if cmd[-1] in self.links[pid] else 1
            elif cmd[:3] == ["ip", "-j", "addr"]:
                out = json.dumps([{"ifname": "eth1", "mtu": 1500, "flags": ["UP"], "addr_info": []}])
            elif cmd[:4] == ["ip", "-j", "-d", "link"]:
                out = json.dumps([{"ifname": "eth1", "address": self.macs.get(pid, ""), "linkinfo": {"info_kind": self.kinds.get(pid, "veth")}}])
            elif cmd[:5] == ["ip", "link", "set", "dev", "eth1"] and cmd[5] == "address":
                self.macs[pid] = cmd[6]
        elif argv[:3] == ["ip", "link", "add"]:
            self.links[int(argv[6])].add(argv[4])
            self.links[int(argv[-1])].add(argv[-3])
        return subprocess.CompletedProcess(argv, rc, out, "")


def small_lab() -> lab.Lab:
    return lab.Lab(
        island="guadeloupe", network="n", subnet="192.0.2.192/28", ip_range="192.0.2.200/29",
        bridge="br-gp-peering", peering_ipv4="192.0.2.0/26", peering_ipv6="2001:db8:1::/64", mtu=1500,
        hosts=[
            lab.LabHost("gp-sw1", "caribix-lab-gp-sw1", ["peering_switches"], "192.0.2.194"),
            lab.LabHost("gp-rs1", "caribix-lab-gp-rs1", ["route_servers"], "192.0.2.195",
                        "192.0.2.1", "2001:db8:1::1", "02:ca:ff:b5:9f:29", "swp9"),
        ],
        members=[lab.LabMember("Karukera Telecom", 64500, "caribix-lab-guadeloupe-as64500", "gp-sw1",
                               "caribix-lab-gp-sw1", "swp1", True)],
    )


def test_cabling_makes_each_cable_once():
    pids = {"caribix-lab-gp-sw1": 10, "caribix-lab-guadeloupe-as64500": 20, "caribix-lab-gp-rs1": 30}
    fake = FakeHost({10: set(), 20: set(), 30: set()}, pids)
    actions = lab.Cabler(small_lab(), run=fake).cable()
    veth = [c for c in fake.commands if c[:3] == ["ip", "link", "add"]]
    assert veth[0] == ["ip", "link", "add", "name", "swp1", "netns", "10", "type", "veth", "peer", "name", "eth1", "netns", "20"]
    assert len(veth) == 2
    made = [c[4:] for c in fake.commands if c[0] == "nsenter"]
    # The route server is cabled like a member, to its own port, and keeps
    # the MAC its host_vars give (the port security admits only that one).
    assert ["ip", "link", "add", "name", "swp9", "netns", "10", "type", "veth", "peer", "name", "eth1", "netns", "30"] in veth
    assert ["ip", "link", "set", "dev", "eth1", "address", "02:ca:ff:b5:9f:29"] in made
    assert any(c[:4] == ["ip", "addr", "replace", "192.0.2.1/26"] for c in made)
    assert any(c[:4] == ["ip", "addr", "replace", "2001:db8:1::1/64"] for c in made)
    # The switch's deployed fabric takes the new ports into its bridge.
    reconcile = ["docker", "exec", "caribix-lab-gp-sw1", "systemctl", "try-reload-or-restart", "caribix-fabric.service"]
    assert reconcile in fake.commands
    assert actions

    # Second run: the fake now has every link (the rename happened in the
    # container) and the addresses; nothing but looks.
    fake.commands.clear()
    lab_again = lab.Cabler(small_lab(), run=fake)
    lab_again.configure_host_leg = lambda host, pid: None  # addresses covered above
    assert lab_again.cable() == []
    assert not [c for c in fake.commands if c[:3] == ["ip", "link", "add"]]
    assert reconcile not in fake.commands


def test_a_dangling_end_is_replaced():
    """After a member container restart only the switch's end is left."""
    pids = {"caribix-lab-gp-sw1": 10, "caribix-lab-guadeloupe-as64500": 20, "caribix-lab-gp-rs1": 30}
    fake = FakeHost({10: {"swp1", "swp9"}, 20: set(), 30: {"eth1"}}, pids)
    cabler = lab.Cabler(small_lab(), run=fake)
    cabler.cable_member(small_lab().members[0])
    assert ["nsenter", "-t", "10", "-n", "ip", "link", "del", "dev", "swp1"] in fake.commands
    assert fake.commands[-1][:3] == ["ip", "link", "add"]


def test_a_macvlan_leg_of_an_older_lab_is_replaced_by_a_cable():
    """Labs made before the exchange's hosts had ports gave them a macvlan."""
    pids = {"caribix-lab-gp-sw1": 10, "caribix-lab-guadeloupe-as64500": 20, "caribix-lab-gp-rs1": 30}
    fake = FakeHost({10: {"swp1"}, 20: {"eth1"}, 30: {"eth1"}}, pids)
    fake.kinds[30] = "macvlan"
    cabler = lab.Cabler(small_lab(), run=fake)
    cabler.configure_host_leg = lambda host, pid: None
    cabler.cable()
    assert ["nsenter", "-t", "30", "-n", "ip", "link", "del", "dev", "eth1"] in fake.commands
    assert ["ip", "link", "add", "name", "swp9", "netns", "10", "type", "veth", "peer", "name", "eth1", "netns", "30"] in fake.commands


def test_a_stopped_container_is_named():
    fake = FakeHost({}, {})
    with pytest.raises(lab.LabError, match="container caribix-lab-gp-sw1 is not running"):
        lab.Cabler(small_lab(), run=fake).cable()


# Captured from a Guadeloupe lab route server (BIRD 2.0.12, birdc -r).
SHOW_PROTOCOLS = """BIRD 2.0.12 ready.
Access restricted
Name       Proto      Table      State  Since         Info
device1    Device     ---        up     2026-11-26 04:34:12
RPKI_stayrtr RPKI       ---        up     2026-11-26 04:35:19  Established
AS64500_1  BGP        ---        up     2026-11-26 04:35:30  Established
AS64500_2  BGP        ---        up     2026-11-26 04:35:23  Established
AS64501_1  BGP        ---        start  2026-11-26 04:35:43  Active        Socket: Connection refused
AS64501_2  BGP        ---        up     2026-11-26 04:35:45  Established
"""
ROUTE_COUNT = """BIRD 2.0.12 ready.
Access restricted
2 of 2 routes for 2 networks in table master4
4 of 4 routes for 4 networks in table master6
9 of 9 routes for 9 networks in table RPKI4
"""


def test_birdc_output_is_read():
    rows = lab.parse_bgp_protocols(SHOW_PROTOCOLS)
    assert set(rows) == {"AS64500_1", "AS64500_2", "AS64501_1", "AS64501_2"}
    assert rows["AS64501_1"]["state"] == "start"
    assert lab.established(rows) == 3
    # RPKI tables are not routes of members.
    assert lab.parse_route_counts(ROUTE_COUNT) == {"master4": 2, "master6": 4}


def test_health_summary_counts_and_judges():
    def execute(container, *argv):
        text = SHOW_PROTOCOLS if argv[-1] == "protocols" else ROUTE_COUNT
        return subprocess.CompletedProcess(argv, 0, text, "")

    def fetch(url):
        assert url == "http://192.0.2.197:9090/api/v1/alerts"
        return {"data": {"alerts": [
            {"state": "firing", "labels": {"alertname": "BgpSessionDown", "instance": "gp-rs1"}},
            {"state": "pending", "labels": {"alertname": "Other"}},
        ]}}

    plan = small_lab()
    plan.members.append(lab.LabMember("Basse-Terre", 64501, "c", "gp-sw1", "caribix-lab-gp-sw1", "swp2", True))
    plan.hosts.append(lab.LabHost("gp-mon1", "caribix-lab-gp-mon1", ["monitoring"], "192.0.2.197"))
    summary = lab.health(plan, execute=execute, fetch=fetch)
    rs = summary["route_servers"][0]
    assert (rs["established"], rs["expected_sessions"], rs["accepted"]) == (3, 4, 6)
    assert rs["down"] == ["AS64501_1"]
    assert summary["alerts"] == ["BgpSessionDown(gp-rs1)"]
    assert not lab.healthy(summary)
    text = lab.format_health(summary)
    assert "3/4 member sessions established" in text and "alerts firing: 1" in text


@pytest.mark.parametrize("island", ISLANDS)
def test_invalid_announcements_name_real_members(island):
    """lab/announcements/<island>.yml: members of the island, real prefixes, a reason."""
    data = yaml.safe_load((REPO / f"lab/announcements/{island}.yml").read_text())
    asns = {m["asn"] for m in members_of(island)}
    assert data and set(data) <= asns
    for routes in data.values():
        for route in routes:
            ipaddress.ip_network(route["prefix"])  # a network, no host bits
            assert isinstance(route["code"], int) and route["reason"]


def test_every_lab_agrees_on_the_tunnel_endpoints():
    """The overlay names every island's switch at its plan's underlay address."""
    vteps = lab.vtep_addresses(ISLANDS, str(REPO / "inventories"))
    for island in ISLANDS:
        switch = lab.build_lab(island, inventory(island), ISLANDS).group("peering_switches")[0]
        assert vteps[switch.name] == switch.underlay_ipv4
    assert len(set(vteps.values())) == len(ISLANDS)


def test_a_routers_fingerprint_follows_only_its_own_member():
    """lab.sh's member change reconfigures the routers whose fingerprint
    changed: the member's entry or its password, not another member's."""
    data = inventory("guadeloupe")
    before = {m.asn: m.router_fingerprint for m in lab.build_lab("guadeloupe", data, ISLANDS).members}
    changed = copy.deepcopy(data)
    for hostvars in changed["_meta"]["hostvars"].values():
        hostvars["members"][1]["max_prefix"] = {"ipv4": 99}
        key = hostvars["members"][0].get("bgp_password_vault_key")
        if key:
            hostvars["vault_bgp_passwords"][key] = "rotated"
    after = {m.asn: m.router_fingerprint for m in lab.build_lab("guadeloupe", changed, ISLANDS).members}
    first, second = list(before)[:2]
    assert after[second] != before[second]
    assert (after[first] != before[first]) == bool(data["_meta"]["hostvars"]["gp-rs1"]["members"][0].get("bgp_password_vault_key"))
    assert all(after[asn] == before[asn] for asn in list(before)[2:])
