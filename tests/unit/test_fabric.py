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
NEGATIVE = Path(__file__).resolve().parents[2] / "tests" / "negative"


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


# The fabric trusts validated data (caribix.validate, run first by every
# playbook): each field it builds from has a case in tests/negative/ that
# validation must refuse, by file, member and field.
FIELDS_THE_FABRIC_TRUSTS = {
    "member MAC format": "mac-wrong-format",
    "member MAC unicast": "multicast-mac",
    "member MAC unique": "duplicate-mac",
    "member switch": "unknown-switch",
    "member port": "unknown-port",
    "member port unique": "duplicate-port",
    "member port not a link's": "member-on-inter-island-port",
    "member speed": "speed-exceeds-port",
    "member IPv4 in the LAN": "member-ipv4-outside-lan",
    "member IPv6 in the LAN": "member-ipv6-outside-lan",
    "member IPv4 unique": "duplicate-ipv4",
    "switch platform": "switch-platform-unknown",
    "switch port names": "switch-port-name-refused",
    "peering LAN VLAN": "vlan-id-out-of-range",
    "link port": "inter-island-unknown-port",
    "link remote island": "inter-island-unknown-remote",
    "link both ends agree": "inter-island-vni-mismatch",
    "bridged MACs unique": "bridged-island-mac-clash",
    "host port": "exchange-host-unknown-port",
    "host port unique": "exchange-host-port-taken",
    "host MAC unique": "exchange-host-mac-taken",
    "host port given": "exchange-host-port-missing",
}


@pytest.mark.parametrize("field, case", sorted(FIELDS_THE_FABRIC_TRUSTS.items()))
def test_what_the_fabric_trusts_is_validated(field, case):
    """The check lives in validation alone; test_validate_negative runs
    each case and matches its expected error."""
    expected = NEGATIVE / case / "expected_error.txt"
    assert expected.is_file(), f"{field}: no negative case {case}"
    assert expected.read_text(encoding="utf-8").strip()


def test_a_bridged_link_needs_the_remote_island(gp):
    gp["inter_island_links"][0]["bridged"] = True
    with pytest.raises(FabricError, match="bridged link needs the data of island saint-martin"):
        _build(gp)


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


def test_whitebox_needs_a_tunnel_endpoint(gp):
    gp["switches"]["gp-sw1"].pop("management_ipv4")
    fabric = _build(gp, remote_islands={"saint-martin": load_island(INVENTORIES, "saint-martin")})
    with pytest.raises(FabricError, match="no tunnel endpoint for gp-sw1"):
        whitebox_config(switch_model(fabric, "gp-sw1"))
