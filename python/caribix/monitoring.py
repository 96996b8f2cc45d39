"""Monitoring targets derived from an island's data.

Nothing about members or hosts is listed by hand in the monitoring role:
scrape targets (node_exporter on every host, bird exporter on the route
servers), blackbox probes (ICMP to every member and route-server address
on the peering LAN, HTTP to the looking glass), their labels (island,
member, ASN) and the MAC -> member map sFlow traffic is attributed with
all come from the inventory: the groups, each host's ``management_ipv4``
/ ``peering_ipv4`` / ``peering_ipv6``, ``exchange`` and ``members``.

The targets come out as Prometheus file_sd target groups
(``[{"targets": [...], "labels": {...}}]``): Prometheus rereads those
files by itself, so a new member needs no Prometheus reload.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Mapping

# Inventory group -> the ``role`` label of its hosts. A host in several
# groups takes the first that matches, in this order.
HOST_GROUPS = {
    "route_servers": "route_server",
    "peering_switches": "peering_switch",
    "monitoring": "monitoring",
    "looking_glass": "looking_glass",
}


class MonitoringDataError(ValueError):
    """The island data cannot be monitored as it is; the message says where."""


def _island(exchange: Mapping[str, Any]) -> str:
    island = exchange.get("island") if isinstance(exchange, Mapping) else None
    if not island:
        raise MonitoringDataError("exchange.island is missing: every metric is labelled with its island")
    return str(island)


def _address(value: Any, version: int, where: str) -> str:
    try:
        address = ipaddress.ip_address(str(value))
    except ValueError as error:
        raise MonitoringDataError(f"{where}: {value!r} is not an IP address") from error
    if address.version != version:
        raise MonitoringDataError(f"{where}: {value} is not an IPv{version} address")
    return str(address)


def _host_port(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def host_roles(groups: Mapping[str, list[str]]) -> dict[str, str]:
    """Hostname -> role label, for every host of the monitored groups."""
    roles: dict[str, str] = {}
    for group, role in HOST_GROUPS.items():
        for host in groups.get(group, []) or []:
            roles.setdefault(host, role)
    return roles


def _management_address(host: str, hostvars: Mapping[str, Mapping[str, Any]], role: str) -> str:
    value = (hostvars.get(host) or {}).get("management_ipv4")
    if not value:
        raise MonitoringDataError(f"host {host} ({role}): host_vars management_ipv4 is missing; monitoring scrapes every host on its management address")
    return _address(value, 4, f"host {host} ({role}) management_ipv4")


def node_targets(groups, hostvars, exchange, port: int = 9100) -> list[dict]:
    """node_exporter on every host of the island."""
    island = _island(exchange)
    return [
        {
            "targets": [_host_port(_management_address(host, hostvars, role), port)],
            "labels": {"island": island, "host": host, "role": role},
        }
        for host, role in sorted(host_roles(groups).items())
    ]


def bird_targets(groups, hostvars, exchange, port: int = 9324) -> list[dict]:
    """prometheus-bird-exporter on every route server."""
    island = _island(exchange)
    return [
        {
            "targets": [_host_port(_management_address(host, hostvars, "route_server"), port)],
            "labels": {"island": island, "host": host, "role": "route_server"},
        }
        for host in sorted(groups.get("route_servers", []) or [])
    ]


def normalised_members(members: list[dict]) -> list[dict]:
    """The fields monitoring needs, in one spelling (a MAC in lower case
    with colons). The members come checked by caribix.validate (every
    playbook runs it first): their fields are trusted here."""
    result = []
    for member in members:
        entry = {"name": str(member["name"]), "asn": member["asn"],
                 "mac": str(member["mac"]).lower().replace("-", ":")}
        for field in ("ipv4", "ipv6"):
            if member.get(field):
                entry[field] = str(ipaddress.ip_address(str(member[field])))
        result.append(entry)
    return result


def icmp_probe_targets(groups, hostvars, exchange, members) -> list[dict]:
    """ICMP reachability of every member and route-server address on the peering LAN."""
    island = _island(exchange)
    probes = []
    for member in normalised_members(members):
        for family in ("ipv4", "ipv6"):
            if family in member:
                probes.append(
                    {
                        "targets": [member[family]],
                        "labels": {
                            "island": island,
                            "role": "member",
                            "member": member["name"],
                            "asn": str(member["asn"]),
                            "address_family": family,
                            "__param_module": f"icmp_{family}",
                        },
                    }
                )
    for host in sorted(groups.get("route_servers", []) or []):
        for family, version in (("ipv4", 4), ("ipv6", 6)):
            value = (hostvars.get(host) or {}).get(f"peering_{family}")
            if value:
                probes.append(
                    {
                        "targets": [_address(value, version, f"host {host} (route_server) peering_{family}")],
                        "labels": {
                            "island": island,
                            "role": "route_server",
                            "host": host,
                            "address_family": family,
                            "__param_module": f"icmp_{family}",
                        },
                    }
                )
    return probes


def http_probe_targets(groups, hostvars, exchange) -> list[dict]:
    """The looking glass over HTTP(S): its ``looking_glass_url`` if set, else its management address."""
    island = _island(exchange)
    probes = []
    for host in sorted(groups.get("looking_glass", []) or []):
        url = (hostvars.get(host) or {}).get("looking_glass_url")
        if not url:
            url = f"http://{_management_address(host, hostvars, 'looking_glass')}/"
        probes.append({"targets": [str(url)], "labels": {"island": island, "role": "looking_glass", "host": host, "__param_module": "http_2xx"}})
    return probes


def member_macs(members, exchange) -> dict[str, dict[str, str]]:
    """MAC -> {member, asn}: who sent or received each sampled frame."""
    return {member["mac"]: {"member": member["name"], "asn": str(member["asn"])} for member in normalised_members(members)}


def member_asns(members, exchange) -> list[dict[str, str]]:
    """(asn, member name) pairs, for relabelling BIRD protocols with member names.

    Several entries can share an ASN (a member with two routers); their
    names are joined so the label stays single-valued.
    """
    names: dict[int, list[str]] = {}
    for member in normalised_members(members):
        names.setdefault(member["asn"], [])
        if member["name"] not in names[member["asn"]]:
            names[member["asn"]].append(member["name"])
    return [{"asn": str(asn), "member": " / ".join(names[asn])} for asn in sorted(names)]


def member_ports(members, exchange) -> list[dict[str, str]]:
    """(switch, port) -> member: port errors and port-security metrics name the member."""
    return [{"host": str(member["switch"]), "port": str(member["port"]), "member": str(member["name"]), "asn": str(member["asn"])}
            for member in members if member.get("switch") and member.get("port")]


def monitoring_targets(hostvars, groups, exchange, members, node_port: int = 9100, bird_port: int = 9324) -> dict[str, Any]:
    """Everything the monitoring role renders, computed once."""
    return {
        "island": _island(exchange),
        "node": node_targets(groups, hostvars, exchange, node_port),
        "bird": bird_targets(groups, hostvars, exchange, bird_port),
        "icmp": icmp_probe_targets(groups, hostvars, exchange, members),
        "http": http_probe_targets(groups, hostvars, exchange),
        "member_macs": member_macs(members, exchange),
        "member_asns": member_asns(members, exchange),
        "member_ports": member_ports(members, exchange),
    }
