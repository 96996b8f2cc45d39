"""The island lab: containers, cables and the health summary (scripts/lab.sh).

Everything is derived from the island inventory as Ansible merges it
(``ansible-inventory -i inventories/<island> --list``): the hosts and their
addresses, the exchange, the members. Nothing here repeats island data.

The lab of an island is:

* one systemd container per inventory host (``caribix-lab-<host>``) on the
  island's management network (a Docker network with the island's
  ``exchange.management_lan.ipv4``, hosts at their ``management_ipv4``);
* one systemd container per member router (``caribix-lab-<island>-as<asn>``)
  on the same network, with an address from the upper half of the
  management LAN (Docker's ``--ip-range``: never a host's address);
* the peering LAN, made of cables, never of a Docker network: a veth pair
  per member, the member's ``eth1`` to the switch container's port named as
  the member's ``port`` (swpN), so every member frame crosses the switch's
  port security (roles/fabric_whitebox); and likewise a veth for each host
  with a ``peering_ipv4`` (route servers, monitoring), from the port its
  host_vars name (``peering_switch``/``peering_port``) to its ``eth1``, with
  its ``peering_mac``: the exchange's own hosts sit on filtered ports too.

CLI (root, on the controller; ``-`` reads the inventory JSON from stdin)::

    python -m caribix.lab plan INVENTORY.json ISLAND      # what the lab is (JSON)
    python -m caribix.lab cable INVENTORY.json ISLAND     # make/fix cables, idempotent
    python -m caribix.lab health INVENTORY.json ISLAND    # the health summary
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from caribix.fabric import bridge_name
from caribix_lg.birdparse import parse_protocols

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


# --- a member added for the member-change rerun ---------------------------

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


# --- cables (root on the controller) -------------------------------------

Runner = Callable[..., subprocess.CompletedProcess]


def _run(argv: list[str], check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=check, capture_output=True, text=True)


class Cabler:
    """Makes the lab's peering cables; every step looks before it acts."""

    def __init__(self, lab: Lab, run: Runner = _run):
        self.lab = lab
        self.run = run
        self.actions: list[str] = []

    def pid(self, container: str) -> int:
        out = self.run(["docker", "inspect", "-f", "{{.State.Pid}}", container], check=False)
        pid = int(out.stdout.strip() or 0) if out.returncode == 0 else 0
        if pid <= 0:
            raise LabError(f"container {container} is not running")
        return pid

    def ns(self, pid: int, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run(["nsenter", "-t", str(pid), "-n", *argv], check=check)

    def has_link(self, pid: int, ifname: str) -> bool:
        return self.ns(pid, "ip", "link", "show", "dev", ifname, check=False).returncode == 0

    def act(self, pid: int, *argv: str, why: str) -> None:
        self.ns(pid, *argv)
        self.actions.append(why)

    def cable_pair(self, spid: int, port: str, pid: int, container: str, label: str, mac: str | None = None) -> None:
        """A veth "cable" from the switch's ``port`` to ``container``'s eth1."""
        have_port, have_leg = self.has_link(spid, port), self.has_link(pid, PEERING_IFNAME)
        if have_port and have_leg and (mac is None or self.leg_mac(pid) == mac):
            return
        # One end without the other: its container was restarted (the veth
        # went with the old namespace). A leg of another kind (the macvlan
        # of labs made before the exchange's hosts had ports) goes too.
        if have_port:
            self.act(spid, "ip", "link", "del", "dev", port, why=f"{port}: removed a dangling end")
        if have_leg:
            self.act(pid, "ip", "link", "del", "dev", PEERING_IFNAME, why=f"{container}: removed a dangling end")
        self.run(
            ["ip", "link", "add", "name", port, "netns", str(spid), "type", "veth",
             "peer", "name", PEERING_IFNAME, "netns", str(pid)]
        )
        if mac is not None:
            self.ns(pid, "ip", "link", "set", "dev", PEERING_IFNAME, "address", mac)
        self.actions.append(f"cabled {label} {container}:{PEERING_IFNAME} <-> {port}")

    def leg_mac(self, pid: int) -> str:
        info = json.loads(self.ns(pid, "ip", "-j", "-d", "link", "show", "dev", PEERING_IFNAME).stdout)[0]
        # A macvlan leg is never right, whatever its MAC.
        if (info.get("linkinfo") or {}).get("info_kind") != "veth":
            return ""
        return str(info.get("address", ""))

    def cable_member(self, member: LabMember) -> None:
        spid, mpid = self.pid(member.switch_container), self.pid(member.container)
        self.cable_pair(spid, member.port, mpid, member.container, f"AS{member.asn}")

    def cable_host(self, host: LabHost, spid: int) -> None:
        hpid = self.pid(host.container)
        self.cable_pair(spid, str(host.peering_port), hpid, host.container, host.name, mac=str(host.peering_mac))
        self.configure_host_leg(host, hpid)

    def configure_host_leg(self, host: LabHost, hpid: int) -> None:
        info = json.loads(self.ns(hpid, "ip", "-j", "addr", "show", "dev", PEERING_IFNAME).stdout)[0]
        have = {f"{a['local']}/{a['prefixlen']}" for a in info.get("addr_info", []) if a.get("scope") != "link"}
        v4len = ipaddress.IPv4Network(self.lab.peering_ipv4).prefixlen
        v6len = ipaddress.IPv6Network(self.lab.peering_ipv6).prefixlen
        wanted = [f"{host.peering_ipv4}/{v4len}"] + ([f"{host.peering_ipv6}/{v6len}"] if host.peering_ipv6 else [])
        if int(info.get("mtu", 0)) != self.lab.mtu:
            self.act(hpid, "ip", "link", "set", "dev", PEERING_IFNAME, "mtu", str(self.lab.mtu), why=f"{host.name}: mtu")
        for address in wanted:
            if address not in have:
                extra = ["nodad"] if ":" in address else []
                self.act(hpid, "ip", "addr", "replace", address, "dev", PEERING_IFNAME, *extra, why=f"{host.name}: {address}")
        if "UP" not in info.get("flags", []):
            self.act(hpid, "ip", "link", "set", "dev", PEERING_IFNAME, "up", why=f"{host.name}: {PEERING_IFNAME} up")

    def cable(self) -> list[str]:
        for member in self.lab.members:
            self.cable_member(member)
        switch = self.lab.group("peering_switches")[0]
        spid = self.pid(switch.container)
        for host in self.lab.hosts:
            if host.peering_ipv4:
                self.cable_host(host, spid)
        return self.actions


# --- health summary -------------------------------------------------------

COUNT_RE = re.compile(r"^(\d+) of (\d+) routes for (\d+) networks in table (\S+)")


def parse_bgp_protocols(text: str) -> dict[str, dict[str, str]]:
    """``birdc show protocols`` -> {name: {state, since, info}} for BGP protocols.

    The looking glass's parser (caribix_lg.birdparse) reads the output: one
    parser of BIRD's protocol table for the looking glass, the lab and the
    tests.
    """
    return {
        name: {"state": protocol["state"], "since": protocol["state_changed"], "info": protocol["info"]}
        for name, protocol in parse_protocols(text).items()
        if protocol["bird_protocol"] == "BGP"
    }


def parse_route_counts(text: str, tables: tuple[str, ...] = ("master4", "master6")) -> dict[str, int]:
    """``birdc show route [filtered] count`` -> routes per table (the BGP tables only)."""
    counts = {}
    for line in text.splitlines():
        match = COUNT_RE.match(line.strip())
        if match and match.group(4) in tables:
            counts[match.group(4)] = int(match.group(1))
    return counts


def established(rows: dict[str, dict[str, str]]) -> int:
    return sum(1 for row in rows.values() if row["state"] == "up" and row["info"].startswith("Established"))


def _docker_exec(container: str, *argv: str) -> subprocess.CompletedProcess:
    return _run(["docker", "exec", container, *argv], check=False)


def _http_json(url: str, timeout: float = 3.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (lab URL on this machine)
        return json.load(response)


def health(lab: Lab, execute: Runner = _docker_exec, fetch: Callable[[str], Any] = _http_json) -> dict[str, Any]:
    """What the lab's route servers, monitoring and looking glass say now."""
    summary: dict[str, Any] = {"island": lab.island, "route_servers": [], "alerts": None, "urls": {}}
    expected = sum(1 for m in lab.members if m.route_server) * 2
    for rs in lab.group("route_servers"):
        entry: dict[str, Any] = {"host": rs.name, "expected_sessions": expected}
        protocols = execute(rs.container, "birdc", "-r", "show", "protocols")
        if protocols.returncode != 0:
            entry["error"] = (protocols.stderr or protocols.stdout or "birdc failed").strip().splitlines()[-1]
        else:
            rows = parse_bgp_protocols(protocols.stdout)
            entry["sessions"] = len(rows)
            entry["established"] = established(rows)
            entry["down"] = sorted(name for name, row in rows.items() if not row["info"].startswith("Established"))
            accepted = parse_route_counts(execute(rs.container, "birdc", "-r", "show", "route", "count").stdout)
            filtered = parse_route_counts(execute(rs.container, "birdc", "-r", "show", "route", "filtered", "count").stdout)
            entry["accepted"] = sum(accepted.values())
            entry["filtered"] = sum(filtered.values())
        summary["route_servers"].append(entry)
    for mon in lab.group("monitoring"):
        url = f"http://{mon.management_ipv4}:{PROMETHEUS_PORT}"
        summary["urls"]["prometheus"] = url + "/alerts"
        try:
            alerts = fetch(url + "/api/v1/alerts")["data"]["alerts"]
            summary["alerts"] = sorted(
                f"{a['labels'].get('alertname')}({a['labels'].get('instance', a['labels'].get('neighbor', ''))})"
                for a in alerts
                if a.get("state") == "firing"
            )
        except (urllib.error.URLError, OSError, KeyError, ValueError) as error:
            summary["alerts_error"] = str(error)
    for lg in lab.group("looking_glass"):
        summary["urls"]["looking_glass"] = f"http://{lg.management_ipv4}/"
    return summary


def format_health(summary: dict[str, Any]) -> str:
    lines = [f"{summary['island']} lab health"]
    for rs in summary["route_servers"]:
        if "error" in rs:
            lines.append(f"  {rs['host']}: BIRD not answering ({rs['error']})")
            continue
        lines.append(
            f"  {rs['host']}: {rs['established']}/{rs['expected_sessions']} member sessions established"
            f" ({rs['sessions']} configured), routes accepted {rs['accepted']}, filtered {rs['filtered']}"
        )
        if rs["down"]:
            lines.append(f"    not established: {', '.join(rs['down'])}")
    if summary.get("alerts") is not None:
        lines.append(f"  alerts firing: {len(summary['alerts'])}" + (f" ({', '.join(summary['alerts'])})" if summary["alerts"] else ""))
    else:
        lines.append(f"  alerts: Prometheus not answering ({summary.get('alerts_error', 'no monitoring host')})")
    for what, url in sorted(summary["urls"].items()):
        lines.append(f"  {what.replace('_', ' ')}: {url}")
    return "\n".join(lines)


def healthy(summary: dict[str, Any]) -> bool:
    """Every route server answers and has every member session up."""
    return bool(summary["route_servers"]) and all(
        "error" not in rs and rs["established"] == rs["expected_sessions"] for rs in summary["route_servers"]
    )


def with_extra_vars(inventory: dict[str, Any], path: str) -> dict[str, Any]:
    """Extra vars win over every host's vars, as in ansible-playbook -e @file."""
    import yaml

    with open(path, encoding="utf-8") as handle:
        extra = yaml.safe_load(handle) or {}
    merged = json.loads(json.dumps(inventory))
    for hv in merged["_meta"]["hostvars"].values():
        hv.update(extra)
    return merged


def _load_inventory(path: str) -> dict[str, Any]:
    if path == "-":
        return json.load(sys.stdin)
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m caribix.lab", description=__doc__.split("\n", 1)[0])
    parser.add_argument("command", choices=["plan", "cable", "health", "newcomer", "overlay"])
    parser.add_argument("inventory", help="ansible-inventory --list output (JSON file, or - for stdin)")
    parser.add_argument("island")
    parser.add_argument("--islands", default="", help="every island of the lab, comma separated (underlay addresses)")
    parser.add_argument("--json", action="store_true", help="health: print JSON instead of text")
    parser.add_argument("--extra-vars", help="JSON/YAML extra vars the lab's playbooks get (members override)")
    args = parser.parse_args(argv)
    islands = sorted(filter(None, args.islands.split(","))) or None
    try:
        inventory = _load_inventory(args.inventory)
        if args.command == "newcomer":
            print(json.dumps(newcomer(inventory), indent=2))
            return 0
        if args.extra_vars:
            inventory = with_extra_vars(inventory, args.extra_vars)
        lab = build_lab(args.island, inventory, islands)
        if args.command == "plan":
            print(json.dumps(asdict(lab), indent=2))
            return 0
        if args.command == "overlay":
            # Lab-only variables for the playbooks (extra vars). The lab's
            # traffic is thousands of frames, not billions: sample more.
            overlay = {
                "fabric_whitebox_vtep_addresses": vtep_addresses(islands or [args.island]),
                "fabric_whitebox_sflow_sampling_rate": LAB_SFLOW_SAMPLING_RATE,
            }
            print(json.dumps(overlay, indent=2))
            return 0
        if args.command == "cable":
            for action in Cabler(lab).cable():
                print(action)
            return 0
        summary = health(lab)
        print(json.dumps(summary, indent=2) if args.json else format_health(summary))
        return 0 if healthy(summary) else 1
    except (LabError, subprocess.CalledProcessError) as error:
        detail = getattr(error, "stderr", "") or ""
        print(f"lab: {error}{(': ' + detail.strip()) if detail else ''}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
