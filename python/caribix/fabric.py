"""The switch fabric of one island, derived from the island's data.

Every fact comes from the inventory as the data-model engineer defines it:
``exchange.peering_lan`` (the LAN), ``members[]`` (who sits on which port,
with which MAC, speed and addresses), the switches' host_vars
(``switch_platform``, ``switch_ports``: the hardware) and
``inter_island_links[]``. Nothing here is typed twice: a port or a MAC exists
once in members.yml, and the model only arranges it for the backends
(Linux whitebox, Arista EOS, Juniper Junos).

The model is platform-neutral: a VLAN id is carried for the backends that
need one (EOS, Junos); the whitebox backend makes one Linux bridge per
peering LAN and never tags (this kernel has no 802.1Q support anyway).

Bridged inter-island links carry the remote island's members into this
island's broadcast domain, so the model loads the remote island's member
list (MACs and addresses) to keep the "static MACs, no learning" rule true
on the trunk port too.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any

from caribix import model

# sFlow to the island's sfacctd (roles/monitoring: monitoring_sflow_port):
# one packet in SFLOW_SAMPLING_RATE sampled on each peering port.
SFLOW_PORT = 6343
SFLOW_SAMPLING_RATE = 4096
# Storm control, the default of exchange.peering_lan.bum_rate_pps and
# bum_burst: the ARP/ND broadcast and multicast packets per second a member
# port may send, and the burst above it. The whitebox policy and the vendor
# configs both read the model's values.
BUM_RATE_PPS = 100
BUM_BURST = 200
# Linux interface names are at most 15 characters (IFNAMSIZ - 1).
IFNAME_MAX = 15


class FabricError(ValueError):
    """The fabric cannot be built from what it was given (a caller's
    mistake, not bad island data: caribix.validate checks every field)."""


def bridge_name(lan_name: str) -> str:
    """The whitebox bridge for a peering LAN (a Linux interface name)."""
    name = f"br-{lan_name}"
    if len(name) > IFNAME_MAX:
        # Keep it readable and unique enough: the LAN name's tail is the
        # island-specific part in our naming (gp-peering, sxm-peering...).
        name = name[:IFNAME_MAX]
    return name


def _port_index(port: str) -> int:
    """A port's number, for ordering (the schema's port names end in one)."""
    match = re.search(r"(\d+)$", port)
    return int(match.group(1)) if match else 0


def _identity(member: dict[str, Any]) -> dict[str, Any]:
    """Name, ASN (none for the exchange's own hosts), MAC and addresses:
    what a port admits. IPv6 in its canonical form, as nftables prints it."""
    ipv6 = member.get("ipv6")
    return {
        "name": str(member["name"]),
        "asn": int(member["asn"]) if member.get("asn") is not None else None,
        "mac": str(member["mac"]),
        "ipv4": str(member["ipv4"]),
        "ipv6": str(ipaddress.IPv6Address(str(ipv6))) if ipv6 else None,
    }


def _lan(exchange: dict[str, Any]) -> dict[str, Any]:
    lan = exchange["peering_lan"]
    return {
        "name": str(lan["name"]),
        "vlan_id": int(lan["vlan_id"]),
        "ipv4": str(ipaddress.IPv4Network(str(lan["ipv4"]))),
        "ipv6": str(ipaddress.IPv6Network(str(lan["ipv6"]))) if lan.get("ipv6") else None,
        "mtu": int(lan.get("mtu", 1500)),
        "bridge": bridge_name(str(lan["name"])),
        "bum_rate_pps": int(lan.get("bum_rate_pps", BUM_RATE_PPS)),
        "bum_burst": int(lan.get("bum_burst", BUM_BURST)),
    }


def build_fabric(
    exchange: dict[str, Any],
    members: list[dict[str, Any]],
    switches: dict[str, dict[str, Any]],
    inter_island_links: list[dict[str, Any]] | None = None,
    remote_islands: dict[str, dict[str, Any]] | None = None,
    vtep_addresses: dict[str, str] | None = None,
    partial: bool = False,
    sflow_collector: str | None = None,
    exchange_hosts: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Build the fabric model of one island from validated data.

    The data is trusted: ``caribix.validate`` (playbooks/validate.yml, run
    first by every playbook) has checked each field it reads (switch and
    port, speed, MACs and addresses unique and in the peering LAN, the
    links), so the model only arranges it.

    ``exchange_hosts`` are the exchange's own hosts on the peering LAN, as
    :func:`exchange_hosts_of` lists them: each gets its port like a member.

    ``switches`` maps a switch name to its host_vars (``switch_platform``,
    ``switch_ports``, ``management_ipv4``). With ``partial`` (a role running
    on one switch), members on switches not in ``switches`` are skipped.
    ``remote_islands`` maps an island name to its data as
    :func:`load_island` returns it; it is needed only for bridged links.
    ``vtep_addresses`` overrides a switch's tunnel endpoint (default: its
    management_ipv4), e.g. for the lab's underlay network.
    """
    lan = _lan(exchange)
    vtep_addresses = dict(vtep_addresses or {})
    model_switches: dict[str, dict[str, Any]] = {}
    for name, hv in sorted(switches.items()):
        model_switches[name] = {
            "name": name,
            "platform": hv["switch_platform"],
            "management_ipv4": hv.get("management_ipv4"),
            "vtep": vtep_addresses.get(name, hv.get("management_ipv4")),
            "ports": {
                str(port): {"name": str(port), "index": _port_index(str(port)), "max_speed": int(max_speed), "role": "unused"}
                for port, max_speed in hv["switch_ports"].items()
            },
        }

    def port_of(switch: Any, port: Any) -> dict[str, Any] | None:
        """The port a member, host or link takes (None: another switch's,
        in a partial model)."""
        if str(switch) not in model_switches and partial:
            return None
        return model_switches[str(switch)]["ports"][str(port)]

    def connect(switch: Any, port: Any, identity: dict[str, Any], speed: Any = None, **facts: Any) -> None:
        """A member's or an exchange host's port on the peering LAN,
        admitting that one identity."""
        switch_port = port_of(switch, port)
        if switch_port is not None:
            speed = int(speed or switch_port["max_speed"])
            switch_port.update({"lan": lan["name"], "speed": speed, "identities": [identity], **facts})

    # The exchange's own hosts: a port each, and addresses no other port may use.
    exchange_addresses: dict[str, dict[str, str | None]] = {}
    for host in exchange_hosts or []:
        identity = _identity(host)
        exchange_addresses[identity["name"]] = {"ipv4": identity["ipv4"], "ipv6": identity["ipv6"]}
        description = f"CaribIX {identity['name']} ({host.get('kind', 'exchange host')})"
        connect(host["switch"], host["port"], identity, role="exchange_host", description=description, host=identity["name"])
    for member in members or []:
        identity = _identity(member)
        description = f"AS{identity['asn']} {identity['name']}"
        connect(member["switch"], member["port"], identity, member.get("speed"), role="member", description=description, member=identity)

    links = []
    for link in inter_island_links or []:
        bridged = bool(link.get("bridged", False))
        model_link = {
            "name": str(link["name"]),
            "description": str(link.get("description", link["name"])),
            "remote_island": str(link["remote_island"]),
            "local_switch": str(link["local_switch"]),
            "local_port": str(link["local_port"]),
            "remote_switch": str(link["remote_switch"]),
            "vni": int(link["vni"]),
            "bridged": bridged,
            "remote_lan": None,
            "remote_members": [],
            "remote_vtep": vtep_addresses.get(str(link["remote_switch"])),
        }
        remote = (remote_islands or {}).get(model_link["remote_island"])
        if remote is not None:
            if model_link["remote_vtep"] is None:
                model_link["remote_vtep"] = remote["switches"][model_link["remote_switch"]].get("management_ipv4")
            model_link["remote_lan"] = _lan(remote["exchange"])
            if bridged:
                model_link["remote_members"] = [_identity(m) for m in remote.get("members") or []]
        elif bridged:
            raise FabricError(
                f"inter-island link {model_link['name']}: a bridged link needs the data of island "
                f"{model_link['remote_island']} (its members' MACs); pass it in remote_islands"
            )
        switch_port = port_of(model_link["local_switch"], model_link["local_port"])
        if switch_port is None:
            links.append(model_link)
            continue
        switch_port.update(
            {
                "role": "inter_island",
                "lan": lan["name"] if bridged else None,
                "speed": switch_port["max_speed"],
                "description": f"{model_link['description']} ({'bridged' if bridged else 'not bridged'})",
                "link": model_link["name"],
                "identities": model_link["remote_members"] if bridged else [],
            }
        )
        local_vtep = model_switches[model_link["local_switch"]]["vtep"]
        # Only the whitebox backend tunnels; keep the fact explicit.
        model_link["tunnel"] = model_link["remote_vtep"] is not None and local_vtep is not None
        model_link["local_vtep"] = local_vtep
        links.append(model_link)

    for switch in model_switches.values():
        switch["ports"] = sorted(switch["ports"].values(), key=lambda p: (p["index"], p["name"]))

    return {
        "island": (exchange or {}).get("island"),
        "exchange": {"name": exchange.get("name"), "shortname": exchange.get("shortname")},
        "peering_lan": lan,
        "switches": model_switches,
        "inter_island_links": links,
        # name -> {ipv4, ipv6} of the exchange's own hosts: no other port may send from them.
        "exchange_addresses": exchange_addresses,
        # The island's sfacctd (the monitoring host's management address).
        "sflow": {"collector": sflow_collector, "port": SFLOW_PORT, "sampling_rate": SFLOW_SAMPLING_RATE} if sflow_collector else None,
    }


def switch_model(fabric: dict[str, Any], switch: str) -> dict[str, Any]:
    """One switch's view: its ports, the LAN, its inter-island links."""
    if switch not in fabric["switches"]:
        raise FabricError(f"switch {switch!r} is not in the fabric model ({', '.join(fabric['switches'])})")
    return {
        "island": fabric["island"],
        "exchange": fabric["exchange"],
        "peering_lan": fabric["peering_lan"],
        "switch": fabric["switches"][switch],
        "inter_island_links": [l for l in fabric["inter_island_links"] if l["local_switch"] == switch],
        "exchange_addresses": fabric.get("exchange_addresses", {}),
        "sflow": fabric.get("sflow"),
    }


# What an exchange host is on the peering LAN, by its inventory group.
EXCHANGE_HOST_KINDS = {"route_servers": "route server", "monitoring": "monitoring"}


def exchange_hosts_of(hostvars: Any, groups: dict[str, list[str]]) -> list[dict[str, Any]]:
    """The exchange's own hosts on the peering LAN (a ``peering_ipv4`` in
    their host_vars), from Ansible's hostvars/groups or the files alike."""
    kinds = {host: kind for group, kind in EXCHANGE_HOST_KINDS.items() for host in groups.get(group) or []}
    hosts = []
    for name in sorted({host for members in groups.values() for host in members or []}):
        values = hostvars[name] if name in hostvars else {}
        if not values.get("peering_ipv4"):
            continue
        hosts.append(
            {
                "name": name,
                "kind": kinds.get(name, "exchange host"),
                "mac": values.get("peering_mac"),
                "ipv4": values.get("peering_ipv4"),
                "ipv6": values.get("peering_ipv6"),
                "switch": values.get("peering_switch"),
                "port": values.get("peering_port"),
            }
        )
    return hosts


def sflow_collector_of(hostvars: Any, groups: dict[str, list[str]]) -> str:
    """Where every peering switch sends sFlow: the island's sfacctd, on the
    (first) monitoring host's management address; "" without one."""
    monitoring = sorted(groups.get("monitoring") or [])
    if not monitoring or monitoring[0] not in hostvars:
        return ""
    return str(hostvars[monitoring[0]].get("management_ipv4") or "")


def load_island(inventories_dir: str | Path, island: str) -> dict[str, Any]:
    """What the fabric needs from inventories/<island>/, read by
    caribix.model (the one reader of island files; the vault stays shut).

    Switches are the hosts of the ``peering_switches`` group.
    """
    root = Path(inventories_dir) / island
    if not root.is_dir():
        raise FabricError(f"inventory {root} does not exist")
    data = model.load_island(root, vault_ids=[])
    hostvars, groups = data.hosts, data.groups
    return {
        "exchange": data.variables.get("exchange"),
        "members": data.variables.get("members") or [],
        "inter_island_links": data.variables.get("inter_island_links") or [],
        "switches": {name: hostvars.get(name, {}) for name in sorted(groups.get("peering_switches") or [])},
        "sflow_collector": sflow_collector_of(hostvars, groups) or None,
        "exchange_hosts": exchange_hosts_of(hostvars, groups),
    }


def island_fabric(
    inventories_dir: str | Path,
    island: str,
    vtep_addresses: dict[str, str] | None = None,
    without_asns: frozenset[int] = frozenset(),
) -> dict[str, Any]:
    """The full model of one island, with the remote islands its links
    reach; ``without_asns``: as if those members had left (golden/removal)."""
    data = load_island(inventories_dir, island)
    data["members"] = [m for m in data["members"] if m.get("asn") not in without_asns]
    remotes = {
        link["remote_island"]: load_island(inventories_dir, link["remote_island"])
        for link in data["inter_island_links"]
        if (Path(inventories_dir) / str(link.get("remote_island"))).is_dir()
    }
    return build_fabric(
        data["exchange"],
        data["members"],
        data["switches"],
        data["inter_island_links"],
        remote_islands=remotes,
        vtep_addresses=vtep_addresses,
        sflow_collector=data["sflow_collector"],
        exchange_hosts=data["exchange_hosts"],
    )


def islands(inventories_dir: str | Path) -> list[str]:
    """Island inventories: directories with group_vars/all/exchange.yml."""
    return sorted(
        p.name
        for p in Path(inventories_dir).iterdir()
        # inventories/template/ is the skeleton for a new island, not an island.
        if p.name != "template" and (p / "group_vars" / "all" / "exchange.yml").is_file()
    )


# Why a frame is dropped on a whitebox member port, in the order the
# nftables chain tests them (a frame counts under the first reason only).
DROP_REASONS = {
    "source_mac": "source MAC is not the port's registered MAC(s)",
    "vlan_tag": "802.1Q/802.1ad tagged frame",
    "lldp": "LLDP (ethertype 0x88cc)",
    "stp": "STP/RSTP/PVST BPDU",
    "cdp": "CDP/VTP/DTP (Cisco 01:00:0c:cc:cc:cc)",
    "link_local": "other IEEE 802.1 link-local frame (01:80:c2:00:00:0x)",
    "ethertype": "ethertype other than IPv4, ARP, IPv6 (incl. 802.3 LLC/SNAP)",
    "dhcp": "DHCP (UDP 67/68)",
    "dhcpv6": "DHCPv6 (UDP 546/547)",
    "ipv6_ra": "IPv6 router advertisement or solicitation",
    "redirect": "ICMP or ICMPv6 redirect",
    "arp_spoof": "ARP whose sender MAC/IPv4 is not the port's member",
    "nd_spoof": "IPv6 ND for an address that is not the port's member's",
    "exchange_address": "IP packet from an address of the exchange's own hosts (route servers, monitoring)",
    "multicast": "broadcast/multicast other than ARP and ND",
    "storm": "ARP/ND broadcast/multicast above the rate limit",
}


def foreign_exchange_addresses(model: dict[str, Any], port: dict[str, Any]) -> dict[str, list[str]]:
    """The exchange's own addresses a port may not send from: all of them,
    but those of the host on this port."""
    others = [a for host, a in sorted(model.get("exchange_addresses", {}).items()) if host != port.get("host")]
    return {"ipv4": [a["ipv4"] for a in others], "ipv6": [a["ipv6"] for a in others if a["ipv6"]]}


def _counter(port: str, reason: str) -> str:
    return f"{port}_{reason}"


def whitebox_config(model: dict[str, Any], vxlan_port: int = 4789) -> dict[str, Any]:
    """What the Linux whitebox backend needs from one switch's model.

    ``links``: the desired bridge state for the switch's agent (roles/fabric_whitebox/files/fabric_linux.py);
    ``filtered_ports``: ports the nftables policy covers, with the admitted
    identities; ``unused_ports``: switch ports in no LAN (dropped);
    ``counters``: nftables counter name -> metric labels.
    """
    switch = model["switch"]
    lan = model["peering_lan"]
    links_by_port = {link["local_port"]: link for link in model["inter_island_links"]}
    bridge_ports, standalone, filtered, unused = [], [], [], []
    counters: dict[str, dict[str, str]] = {}
    for port in switch["ports"]:
        name = port["name"]
        link = links_by_port.get(name)
        vxlan = None
        if link is not None:
            if not link.get("local_vtep") or not link.get("remote_vtep"):
                raise FabricError(
                    f"inter_island_links {link['name']}: no tunnel endpoint for "
                    f"{link['local_switch'] if not link.get('local_vtep') else link['remote_switch']} "
                    "(management_ipv4 or a vtep address override)"
                )
            vxlan = {"id": link["vni"], "local": link["local_vtep"], "remote": link["remote_vtep"], "port": vxlan_port}
        if port["role"] == "unused" or (port["role"] == "inter_island" and not port.get("lan")):
            unused.append(name)
            if vxlan is not None:
                standalone.append({"name": name, "mtu": lan["mtu"], "vxlan": vxlan})
            continue
        identities = port["identities"]
        entry = {"name": name, "macs": [i["mac"] for i in identities]}
        if vxlan is not None:
            entry["vxlan"] = vxlan
        bridge_ports.append(entry)
        if port["role"] == "member":
            member_label = port["member"]["name"]
        elif port["role"] == "exchange_host":
            member_label = port["host"]
        else:
            member_label = f"inter-island {port['link']}"
        filtered.append(
            {
                "exchange_addresses": foreign_exchange_addresses(model, port),
                "name": name,
                "role": port["role"],
                "label": member_label,
                "macs": [i["mac"] for i in identities],
                "arp_pairs": [(i["mac"], i["ipv4"]) for i in identities],
                "ipv6": [i["ipv6"] for i in identities if i["ipv6"]],
                "ipv6_hex": [f"0x{int(ipaddress.IPv6Address(i['ipv6'])):032x}" for i in identities if i["ipv6"]],
                "counters": {reason: _counter(name, reason) for reason in DROP_REASONS},
            }
        )
        for reason in DROP_REASONS:
            counters[_counter(name, reason)] = {
                "switch": switch["name"],
                "port": name,
                "member": member_label,
                "reason": reason,
            }
    counters["unused_port"] = {"switch": switch["name"], "port": "unused", "member": "", "reason": "unused_port"}
    return {
        "links": {
            "bridges": [{"name": lan["bridge"], "mtu": lan["mtu"], "ports": bridge_ports}],
            "standalone": standalone,
        },
        "bridge": lan["bridge"],
        "filtered_ports": filtered,
        "unused_ports": unused,
        "counters": counters,
        "reasons": DROP_REASONS,
    }
