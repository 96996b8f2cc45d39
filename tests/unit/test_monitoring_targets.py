"""caribix.monitoring: targets, probes and labels derived from island data."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from caribix.monitoring import MonitoringDataError, member_asns, monitoring_targets

ROOT = Path(__file__).resolve().parents[2]


def load_island(island: str):
    """The real inventory of an island: groups, host_vars, exchange, members."""
    base = ROOT / "inventories" / island
    hosts = yaml.safe_load((base / "hosts.yml").read_text())["all"]["children"]
    groups = {group: list((data or {}).get("hosts", {})) for group, data in hosts.items()}
    hostvars = {path.stem: yaml.safe_load(path.read_text()) or {} for path in (base / "host_vars").glob("*.yml")}
    exchange = yaml.safe_load((base / "group_vars" / "all" / "exchange.yml").read_text())["exchange"]
    members = yaml.safe_load((base / "group_vars" / "all" / "members.yml").read_text())["members"]
    return hostvars, groups, exchange, members


ISLANDS = sorted(path.name for path in (ROOT / "inventories").iterdir() if (path / "hosts.yml").exists())


@pytest.mark.parametrize("island", ISLANDS)
def test_real_islands_derive_complete_targets(island):
    hostvars, groups, exchange, members = load_island(island)
    targets = monitoring_targets(hostvars, groups, exchange, members)
    all_hosts = {host for group in ("route_servers", "peering_switches", "monitoring", "looking_glass") for host in groups.get(group, [])}
    assert {entry["labels"]["host"] for entry in targets["node"]} == all_hosts
    assert {entry["labels"]["host"] for entry in targets["bird"]} == set(groups["route_servers"])
    # Every member address and every route-server peering address is probed.
    probed = {entry["targets"][0] for entry in targets["icmp"]}
    expected = {m[f] for m in members for f in ("ipv4", "ipv6") if m.get(f)}
    expected |= {hostvars[h][f"peering_{f}"] for h in groups["route_servers"] for f in ("ipv4", "ipv6")}
    assert probed == expected
    assert all(entry["labels"]["island"] == exchange["island"] for kind in ("node", "bird", "icmp", "http") for entry in targets[kind])
    assert len(targets["member_macs"]) == len(members)


def test_guadeloupe_labels_and_modules():
    hostvars, groups, exchange, members = load_island("guadeloupe")
    targets = monitoring_targets(hostvars, groups, exchange, members)
    karukera_v6 = next(e for e in targets["icmp"] if e["targets"] == ["2001:db8:1::10"])
    assert karukera_v6["labels"] == {
        "island": "guadeloupe",
        "role": "member",
        "member": "Karukera Telecom",
        "asn": "64500",
        "address_family": "ipv6",
        "__param_module": "icmp_ipv6",
    }
    rs1 = next(e for e in targets["node"] if e["labels"]["host"] == "gp-rs1")
    assert rs1 == {"targets": ["192.0.2.195:9100"], "labels": {"island": "guadeloupe", "host": "gp-rs1", "role": "route_server"}}
    assert targets["bird"][0]["targets"] == ["192.0.2.195:9324"]
    assert targets["http"] == [
        {"targets": ["http://192.0.2.198/"], "labels": {"island": "guadeloupe", "role": "looking_glass", "host": "gp-lg1", "__param_module": "http_2xx"}}
    ]
    assert targets["member_macs"]["02:ca:00:01:00:10"] == {"member": "Karukera Telecom", "asn": "64500"}
    assert {"host": "gp-sw1", "port": "swp3", "member": "Antilles Fibre", "asn": "64502"} in targets["member_ports"]


def test_looking_glass_url_overrides_management_address():
    hostvars, groups, exchange, members = load_island("guadeloupe")
    hostvars["gp-lg1"] = dict(hostvars["gp-lg1"], looking_glass_url="https://lg.gp.caribix.example/")
    assert monitoring_targets(hostvars, groups, exchange, members)["http"][0]["targets"] == ["https://lg.gp.caribix.example/"]


def test_node_port_is_applied():
    hostvars, groups, exchange, members = load_island("guadeloupe")
    targets = monitoring_targets(hostvars, groups, exchange, members, node_port=9101)
    assert all(entry["targets"][0].endswith(":9101") for entry in targets["node"])


def test_shared_asn_names_join():
    exchange = {"island": "lab"}
    members = [
        {"name": "A", "asn": 64500, "mac": "02:00:00:00:00:01"},
        {"name": "A second router", "asn": 64500, "mac": "02:00:00:00:00:02"},
        {"name": "B", "asn": 64501, "mac": "02:00:00:00:00:03"},
    ]
    assert member_asns(members, exchange) == [{"asn": "64500", "member": "A / A second router"}, {"asn": "64501", "member": "B"}]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda hv, g, ex, m: hv["gp-rs1"].pop("management_ipv4"), "host gp-rs1 (route_server): host_vars management_ipv4 is missing"),
        (lambda hv, g, ex, m: hv["gp-rs2"].update(management_ipv4="2001:db8::1"), "host gp-rs2 (route_server) management_ipv4: 2001:db8::1 is not an IPv4 address"),
        (lambda hv, g, ex, m: hv["gp-rs1"].update(peering_ipv6="192.0.2.1"), "host gp-rs1 (route_server) peering_ipv6: 192.0.2.1 is not an IPv6 address"),
        (lambda hv, g, ex, m: ex.pop("island"), "exchange.island is missing"),
    ],
)
def test_bad_data_is_named_precisely(mutate, message):
    hostvars, groups, exchange, members = load_island("guadeloupe")
    mutate(hostvars, groups, exchange, members)
    with pytest.raises(MonitoringDataError) as error:
        monitoring_targets(hostvars, groups, exchange, members)
    assert message in str(error.value)


def test_members_are_trusted_and_written_one_way():
    """caribix.validate checks the members before any playbook: monitoring
    only spells their MACs one way (lower case, colons)."""
    hostvars, groups, exchange, members = load_island("guadeloupe")
    members[0]["mac"] = members[0]["mac"].upper().replace(":", "-")
    macs = monitoring_targets(hostvars, groups, exchange, members)["member_macs"]
    assert macs["02:ca:00:01:00:10"] == {"member": "Karukera Telecom", "asn": "64500"}
