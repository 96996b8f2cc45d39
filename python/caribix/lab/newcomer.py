"""A member added for the member-change rerun: free ASN, port, addresses,
MAC (the island's files stay untouched; it goes in as extra vars)."""

from __future__ import annotations

import ipaddress
from typing import Any

from caribix.lab.plan import LabError


# Documentation ASNs (RFC 5398) the lab may give a newcomer.
NEWCOMER_ASNS = list(range(64511, 64495, -1)) + list(range(65551, 65535, -1))


def newcomer(inventory: dict[str, Any]) -> dict[str, Any]:
    """A valid extra member for the island: free ASN, port, addresses, MAC.

    The member-change rerun passes ``members + [newcomer]`` as extra vars,
    so the island's files stay untouched and validation still sees it.
    """
    hostvars = inventory["_meta"]["hostvars"]
    any_vars = next(iter(hostvars.values()))
    exchange, members = any_vars["exchange"], list(any_vars.get("members") or [])
    links = any_vars.get("inter_island_links") or []
    used_asns = {int(m["asn"]) for m in members} | {int(exchange["route_server_asn"])}
    asn = next(a for a in NEWCOMER_ASNS if a not in used_asns)
    switch_name = next(h for h, hv in hostvars.items() if "switch_ports" in hv)
    used_ports = (
        {m["port"] for m in members}
        | {link["local_port"] for link in links}
        | {hv["peering_port"] for hv in hostvars.values() if hv.get("peering_switch") == switch_name}
    )
    port = next((p for p in hostvars[switch_name]["switch_ports"] if p not in used_ports), None)
    if port is None:
        raise LabError(f"no free port on {switch_name} for a new member")
    taken4 = {str(m["ipv4"]) for m in members} | {str(hv["peering_ipv4"]) for hv in hostvars.values() if hv.get("peering_ipv4")}
    taken6 = {str(ipaddress.IPv6Address(m["ipv6"])) for m in members} | {
        str(ipaddress.IPv6Address(hv["peering_ipv6"])) for hv in hostvars.values() if hv.get("peering_ipv6")
    }
    lan4 = ipaddress.IPv4Network(exchange["peering_lan"]["ipv4"])
    lan6 = ipaddress.IPv6Network(exchange["peering_lan"]["ipv6"])
    ipv4 = next(str(a) for a in list(lan4.hosts())[::-1][1:] if str(a) not in taken4)
    index = int(ipv4.rsplit(".", 1)[1])
    ipv6 = str(lan6.network_address + index)
    if ipv6 in taken6:
        raise LabError(f"{ipv6} is taken; cannot derive the newcomer's IPv6 address")
    mac = f"02:ca:ee:{(asn >> 8) & 0xff:02x}:{asn & 0xff:02x}:{index:02x}"
    member = {
        "name": f"Lab Newcomer AS{asn}",
        "asn": asn,
        "as_set": f"AS{asn}",
        "ipv4": ipv4,
        "ipv6": ipv6,
        "mac": mac,
        "switch": switch_name,
        "port": port,
        "speed": 1000,
        "max_prefix": {"ipv4": 10, "ipv6": 10},
        "route_server": True,
        "noc": {"email": "lab@caribix.example"},
    }
    return {"members": members + [member]}
