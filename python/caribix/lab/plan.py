"""What an island's lab is: its containers, networks and addresses, derived
from the island inventory (``ansible-inventory --list``)."""

from __future__ import annotations

import hashlib
import ipaddress
import json
from dataclasses import dataclass, field
from typing import Any

from caribix.fabric import bridge_name

PREFIX = "caribix-lab"
# The peering interface inside every lab container (member or host).
PEERING_IFNAME = "eth1"
# The inter-island underlay (VXLAN between switch containers): a Docker
# network of its own, shared by every island's lab. Not the fabric
# scenario's 192.0.2.248/29, so both can run at once.
UNDERLAY_NETWORK = f"{PREFIX}-underlay"
UNDERLAY_SUBNET = "203.0.113.248/29"
# Role defaults of the services the summary points at (roles/monitoring,
# roles/looking_glass defaults).
PROMETHEUS_PORT = 9090
# One frame in this many is sampled by the lab's whitebox sFlow agents.
LAB_SFLOW_SAMPLING_RATE = 8


class LabError(RuntimeError):
    """The lab cannot be built from this inventory, or a cable cannot be made."""


@dataclass
class LabHost:
    name: str
    container: str
    groups: list[str]
    management_ipv4: str
    peering_ipv4: str | None = None
    peering_ipv6: str | None = None
    peering_mac: str | None = None
    peering_port: str | None = None
    underlay_ipv4: str | None = None


@dataclass
class LabMember:
    name: str
    asn: int
    container: str
    switch: str
    switch_container: str
    port: str
    route_server: bool
    # What the member's router is configured from (lab.sh's member change
    # reconfigures only the routers whose fingerprint changed).
    router_fingerprint: str = ""


@dataclass
class Lab:
    island: str
    network: str
    subnet: str
    ip_range: str
    bridge: str
    peering_ipv4: str
    peering_ipv6: str
    mtu: int
    hosts: list[LabHost] = field(default_factory=list)
    members: list[LabMember] = field(default_factory=list)

    def host(self, name: str) -> LabHost:
        return next(h for h in self.hosts if h.name == name)

    def group(self, group: str) -> list[LabHost]:
        return [h for h in self.hosts if group in h.groups]


def router_fingerprint(member: dict[str, Any], any_vars: dict[str, Any], route_server_addresses: list[str]) -> str:
    """A digest of what lab_member_router reads for this member: its entry,
    its BGP password and the route servers' addresses."""
    password = (any_vars.get("vault_bgp_passwords") or {}).get(member.get("bgp_password_vault_key") or "", "")
    inputs = {"member": member, "password": str(password), "route_servers": route_server_addresses}
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()[:16]


def host_container(host: str) -> str:
    return f"{PREFIX}-{host}"


def member_container(island: str, asn: int) -> str:
    return f"{PREFIX}-{island}-as{asn}"


def member_ip_range(subnet: str, host_addresses: list[str]) -> str:
    """The upper half of the management LAN, where Docker places members.

    Hosts keep their fixed ``management_ipv4``; members get whatever Docker
    picks inside this range, so a member never takes a host's address.
    """
    network = ipaddress.IPv4Network(subnet)
    if network.prefixlen > 29:
        raise LabError(f"exchange.management_lan.ipv4 {subnet} is too small for a lab (at most /29)")
    upper = list(network.subnets(prefixlen_diff=1))[1]
    clash = sorted(a for a in host_addresses if ipaddress.IPv4Address(a) in upper)
    if clash:
        raise LabError(
            f"management_ipv4 {', '.join(clash)} in the upper half {upper} of the management LAN: "
            "the lab gives that half to member routers; put hosts in the lower half"
        )
    return str(upper)


def underlay_address(island_index: int) -> str:
    """The switch of the n-th island (sorted names) on the underlay."""
    network = ipaddress.IPv4Network(UNDERLAY_SUBNET)
    # .249 is Docker's gateway.
    address = network.network_address + 2 + island_index
    if address >= network.broadcast_address:
        raise LabError(f"underlay {UNDERLAY_SUBNET} has no room for island #{island_index + 1}")
    return str(address)


def vtep_addresses(islands: list[str], inventories_dir: str = "inventories") -> dict[str, str]:
    """Every island's switch -> its address on the lab underlay.

    The fabric role tunnels to the remote switch of a link at this address
    (fabric_whitebox_vtep_addresses), so every island's lab agrees on them.
    """
    from caribix.fabric import load_island

    return {
        switch: underlay_address(index)
        for index, island in enumerate(sorted(islands))
        for switch in load_island(inventories_dir, island)["switches"]
    }


def build_lab(island: str, inventory: dict[str, Any], islands: list[str] | None = None) -> Lab:
    """The lab of ``island`` from ``ansible-inventory --list`` output.

    ``islands`` (all island names, sorted) fixes each switch's underlay
    address; default: this island alone.
    """
    hostvars: dict[str, dict[str, Any]] = inventory.get("_meta", {}).get("hostvars", {})
    if not hostvars:
        raise LabError(f"inventories/{island}: no hosts")
    groups: dict[str, list[str]] = {}
    for group, body in inventory.items():
        if group == "_meta" or not isinstance(body, dict):
            continue
        for host in body.get("hosts", []):
            groups.setdefault(host, []).append(group)
    any_vars = next(iter(hostvars.values()))
    exchange = any_vars.get("exchange") or {}
    if exchange.get("island") not in (None, island):
        raise LabError(f"inventories/{island}: exchange.island is {exchange.get('island')!r}")
    try:
        lan = exchange["peering_lan"]
        subnet = exchange["management_lan"]["ipv4"]
    except KeyError as missing:
        raise LabError(f"inventories/{island}/group_vars/all/exchange.yml: exchange has no {missing}") from None
    island_index = (islands or [island]).index(island) if island in (islands or [island]) else 0

    hosts = []
    for name in sorted(hostvars):
        hv = hostvars[name]
        if not hv.get("management_ipv4"):
            raise LabError(f"inventories/{island}/host_vars/{name}.yml: management_ipv4 is missing")
        host = LabHost(
            name=name,
            container=host_container(name),
            groups=sorted(groups.get(name, [])),
            management_ipv4=str(hv["management_ipv4"]),
        )
        if hv.get("peering_ipv4"):
            host.peering_ipv4 = str(hv["peering_ipv4"])
            host.peering_ipv6 = str(hv["peering_ipv6"]) if hv.get("peering_ipv6") else None
            missing = [field for field in ("peering_mac", "peering_switch", "peering_port") if not hv.get(field)]
            if missing:
                raise LabError(f"inventories/{island}/host_vars/{name}.yml: {', '.join(missing)} missing (the host's port on the peering switch)")
            host.peering_mac = str(hv["peering_mac"]).lower()
            host.peering_port = str(hv["peering_port"])
        if "peering_switches" in host.groups:
            host.underlay_ipv4 = underlay_address(island_index)
        hosts.append(host)
    switches = {h.name: h.container for h in hosts if "peering_switches" in h.groups}
    if len(switches) != 1:
        raise LabError(f"inventories/{island}: the lab needs exactly one peering switch, found {len(switches)}")

    route_server_addresses = sorted(
        str(address) for h in hosts if "route_servers" in h.groups for address in (h.peering_ipv4, h.peering_ipv6) if address
    )
    members = []
    for index, member in enumerate(any_vars.get("members") or []):
        where = f"inventories/{island}/group_vars/all/members.yml: member #{index + 1} ({member.get('name', '?')})"
        if member.get("switch") not in switches:
            raise LabError(f"{where}: switch {member.get('switch')!r} is not the island's peering switch")
        members.append(
            LabMember(
                name=str(member["name"]),
                asn=int(member["asn"]),
                container=member_container(island, int(member["asn"])),
                switch=str(member["switch"]),
                switch_container=switches[member["switch"]],
                port=str(member["port"]),
                route_server=bool(member.get("route_server")),
                router_fingerprint=router_fingerprint(member, any_vars, route_server_addresses),
            )
        )
    return Lab(
        island=island,
        network=f"{PREFIX}-{island}-mgmt",
        subnet=str(subnet),
        ip_range=member_ip_range(str(subnet), [h.management_ipv4 for h in hosts]),
        bridge=bridge_name(str(lan["name"])),
        peering_ipv4=str(lan["ipv4"]),
        peering_ipv6=str(lan["ipv6"]),
        mtu=int(lan.get("mtu", 1500)),
        hosts=hosts,
        members=members,
    )
