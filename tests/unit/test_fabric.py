"""The fabric model: derived from the island data, bad data named precisely."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from caribix.fabric import (
    DROP_REASONS,
    FabricError,
    build_fabric,
    island_fabric,
    islands,
    load_island,
    switch_model,
    whitebox_config,
)

INVENTORIES = Path(__file__).resolve().parents[2] / "inventories"


@pytest.fixture
def gp():
    return copy.deepcopy(load_island(INVENTORIES, "guadeloupe"))


def _build(data, **kwargs):
    return build_fabric(data["exchange"], data["members"], data["switches"], data["inter_island_links"], **kwargs)


def test_every_island_builds():
    assert {"guadeloupe", "saint-martin", "saint-barthelemy"} <= set(islands(INVENTORIES))
    for island in islands(INVENTORIES):
        fabric = island_fabric(INVENTORIES, island)
        assert fabric["switches"], island


def test_member_ports_come_from_members_yml(gp):
    fabric = _build(gp, remote_islands={"saint-martin": load_island(INVENTORIES, "saint-martin")})
    ports = {p["name"]: p for p in fabric["switches"]["gp-sw1"]["ports"]}
    for member in gp["members"]:
        port = ports[member["port"]]
        assert port["role"] == "member"
        assert port["member"]["mac"] == member["mac"].lower()
        assert port["speed"] == member["speed"]
        assert port["description"] == f"AS{member['asn']} {member['name']}"
        assert port["identities"] == [port["member"]]
    assert ports["swp6"]["role"] == "unused"
    assert ports["swp8"]["role"] == "inter_island"
    assert ports["swp8"]["lan"] is None  # gp-sxm is not bridged
    assert fabric["peering_lan"]["bridge"] == "br-gp-peering"
    assert fabric["peering_lan"]["vlan_id"] == 100


def test_bridged_link_admits_the_remote_members():
    fabric = island_fabric(INVENTORIES, "saint-martin")
    link = next(l for l in fabric["inter_island_links"] if l["name"] == "sxm-sbh-telem")
    sbh = load_island(INVENTORIES, "saint-barthelemy")
    assert link["bridged"] is True
    assert {m["mac"] for m in link["remote_members"]} == {m["mac"] for m in sbh["members"]}
    assert link["remote_vtep"] == sbh["switches"]["sbh-sw1"]["management_ipv4"]
    port = next(p for p in fabric["switches"]["sxm-sw1"]["ports"] if p["name"] == "swp7")
    assert port["lan"] == "sxm-peering"
    assert len(port["identities"]) == len(sbh["members"])
    unbridged = next(l for l in fabric["inter_island_links"] if l["name"] == "gp-sxm")
    assert unbridged["remote_members"] == []


def test_vtep_override_wins():
    fabric = island_fabric(
        INVENTORIES, "saint-martin", vtep_addresses={"sxm-sw1": "192.0.2.251", "sbh-sw1": "192.0.2.252"}
    )
    link = next(l for l in fabric["inter_island_links"] if l["name"] == "sxm-sbh-telem")
    assert (link["local_vtep"], link["remote_vtep"]) == ("192.0.2.251", "192.0.2.252")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: d["members"][1].update(mac=d["members"][0]["mac"]),
            "member #2 (Basse-Terre Networks, AS64501): mac 02:ca:00:01:00:10 is already used by member Karukera Telecom",
        ),
        (lambda d: d["members"][1].update(port="swp1"), "port gp-sw1:swp1 is already used by member Karukera Telecom"),
        (lambda d: d["members"][0].update(port="swp42"), "port 'swp42' is not in switch_ports of gp-sw1"),
        (lambda d: d["members"][0].update(speed=100000), "speed 100000 exceeds port gp-sw1:swp1 maximum 10000"),
        (lambda d: d["members"][0].update(switch="gp-sw9"), "switch 'gp-sw9' is not a peering switch of this island"),
        (lambda d: d["members"][0].update(mac="02:ca:00:01:00"), "mac '02:ca:00:01:00' is not a MAC address"),
        (lambda d: d["members"][0].update(mac="01:00:5e:00:00:01"), "is a multicast address"),
        (
            lambda d: d["members"][0].update(ipv4="198.51.100.1"),
            "ipv4 198.51.100.1 is outside the peering LAN 192.0.2.0/26",
        ),
        (lambda d: d["members"][0].update(ipv6="2001:db8:2::1"), "ipv6 2001:db8:2::1 is outside the peering LAN"),
        (
            lambda d: d["members"][2].update(ipv4=d["members"][0]["ipv4"]),
            "ipv4 192.0.2.10 is already used by member Karukera Telecom",
        ),
        (lambda d: d["members"][0].pop("mac"), "field mac is missing"),
        (
            lambda d: d["members"][0].update(port="swp8"),
            "local_port gp-sw1:swp8 is already used by member Karukera Telecom",
        ),
        (
            lambda d: d["switches"]["gp-sw1"].update(switch_platform="ios"),
            "host_vars/gp-sw1.yml: switch_platform 'ios'",
        ),
        (lambda d: d["exchange"]["peering_lan"].update(vlan_id=5000), "vlan_id 5000 is not in 1-4094"),
        (
            lambda d: d["inter_island_links"][0].update(bridged=True),
            "bridged link needs the data of island saint-martin",
        ),
        (
            lambda d: d["inter_island_links"][0].update(local_port="swp99"),
            "local_port 'swp99' is not in switch_ports of gp-sw1",
        ),
    ],
)
def test_bad_data_is_named(gp, mutate, message):
    mutate(gp)
    with pytest.raises(FabricError) as error:
        _build(gp)
    assert message in str(error.value)


def test_bridging_two_lans_with_a_shared_mac_is_refused():
    sxm = load_island(INVENTORIES, "saint-martin")
    sbh = copy.deepcopy(load_island(INVENTORIES, "saint-barthelemy"))
    sbh["members"][0]["mac"] = sxm["members"][0]["mac"]
    with pytest.raises(FabricError, match="share MAC"):
        build_fabric(
            sxm["exchange"],
            sxm["members"],
            sxm["switches"],
            sxm["inter_island_links"],
            remote_islands={"saint-barthelemy": sbh, "guadeloupe": load_island(INVENTORIES, "guadeloupe")},
        )


def test_partial_model_skips_members_of_other_switches(gp):
    gp["members"][0]["switch"] = "gp-sw2"
    fabric = _build(gp, partial=True)
    ports = {p["name"]: p for p in fabric["switches"]["gp-sw1"]["ports"]}
    assert ports["swp1"]["role"] == "unused"


def test_whitebox_config_covers_member_and_bridged_ports():
    fabric = island_fabric(INVENTORIES, "saint-martin")
    config = whitebox_config(switch_model(fabric, "sxm-sw1"))
    bridge = config["links"]["bridges"][0]
    assert bridge["name"] == "br-sxm-peering"
    names = [p["name"] for p in bridge["ports"]]
    # Six members, the bridged trunk, the route servers and monitoring.
    assert names == ["swp1", "swp2", "swp3", "swp4", "swp5", "swp6", "swp7", "swp9", "swp10", "swp11"]
    trunk = next(p for p in bridge["ports"] if p["name"] == "swp7")
    assert trunk["vxlan"]["id"] == 10203
    assert [s["name"] for s in config["links"]["standalone"]] == ["swp8"]
    assert config["unused_ports"] == ["swp8", "swp12"]
    # Every filtered port has one counter per reason, labelled for Prometheus.
    assert len(config["counters"]) == 10 * len(DROP_REASONS) + 1
    assert config["counters"]["swp1_storm"] == {
        "switch": "sxm-sw1",
        "port": "swp1",
        "member": "TelEm Group",
        "reason": "storm",
    }
    swp1 = next(p for p in config["filtered_ports"] if p["name"] == "swp1")
    assert swp1["arp_pairs"] == [("02:ca:00:02:00:0a", "192.0.2.74")]
    assert swp1["ipv6_hex"] == ["0x20010db8000200000000000000000010"]


def test_the_exchange_hosts_sit_on_ports_of_their_own(gp):
    """Route servers and monitoring: a port each from their host_vars, the
    member rules, and their addresses usable from no other port."""
    fabric = island_fabric(INVENTORIES, "guadeloupe")
    ports = {p["name"]: p for p in fabric["switches"]["gp-sw1"]["ports"]}
    assert [(p["name"], p["host"]) for p in ports.values() if p["role"] == "exchange_host"] == [
        ("swp9", "gp-rs1"), ("swp10", "gp-rs2"), ("swp11", "gp-mon1")
    ]
    assert ports["swp9"]["identities"] == [
        {"name": "gp-rs1", "asn": None, "mac": "02:ca:ff:b5:9f:29", "ipv4": "192.0.2.1", "ipv6": "2001:db8:1::1"}
    ]
    assert ports["swp9"]["description"] == "CaribIX gp-rs1 (route server)"
    config = whitebox_config(switch_model(fabric, "gp-sw1"))
    filtered = {p["name"]: p for p in config["filtered_ports"]}
    assert filtered["swp9"]["arp_pairs"] == [("02:ca:ff:b5:9f:29", "192.0.2.1")]
    assert config["counters"]["swp9_source_mac"]["member"] == "gp-rs1"
    # A member may not send from any of them; a route server from the others'.
    assert filtered["swp1"]["exchange_addresses"] == {
        "ipv4": ["192.0.2.3", "192.0.2.1", "192.0.2.2"],
        "ipv6": ["2001:db8:1::3", "2001:db8:1::1", "2001:db8:1::2"],
    }
    assert filtered["swp9"]["exchange_addresses"]["ipv4"] == ["192.0.2.3", "192.0.2.2"]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda h: h.update(port="swp1"), "members.yml: member #1 (Karukera Telecom, AS64500): port gp-sw1:swp1 is already used by host gp-rs1"),
        (lambda h: h.update(mac="02:ca:00:01:00:10"), "member #1 (Karukera Telecom, AS64500): mac 02:ca:00:01:00:10 is already used by host gp-rs1"),
        (lambda h: h.update(port="swp99"), "host_vars/gp-rs1.yml: peering_port 'swp99' is not in switch_ports of gp-sw1"),
        (lambda h: h.pop("mac"), "host_vars/gp-rs1.yml: field peering_mac is missing"),
        (lambda h: h.update(ipv4="192.0.2.2"), "host_vars/gp-rs2.yml: peering_ipv4 192.0.2.2 is already used by host gp-rs1"),
    ],
)
def test_a_bad_exchange_host_port_is_named(gp, change, message):
    """The fabric's own guard (validation catches these first, by field)."""
    change(next(h for h in gp["exchange_hosts"] if h["name"] == "gp-rs1"))
    with pytest.raises(FabricError) as error:
        _build(gp, exchange_hosts=gp["exchange_hosts"])
    assert message in str(error.value)


def test_whitebox_needs_a_tunnel_endpoint(gp):
    gp["switches"]["gp-sw1"].pop("management_ipv4")
    fabric = _build(gp, remote_islands={"saint-martin": load_island(INVENTORIES, "saint-martin")})
    with pytest.raises(FabricError, match="no tunnel endpoint for gp-sw1"):
        whitebox_config(switch_model(fabric, "gp-sw1"))
