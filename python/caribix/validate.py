"""Validate one island's data before anything runs.

Every check appends to one list, so a run reports all problems at once.
Each error names the file, the thing (member, host, link, exchange), the
field, what is wrong and what is expected, e.g.::

    inventories/guadeloupe/group_vars/all/members.yml: member 'Karukera
    Telecom' (AS64500): field ipv4: 192.0.2.77 is outside the peering LAN
    192.0.2.0/26; expected an address inside it

Run standalone: ``python -m caribix.validate inventories/guadeloupe``.
The field reference is docs/data-model.md.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Any, Callable, Iterable

import netaddr
import yaml

from caribix.model import (
    REQUIRED_GROUPS,
    DataFileError,
    Island,
    Sibling,
    VaultValue,
    display_path,
    load_island,
    load_siblings,
    read_yaml,
    shared_root_for,
)
from caribix.schema import ShapeProblem, definition, describe, is_int, shape_problems
from caribix.routeserver import (
    EXAMPLE_SOURCE,
    SNAPSHOT_FILES,
    SNAPSHOT_PARTS,
    RouteServerBuildError,
    is_aut_num,
    load_snapshot,
    refresh_command,
)

# --- AS numbers --------------------------------------------------------------
# Lab mode allows exactly these (documentation RFC 5398, private use RFC 6996).
DOCUMENTATION_ASNS = ((64496, 64511), (65536, 65551))
PRIVATE_ASNS = ((64512, 65534), (4200000000, 4294967294))
# Never valid on a peering LAN, lab or not.
RESERVED_ASNS = (
    ((0, 0), "AS0 is reserved (RFC 7607)"),
    ((23456, 23456), "AS23456 is AS_TRANS (RFC 6793), not a real network"),
    ((65535, 65535), "AS65535 is reserved (RFC 7300)"),
    ((65552, 131071), "ASNs 65552-131071 are reserved by IANA"),
    ((4294967295, 4294967295), "AS4294967295 is reserved (RFC 7300)"),
)
DOCUMENTATION_PREFIXES = netaddr.IPSet(
    ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"]
)

# How "expected ... unique on the island" names each field.
UNIQUE_NOUNS = {"name": "a name", "asn": "an ASN", "mac": "a MAC address", "port": "a switch port"}

# The Alertmanager secrets every island's monitoring host needs
# (group_vars/all/monitoring.yml reads them), in one file per island.
MONITORING_VAULT_FILE = "group_vars/monitoring/vault_monitoring.yml"
MONITORING_SECRETS = {
    "vault_monitoring_smtp_password": "the SMTP password of the NOC mail relay",
    "vault_monitoring_webhook_url": "the NOC chat/pager webhook URL",
}
# Listed by caribix-new-site in a production site's monitoring vault while
# the secrets above are placeholders; the person deletes it once they are real.
MONITORING_PLACEHOLDERS = "vault_monitoring_placeholders"
# What writes a lab island's example snapshot (caribix.example_snapshot).
EXAMPLE_SNAPSHOT_COMMAND = "caribix-example-snapshot"


@dataclass(frozen=True)
class ValidationError:
    """One problem in the data, in the words an engineer acts on."""

    file: str
    subject: str
    field: str
    problem: str
    expected: str
    # Something a command must still produce before the first deploy (the
    # snapshot, the monitoring secrets), not wrong data: caribix-new-site
    # prints these as its checklist instead of refusing the site.
    pending: bool = dataclass_field(default=False, compare=False)

    def __str__(self) -> str:
        where = f"{self.subject}: " if self.subject else ""
        what = f"field {self.field}: " if self.field else ""
        return f"{self.file}: {where}{what}{self.problem}; expected {self.expected}"


def asn_problem(asn: int, lab_mode: bool) -> tuple[str, str] | None:
    """Why ``asn`` cannot be used (problem, expected), or None."""
    if asn < 0 or asn > 4294967295:
        return f"AS{asn} is not a 32-bit AS number", "1-4294967294"
    for (low, high), reason in RESERVED_ASNS:
        if low <= asn <= high:
            return reason, "a public AS number (or, in lab mode, a documentation or private one)"
    if any(low <= asn <= high for low, high in DOCUMENTATION_ASNS):
        kind = "a documentation AS number (RFC 5398)"
    elif any(low <= asn <= high for low, high in PRIVATE_ASNS):
        kind = "a private-use AS number (RFC 6996)"
    else:
        return None
    if lab_mode:
        return None
    return (
        f"AS{asn} is {kind}, allowed only when caribix_lab_mode is true",
        "a public AS number assigned to the network",
    )


class Shape:
    """What passed the schema: the fields without a problem, per level."""

    def __init__(self, data: Any, problems: list[ShapeProblem]):
        self.data = data
        self.bad = {problem.path for problem in problems}

    def good(self, *path: str) -> dict[str, Any]:
        node = self.data
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict) or path in self.bad:
            return {}
        return {str(key): value for key, value in node.items() if path + (key,) not in self.bad}


def sexagesimal_mac(number: int) -> str:
    """The MAC an engineer wrote when YAML read it as a base-60 number
    (12:34:56:00:00:10 -> 9783936010): its six base-60 digits again."""
    groups = []
    for _ in range(6):
        number, digit = divmod(number, 60)
        groups.append(f"{digit:02d}")
    return ":".join(reversed(groups))


class Validator:
    """Collects every problem of one island."""

    def __init__(self, island: Island, siblings: dict[str, Sibling] | None = None):
        self.island = island
        self.siblings = siblings or {}
        self.errors: list[ValidationError] = []
        self.vars = island.variables
        self.lab_mode = self.vars.get("caribix_lab_mode") is True
        self.peering_v4: netaddr.IPNetwork | None = None
        self.peering_v6: netaddr.IPNetwork | None = None
        self.management_v4: netaddr.IPNetwork | None = None
        self.management_v6: netaddr.IPNetwork | None = None
        # (address) -> who holds it, for clash detection across hosts and members.
        self.address_owners: dict[netaddr.IPAddress, str] = {}
        self.switch_ports: dict[str, dict[str, Any]] = {}
        self.inter_island_ports: dict[tuple[str, str], str] = {}
        # (member label, as_set) of the members with route_server: true.
        self.route_server_as_sets: list[tuple[str, str]] = []
        # mac -> member label, for the islands a bridged link joins.
        self.member_macs: dict[str, str] = {}
        # field -> value -> holder: names, ASNs, MACs and ports unique on the
        # island; the exchange's own hosts claim their MAC and port first.
        self.unique_owners: dict[str, dict[Any, str]] = defaultdict(dict)

    # --- reporting -----------------------------------------------------------
    def error(self, file: str, subject: str, field: str, problem: str, expected: str, pending: bool = False) -> None:
        self.errors.append(ValidationError(file, subject, field, problem, expected, pending))

    def unreadable(self, file: str) -> bool:
        """Whether ``file`` failed to load (its error says it already)."""
        return any(problem.path == file for problem in self.island.load_errors)

    # --- field helpers -------------------------------------------------------
    def check_shape(
        self,
        data: Any,
        definition: str,
        file: str,
        subject: str,
        extra_allowed: Iterable[str] = (),
    ) -> "Shape":
        """Check ``data`` against ``$defs/<definition>`` of
        schemas/island.schema.json; report each problem and return what
        passed, so the checks across fields only see well-formed data."""
        problems = shape_problems(data, definition, tuple(extra_allowed))
        for problem in problems:
            self.error(file, subject, problem.field, problem.problem, self.hint(problem, data))
        return Shape(data, problems)

    @staticmethod
    def hint(problem: ShapeProblem, data: Any) -> str:
        """The schema's expectation, plus what to do when YAML itself
        changed the value (an unquoted MAC read as a base-60 number)."""
        value = data
        for part in problem.path:
            value = value.get(part) if isinstance(value, dict) else None
        if problem.path and problem.path[-1] == "mac" and is_int(value):
            return (
                f"{problem.expected}, in quotes: YAML 1.1 reads an unquoted MAC of digits as a base-60 number; "
                f'write mac: "{sexagesimal_mac(value)}"'
            )
        return problem.expected

    # --- the exchange --------------------------------------------------------
    def check_exchange(self) -> None:
        file = self.island.file_of("exchange")
        lab = self.vars.get("caribix_lab_mode")
        if not isinstance(lab, bool):
            self.error(self.island.file_of("caribix_lab_mode"), "", "caribix_lab_mode", f"{describe(lab)} is not valid", "true or false")
        exchange = self.vars.get("exchange")
        if exchange is None:
            if not self.unreadable(file):
                self.error(file, "exchange", "", "is not defined", "the exchange's facts (docs/data-model.md)")
            return
        shape = self.check_shape(exchange, "exchange", file, "exchange")
        good = shape.good()
        if not isinstance(exchange, dict):
            return
        if "island" in good and good["island"] != self.island.name:
            self.error(
                file,
                "exchange",
                "island",
                f"'{good['island']}' differs from the inventory directory '{self.island.name}'",
                f"'{self.island.name}' (other islands refer to this one by its directory name)",
            )
        if "route_server_asn" in good:
            problem = asn_problem(good["route_server_asn"], self.lab_mode)
            if problem:
                self.error(file, "exchange", "route_server_asn", *problem)
        if "peering_lan" in good:
            lan = shape.good("peering_lan")
            self.peering_v4 = self.check_prefix(lan.get("ipv4"), file, "peering_lan.ipv4", (16, 29))
            self.peering_v6 = self.check_prefix(lan.get("ipv6"), file, "peering_lan.ipv6", (48, 64))
        if "management_lan" in good:
            lan = shape.good("management_lan")
            self.management_v4 = self.check_prefix(lan.get("ipv4"), file, "management_lan.ipv4", (16, 30))
            self.management_v6 = self.check_prefix(lan.get("ipv6"), file, "management_lan.ipv6", (48, 64))
        for peering, management, family in ((self.peering_v4, self.management_v4, "ipv4"), (self.peering_v6, self.management_v6, "ipv6")):
            if peering is not None and management is not None and overlaps(peering, management):
                self.error(
                    file,
                    "exchange",
                    f"management_lan.{family}",
                    f"{management} overlaps the peering LAN {peering}",
                    "separate management and peering networks",
                )

    def check_prefix(self, text: Any, file: str, field: str, lengths: tuple[int, int]) -> netaddr.IPNetwork | None:
        if text is None:
            return None
        network = netaddr.IPNetwork(text)
        if network.ip != network.network:
            self.error(
                file,
                "exchange",
                field,
                f"{text} has host bits set",
                f"the network address itself, {network.cidr}",
            )
            return None
        low, high = lengths
        if not low <= network.prefixlen <= high:
            self.error(file, "exchange", field, f"{text} is a /{network.prefixlen}", f"a prefix length between /{low} and /{high}")
            return None
        if not self.lab_mode and DOCUMENTATION_PREFIXES & netaddr.IPSet([network]):
            self.error(
                file,
                "exchange",
                field,
                f"{text} is in a documentation range (RFC 5737/3849), allowed only when caribix_lab_mode is true",
                "the exchange's assigned addresses",
            )
        return network

    # --- hosts ---------------------------------------------------------------
    def check_hosts(self) -> None:
        island = self.island
        for group, minimum in REQUIRED_GROUPS.items():
            count = len(island.groups.get(group, []))
            if count < minimum:
                self.error(
                    island.hosts_file,
                    f"group {group}",
                    "hosts",
                    f"has {count} host{'s' if count != 1 else ''}",
                    f"at least {minimum}" + (" (two route servers on separate hosts, RFC 7947)" if group == "route_servers" else ""),
                )
        role_spec = {
            "route_servers": {
                "peering_ipv4": True,
                "peering_ipv6": True,
                "management_ipv4": True,
                "router_id": True,
            },
            "monitoring": {"peering_ipv4": False, "peering_ipv6": False, "management_ipv4": True},
            "looking_glass": {"management_ipv4": True},
            "peering_switches": {"management_ipv4": True},
        }
        router_ids: dict[str, str] = {}
        host_problems = {host: {p.path[0]: p for p in shape_problems(values, "host") if p.path} for host, values in island.hosts.items()}
        for group, fields in role_spec.items():
            for host in island.groups.get(group, []):
                values = island.hosts.get(host, {})
                file = island.host_file(host)
                subject = f"host {host}"
                for name, required in fields.items():
                    if name not in values:
                        if required:
                            self.error(file, subject, name, "is missing", f"the host's {describe_field(name)} (required for {group})")
                        continue
                    value = values[name]
                    problem = host_problems.get(host, {}).get(name)
                    if problem is not None:
                        self.error(file, subject, name, problem.problem, problem.expected)
                        continue
                    if name == "router_id":
                        if value in router_ids:
                            self.error(file, subject, name, f"{value} is also the router id of {router_ids[value]}", "a router id unique on the island")
                        else:
                            router_ids[value] = host
                        continue
                    family = 6 if name.endswith("ipv6") else 4
                    if name.startswith("peering"):
                        network = self.peering_v6 if family == 6 else self.peering_v4
                        lan = "peering LAN"
                    else:
                        network = self.management_v4
                        lan = "management LAN"
                    self.check_address_in(value, network, lan, file, subject, name)
                    self.claim_address(value, f"host {host} ({name})", file, subject, name)
        for host in island.groups.get("peering_switches", []):
            self.check_switch(host)

    def check_switch(self, host: str) -> None:
        values = self.island.hosts.get(host, {})
        file = self.island.host_file(host)
        subject = f"switch {host}"
        known = {"switch_platform": values.get("switch_platform"), "switch_ports": values.get("switch_ports")}
        for name, value in known.items():
            if value is None:
                expected = definition("host")["properties"][name]["x-expected"]
                self.error(file, subject, name, "is missing", expected)
        shape = self.check_shape({name: value for name, value in known.items() if value is not None}, "host", file, subject)
        if "switch_ports" in shape.good():
            self.switch_ports[host] = {str(port): speed for port, speed in shape.good("switch_ports").items()}

    def check_host_ports(self) -> None:
        """The exchange's own hosts on the peering LAN (a peering_ipv4) sit
        on switch ports of their own, filtered like a member's: the MAC and
        the port must be there, real and nobody else's."""
        island = self.island
        for host in sorted(island.hosts):
            values = island.hosts.get(host) or {}
            if "peering_ipv4" not in values:
                continue
            file, subject = island.host_file(host), f"host {host}"
            fields = {name: values.get(name) for name in ("peering_mac", "peering_switch", "peering_port")}
            for name, value in fields.items():
                if value is None:
                    self.error(file, subject, name, "is missing", f"the host's {describe_field(name)} (every host with a peering_ipv4 has its own switch port)")
            good = self.check_shape({name: value for name, value in fields.items() if value is not None}, "host", file, subject).good()
            holder = f"host {host} ({file})"
            if "peering_mac" in good:
                mac = netaddr.EUI(good["peering_mac"])
                if mac.words[0] & 1 or int(mac) == 0:
                    self.error(file, subject, "peering_mac", f"{good['peering_mac']} is not a unicast MAC", "a unicast MAC (first octet even, not all zeros)")
                elif good["peering_mac"] in self.unique_owners["mac"]:
                    self.error(file, subject, "peering_mac", f"{good['peering_mac']} is also used by {self.unique_owners['mac'][good['peering_mac']]}", "a MAC address unique on the island")
                else:
                    self.unique_owners["mac"][good["peering_mac"]] = holder
            if "peering_switch" not in good or "peering_port" not in good:
                continue
            switch, port = good["peering_switch"], str(good["peering_port"])
            if not self.check_switch_port(switch, port, file, subject, ("peering_switch", "peering_port"), "a port of its own"):
                continue
            if (switch, port) in self.unique_owners["port"]:
                self.error(file, subject, "peering_port", f"{switch} {port} is also used by {self.unique_owners['port'][(switch, port)]}", "a port of its own")
            else:
                self.unique_owners["port"][(switch, port)] = holder

    # --- inter-island links --------------------------------------------------
    def check_inter_island(self) -> None:
        file = self.island.file_of("inter_island_links")
        links = self.vars.get("inter_island_links", [])
        if links is None:
            links = []
        if not isinstance(links, list):
            self.error(file, "", "inter_island_links", f"is {describe(links)}", "a list of links (may be empty)")
            return
        names: dict[str, int] = {}
        vnis: dict[int, str] = {}
        for index, link in enumerate(links):
            label = link.get("name") if isinstance(link, dict) and is_text(link.get("name")) else f"#{index + 1}"
            subject = f"inter-island link '{label}'"
            good = self.check_shape(link, "inter_island_link", file, subject).good()
            if "name" in good:
                if good["name"] in names:
                    self.error(file, subject, "name", "is declared twice", "one entry per link")
                names[good["name"]] = index
            if "vni" in good:
                if good["vni"] in vnis:
                    self.error(file, subject, "vni", f"{good['vni']} is also used by link '{vnis[good['vni']]}'", "a VNI unique on the island")
                vnis[good["vni"]] = label
            if "local_switch" in good:
                if good["local_switch"] not in self.island.groups.get("peering_switches", []):
                    self.error(file, subject, "local_switch", f"'{good['local_switch']}' is not a peering switch of this island", "one of " + ", ".join(self.island.groups.get("peering_switches", [])))
                elif "local_port" in good:
                    port = str(good["local_port"])
                    if port not in self.switch_ports.get(good["local_switch"], {}):
                        self.error(file, subject, "local_port", f"'{port}' is not a port of {good['local_switch']}", f"one of the switch_ports in {self.island.host_file(good['local_switch'])}")
                    else:
                        self.inter_island_ports[(good["local_switch"], port)] = label
            if "remote_island" in good and "name" in good:
                self.check_link_remote(good, file, subject)

    def check_link_remote(self, link: dict[str, Any], file: str, subject: str) -> None:
        remote = link["remote_island"]
        if remote == self.island.name:
            self.error(file, subject, "remote_island", f"'{remote}' is this island", "another island")
            return
        sibling = self.siblings.get(remote)
        if sibling is None:
            self.error(
                file,
                subject,
                "remote_island",
                f"there is no island inventory inventories/{remote}",
                "the directory name of an existing island: " + (", ".join(sorted(self.siblings)) or "(none)"),
            )
            return
        if not isinstance(sibling.inter_island_links, list):
            return  # that island's own validation reports it
        match = [
            other for other in sibling.inter_island_links if isinstance(other, dict) and other.get("name") == link["name"]
        ]
        if not match:
            self.error(
                file,
                subject,
                "name",
                f"{sibling.inter_island_file} declares no link '{link['name']}'",
                f"the same link (name, vni) declared on both islands",
            )
            return
        other = match[0]
        expectations = [
            ("vni", other.get("vni"), link.get("vni")),
            ("bridged", other.get("bridged"), link.get("bridged")),
            ("remote_island", other.get("remote_island"), self.island.name),
            ("remote_switch", other.get("local_switch"), link.get("remote_switch")),
            ("local_switch", other.get("remote_switch"), link.get("local_switch")),
        ]
        def shown(value: Any) -> str:
            return str(value).lower() if isinstance(value, bool) else str(value)

        for field, theirs, ours in expectations:
            if theirs != ours and ours is not None:
                their_field = {"remote_switch": "local_switch", "local_switch": "remote_switch"}.get(field, field)
                self.error(
                    file,
                    subject,
                    field,
                    f"{shown(ours)} differs from {sibling.inter_island_file} ({their_field}: {shown(theirs)})",
                    "both ends of the link to agree",
                )

    # --- members -------------------------------------------------------------
    def check_members(self, vault_keys: set[str] | None) -> None:
        file = self.island.file_of("members")
        members = self.vars.get("members")
        if members is None:
            if not self.unreadable(file):
                self.error(file, "", "members", "is not defined", "a list of members (may be empty)")
            return
        if not isinstance(members, list):
            self.error(file, "", "members", f"is {describe(members)}", "a list of members (may be empty)")
            return
        speeds = self.vars.get("caribix_member_port_speeds") or []
        ceiling = self.vars.get("caribix_max_prefix_ceiling") or {}
        extra = self.vars.get("caribix_member_extra_fields") or []
        seen = self.unique_owners
        for index, member in enumerate(members):
            subject = member_label(member, index)
            shape = self.check_shape(member, "member", file, subject, extra_allowed=extra)
            good = shape.good()

            def unique(field: str, key: Any, shown: str) -> None:
                if key in seen[field]:
                    self.error(file, subject, field, f"{shown} is also used by {seen[field][key]}", f"{UNIQUE_NOUNS[field]} unique on the island")
                else:
                    seen[field][key] = subject

            if "name" in good:
                unique("name", good["name"].casefold(), f"'{good['name']}'")
            if "asn" in good:
                problem = asn_problem(good["asn"], self.lab_mode)
                if problem:
                    self.error(file, subject, "asn", *problem)
                unique("asn", good["asn"], f"AS{good['asn']}")
                exchange = self.vars.get("exchange") if isinstance(self.vars.get("exchange"), dict) else {}
                if good["asn"] == exchange.get("route_server_asn"):
                    self.error(file, subject, "asn", f"AS{good['asn']} is the route servers' ASN", "the member's own AS number")
            for family, network in (("ipv4", self.peering_v4), ("ipv6", self.peering_v6)):
                if family in good:
                    inside = self.check_address_in(good[family], network, "peering LAN", file, subject, family)
                    if inside:
                        self.claim_address(good[family], subject, file, subject, family)
            if "mac" in good:
                mac = netaddr.EUI(good["mac"])
                if mac.words[0] & 1:
                    self.error(file, subject, "mac", f"{good['mac']} is a multicast/broadcast address", "a unicast MAC (first octet even)")
                elif int(mac) == 0:
                    self.error(file, subject, "mac", f"{good['mac']} is all zeros", "the MAC of the member's router interface")
                unique("mac", good["mac"], good["mac"])
            if "switch" in good and "port" in good:
                self.check_member_port(good, file, subject, unique)
            if good.get("route_server") is True and "as_set" in good:
                self.route_server_as_sets.append((subject, good["as_set"]))
            if "mac" in good:
                self.member_macs[good["mac"]] = subject
            if "speed" in good:
                if good["speed"] not in speeds:
                    self.error(file, subject, "speed", f"{good['speed']} Mb/s is not an offered port speed", "one of " + ", ".join(str(s) for s in speeds) + " (caribix_member_port_speeds)")
                else:
                    port_max = self.switch_ports.get(str(good.get("switch")), {}).get(str(good.get("port")))
                    if is_int(port_max) and good["speed"] > port_max:
                        self.error(file, subject, "speed", f"{good['speed']} Mb/s exceeds {good['switch']} {good['port']}'s maximum of {port_max} Mb/s", f"at most {port_max} Mb/s, or a faster port")
            if "max_prefix" in good:
                limits = shape.good("max_prefix")
                for family, limit in limits.items():
                    top = ceiling.get(family)
                    if is_int(top) and limit > top:
                        self.error(file, subject, f"max_prefix.{family}", f"{limit} is above the ceiling of {top}", f"at most {top} (caribix_max_prefix_ceiling)")
            if "bgp_password_vault_key" in good and vault_keys is not None:
                key = good["bgp_password_vault_key"]
                passwords = self.vars.get("vault_bgp_passwords")
                password = passwords.get(key) if isinstance(passwords, dict) else "unknown"
                if key in vault_keys and not (isinstance(password, VaultValue) or is_text(str(password) if password is not None else "")):
                    self.error(
                        file,
                        subject,
                        "bgp_password_vault_key",
                        f"'{key}' is {'empty (null)' if password is None else 'empty'} in vault_bgp_passwords ({self.island.file_of('vault_bgp_passwords')}), so the session would have no password",
                        "the session's password (ansible-vault edit that file), or no bgp_password_vault_key for a session without one",
                    )
                elif key not in vault_keys:
                    self.error(
                        file,
                        subject,
                        "bgp_password_vault_key",
                        f"'{key}' is not a key of vault_bgp_passwords in {self.island.file_of('vault_bgp_passwords')}",
                        "an existing key (ansible-vault edit that file to add it)",
                    )

    def check_route_server_clients(self) -> None:
        """The route servers need at least one client: with none, their
        build stops after base and fabric have changed the hosts. An
        island without members yet (a new site) is allowed."""
        members = self.vars.get("members")
        if not isinstance(members, list) or not members:
            return
        if not any(isinstance(member, dict) and member.get("route_server") is True for member in members):
            self.error(
                self.island.file_of("members"),
                "",
                "members",
                f"none of the {len(members)} members has route_server: true, so the route servers would have no client",
                "at least one member with route_server: true",
            )

    def check_member_port(self, good: dict[str, Any], file: str, subject: str, unique: Callable) -> None:
        switch, port = good["switch"], str(good["port"])
        if self.check_switch_port(switch, port, file, subject, ("switch", "port"), "a member port, not an inter-island port"):
            unique("port", (switch, port), f"{switch} {port}")

    def check_switch_port(self, switch: str, port: str, file: str, subject: str, fields: tuple[str, str], not_a_link: str) -> bool:
        """A member's or a host's port: on a peering switch, one of its
        switch_ports, not an inter-island link's. ``fields`` name the data's
        switch and port fields; True when the port may be claimed."""
        switches = self.island.groups.get("peering_switches", [])
        if switch not in switches:
            self.error(file, subject, fields[0], f"'{switch}' is not a peering switch of this island", "one of " + (", ".join(switches) or "(none)") + " (hosts.yml, group peering_switches)")
            return False
        if switch not in self.switch_ports:
            return False  # the switch's own errors say why
        if port not in self.switch_ports[switch]:
            self.error(file, subject, fields[1], f"'{port}' is not a port of {switch}", f"one of the switch_ports in {self.island.host_file(switch)}")
            return False
        if (switch, port) in self.inter_island_ports:
            self.error(file, subject, fields[1], f"{switch} {port} carries inter-island link '{self.inter_island_ports[(switch, port)]}'", not_a_link)
            return False
        return True

    # --- addresses -----------------------------------------------------------
    def check_address_in(self, text: str, network: netaddr.IPNetwork | None, lan: str, file: str, subject: str, field: str) -> bool:
        if network is None:
            return False  # the exchange's own error explains it
        address = netaddr.IPAddress(text)
        if address not in network:
            self.error(file, subject, field, f"{text} is outside the {lan} {network}", "an address inside it")
            return False
        if address == network.network:
            self.error(file, subject, field, f"{text} is the network address of {network}", "a host address inside it")
            return False
        if network.version == 4 and network.prefixlen < 31 and address == network.broadcast:
            self.error(file, subject, field, f"{text} is the broadcast address of {network}", "a host address inside it")
            return False
        return True

    def claim_address(self, text: str, owner: str, file: str, subject: str, field: str) -> None:
        address = netaddr.IPAddress(text)
        if address in self.address_owners:
            self.error(file, subject, field, f"{text} is also used by {self.address_owners[address]}", "an address unique on the island")
        else:
            self.address_owners[address] = owner

    # --- other islands -------------------------------------------------------
    def check_siblings(self) -> None:
        file = self.island.file_of("exchange")
        exchange = self.vars.get("exchange") if isinstance(self.vars.get("exchange"), dict) else {}
        mine = {
            "peering_lan.ipv4": self.peering_v4,
            "peering_lan.ipv6": self.peering_v6,
            "management_lan.ipv4": self.management_v4,
            "management_lan.ipv6": self.management_v6,
        }
        for name, sibling in sorted(self.siblings.items()):
            other = sibling.exchange if isinstance(sibling.exchange, dict) else {}
            for field, network in mine.items():
                if network is None:
                    continue
                for other_field in ("peering_lan", "management_lan"):
                    lan = other.get(other_field) if isinstance(other.get(other_field), dict) else {}
                    text = lan.get(field.rsplit(".", 1)[1])
                    try:
                        theirs = netaddr.IPNetwork(text)
                    except (netaddr.AddrFormatError, TypeError, ValueError):
                        continue
                    if overlaps(network, theirs):
                        self.error(
                            file,
                            "exchange",
                            field,
                            f"{network} overlaps {name}'s {other_field}.{field.rsplit('.', 1)[1]} {theirs} ({sibling.exchange_file})",
                            "networks that no other island uses",
                        )
            if is_int(exchange.get("ixf_id")) and exchange.get("ixf_id") == other.get("ixf_id"):
                self.error(file, "exchange", "ixf_id", f"{exchange['ixf_id']} is also {name}'s ixf_id ({sibling.exchange_file})", "the IX-F id of this exchange, unique per island")
            if is_int(exchange.get("peeringdb_ix_id")) and exchange.get("peeringdb_ix_id") == other.get("peeringdb_ix_id"):
                self.error(
                    file,
                    "exchange",
                    "peeringdb_ix_id",
                    f"{exchange['peeringdb_ix_id']} is also {name}'s peeringdb_ix_id ({sibling.exchange_file})",
                    "this exchange's own PeeringDB ix id (each island is its own exchange in PeeringDB)",
                )
            if is_text(exchange.get("shortname")) and exchange.get("shortname") == other.get("shortname"):
                self.error(file, "exchange", "shortname", f"'{exchange['shortname']}' is also {name}'s shortname ({sibling.exchange_file})", "a shortname unique per island")

    def check_bridged_macs(self) -> None:
        """A bridged link makes two islands' peering LANs one broadcast
        domain: a MAC on both would flap between them and the port
        security of one side would drop the other's traffic."""
        links = self.vars.get("inter_island_links")
        remotes = sorted(
            {link["remote_island"] for link in links if isinstance(link, dict) and link.get("bridged") is True and isinstance(link.get("remote_island"), str)}
            if isinstance(links, list)
            else set()
        )
        file = self.island.file_of("members")
        for remote in remotes:
            sibling = self.siblings.get(remote)
            if sibling is None or not isinstance(sibling.members, list):
                continue
            for index, member in enumerate(sibling.members):
                mac = member.get("mac") if isinstance(member, dict) else None
                if isinstance(mac, str) and mac in self.member_macs:
                    self.error(
                        file,
                        self.member_macs[mac],
                        "mac",
                        f"{mac} is also used by {remote}'s {member_label(member, index)} ({sibling.members_file}), and a bridged link joins the two peering LANs",
                        "a MAC address unique across bridged islands",
                    )

    # --- policy --------------------------------------------------------------
    def check_policy(self) -> None:
        speeds = self.vars.get("caribix_member_port_speeds")
        if not (isinstance(speeds, list) and speeds and all(is_positive_int(s) for s in speeds)):
            self.error(self.island.file_of("caribix_member_port_speeds"), "", "caribix_member_port_speeds", f"{describe(speeds)} is not valid", "a list of speeds in Mb/s")
            self.vars["caribix_member_port_speeds"] = []
        ceiling = self.vars.get("caribix_max_prefix_ceiling")
        if not (isinstance(ceiling, dict) and all(is_positive_int(ceiling.get(f)) for f in ("ipv4", "ipv6"))):
            self.error(self.island.file_of("caribix_max_prefix_ceiling"), "", "caribix_max_prefix_ceiling", f"{describe(ceiling)} is not valid", "a mapping with positive ipv4 and ipv6 limits")
            self.vars["caribix_max_prefix_ceiling"] = {}
        extra = self.vars.get("caribix_member_extra_fields")
        if not (isinstance(extra, list) and all(is_text(e) for e in extra)):
            self.error(self.island.file_of("caribix_member_extra_fields"), "", "caribix_member_extra_fields", f"{describe(extra)} is not valid", "a list of field names")
            self.vars["caribix_member_extra_fields"] = []

    def run(self, vault_keys: set[str] | None) -> list[ValidationError]:
        for problem in self.island.load_errors:
            self.error(problem.path, "", problem.field, problem.problem, problem.expected)
        self.check_policy()
        self.check_exchange()
        self.check_hosts()
        self.check_inter_island()
        self.check_host_ports()
        self.check_members(vault_keys)
        self.check_route_server_clients()
        self.check_siblings()
        self.check_bridged_macs()
        self.check_monitoring_vault()
        self.check_snapshot()
        return self.errors

    # --- what the first deploy needs besides the data ------------------------
    def check_monitoring_vault(self) -> None:
        """The monitoring host's Alertmanager secrets exist (their values are
        encrypted; only their presence is checked)."""
        path = self.island.inventory / MONITORING_VAULT_FILE
        file = display_path(path)

        def encrypt(name: str) -> str:
            return f"encrypted with `ansible-vault encrypt_string --name {name} '<secret>'`"

        if not path.is_file():
            self.error(
                file,
                "",
                "",
                "does not exist: the monitoring host's Alertmanager needs its secrets",
                f"{' and '.join(MONITORING_SECRETS)}, each {encrypt('<variable>')} (caribix-new-site writes this file)",
                pending=True,
            )
            return
        try:
            content = read_yaml(path)
        except DataFileError as problem:
            if path.read_bytes().startswith(b"$ANSIBLE_VAULT"):
                return  # a whole-file vault this run cannot open: Ansible decrypts it (or says why)
            self.error(problem.path, "", "", problem.problem, problem.expected)
            return
        if not isinstance(content, dict):
            self.error(file, "", "", f"holds {describe(content)}", "a mapping of variables")
            return
        for name, what in MONITORING_SECRETS.items():
            if name not in content:
                self.error(file, "", name, "is missing", f"{what}, {encrypt(name)}", pending=True)
            elif not isinstance(content[name], VaultValue) and not is_text(content[name]):
                self.error(file, "", name, f"{describe(content[name])} is not valid", f"{what}, {encrypt(name)}")
        placeholders = content.get(MONITORING_PLACEHOLDERS)
        if placeholders:
            names = ", ".join(str(p) for p in placeholders) if isinstance(placeholders, list) else describe(placeholders)
            self.error(
                file,
                "",
                MONITORING_PLACEHOLDERS,
                f"says {names} still hold placeholders, not the NOC's real secrets",
                f"each replaced by its real value {encrypt('<variable>')}, then {MONITORING_PLACEHOLDERS} deleted",
                pending=True,
            )

    def snapshot_fix(self, example: bool) -> str:
        """How to (re)make this island's snapshot: written in the lab, fetched otherwise."""
        inventory = display_path(self.island.inventory)
        if self.lab_mode and example:
            return f"write the lab's example snapshot with `{EXAMPLE_SNAPSHOT_COMMAND} {inventory}`"
        return f"fetch it with `{refresh_command(self.island.name)}` (online) and commit it"

    def check_snapshot(self) -> None:
        """snapshots/<island>/ holds what the route-server build reads: its
        four files, well formed, fetched data on a production island, and
        every route-server member's AS-SET."""
        directory = snapshot_dir_of(self.island.inventory)
        shown = display_path(directory)
        if not directory.is_dir():
            self.error(
                shown + "/",
                "",
                "",
                "does not exist: the route servers are built from the island's IRR, PeeringDB and RPKI snapshot",
                "the island's snapshot: " + self.snapshot_fix(example=True),
                pending=True,
            )
            return
        missing = [name for name in (*SNAPSHOT_FILES.values(), "metadata.yml") if not (directory / name).is_file()]
        for name in missing:
            self.error(display_path(directory / name), "", "", "does not exist (a part of the route servers' snapshot)", "the whole snapshot: " + self.snapshot_fix(example=True), pending=True)
        if missing:
            return
        try:
            snapshot = load_snapshot(directory)
        except (RouteServerBuildError, yaml.YAMLError, AttributeError, TypeError) as error:
            where, _, problem = str(error).partition(": ")
            if not problem or not where.startswith(str(directory)):
                where, problem = str(directory), str(error)
            self.error(display_path(where), "", "", problem.replace("\n", " "), "a snapshot as the build reads it: " + self.snapshot_fix(example=True))
            return
        parts = snapshot["metadata"]["parts"]
        example = {part: (parts[part] or {}).get("source") == EXAMPLE_SOURCE for part in SNAPSHOT_PARTS}
        if not self.lab_mode:
            for part in SNAPSHOT_PARTS:
                if example[part]:
                    self.error(
                        display_path(directory / "metadata.yml"),
                        "",
                        f"parts.{part}.source",
                        f"'{EXAMPLE_SOURCE}' marks hand-written example data, which the route-server build refuses when caribix_lab_mode is false",
                        "fetched data: " + self.snapshot_fix(example=False),
                        pending=True,
                    )
        known = {str(name).upper() for name in snapshot["irr"]["as_sets"]}
        members_file = self.island.file_of("members")
        irr_file = display_path(directory / SNAPSHOT_FILES["irr"])
        for subject, as_set in self.route_server_as_sets:
            if is_aut_num(as_set) or as_set.upper() in known:
                continue
            self.error(
                members_file,
                subject,
                "as_set",
                f"{as_set} is not in the route servers' IRR snapshot ({irr_file}, as_sets), so their build would stop",
                "the member's AS-SET in the snapshot: " + self.snapshot_fix(example=example["irr"]),
                pending=True,
            )


# --- small predicates --------------------------------------------------------
def is_text(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""




def is_positive_int(value: Any) -> bool:
    return is_int(value) and value > 0










def overlaps(first: netaddr.IPNetwork, second: netaddr.IPNetwork) -> bool:
    return first.version == second.version and (first.first <= second.last and second.first <= first.last)


def describe_field(name: str) -> str:
    return {
        "peering_ipv4": "IPv4 address on the peering LAN",
        "peering_ipv6": "IPv6 address on the peering LAN",
        "management_ipv4": "IPv4 address on the management LAN",
        "router_id": "BGP router id",
        "peering_mac": "peering interface's MAC address",
        "peering_switch": "peering switch",
        "peering_port": "port on the peering switch",
    }.get(name, name)


def member_label(member: Any, index: int) -> str:
    """How a member is named in messages: its name and ASN when known."""
    if not isinstance(member, dict):
        return f"member #{index + 1}"
    name = member.get("name")
    label = f"member '{name}'" if is_text(name) else f"member #{index + 1}"
    asn = member.get("asn")
    if is_int(asn):
        label += f" (AS{asn})"
    return label


# --- entry points ------------------------------------------------------------
def snapshot_dir_of(inventory: Path | str) -> Path:
    """snapshots/<island>/ beside inventories/, where the route_server role
    and playbooks/refresh_snapshots.yml read and write it."""
    inventory = Path(inventory)
    return shared_root_for(inventory) / "snapshots" / inventory.resolve().name


def validate_island(island: Island, siblings: dict[str, Sibling] | None = None, vault_keys: set[str] | None = None) -> list[ValidationError]:
    """Every problem of ``island`` (empty list: the data is good)."""
    return Validator(island, siblings).run(vault_keys)


def vault_keys_of(island: Island) -> set[str] | None:
    """Keys of vault_bgp_passwords, or None when the vault could not be
    read (that load error is reported instead)."""
    if any("vault" in error.path for error in island.load_errors):
        return None
    passwords = island.variables.get("vault_bgp_passwords") or {}
    return {str(key) for key in passwords} if isinstance(passwords, dict) else set()


def validate_directory(inventory: Path | str, vault_ids: list[str] | None = None) -> list[ValidationError]:
    """Validate an island inventory directory read from disk."""
    inventory = Path(inventory)
    if not inventory.is_dir():
        return [ValidationError(str(inventory), "", "", "is not a directory", "an island inventory directory like inventories/guadeloupe")]
    island = load_island(inventory, vault_ids=vault_ids)
    return validate_island(island, load_siblings(inventory), vault_keys_of(island))


def format_report(errors: list[ValidationError], inventory: str) -> str:
    """The numbered list an engineer reads at 2 a.m."""
    if not errors:
        return f"{inventory}: the island data is valid"
    lines = [f"{inventory}: {len(errors)} problem{'s' if len(errors) != 1 else ''} in the island data, nothing was changed:"]
    lines += [f"{number:>3}. {error}" for number, error in enumerate(errors, start=1)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="caribix-validate",
        description="Validate CaribIX island inventories (the same checks playbooks/validate.yml runs).",
    )
    parser.add_argument("inventories", nargs="+", type=Path, help="island inventory directories, e.g. inventories/guadeloupe")
    parser.add_argument(
        "--vault-id",
        action="append",
        dest="vault_ids",
        help="vault identity label@password-file (default: vault_identity_list of ansible.cfg)",
    )
    args = parser.parse_args(argv)
    status = 0
    for inventory in args.inventories:
        errors = validate_directory(inventory, args.vault_ids)
        print(format_report(errors, str(inventory)), file=sys.stderr if errors else sys.stdout)
        status = status or (1 if errors else 0)
    return status


if __name__ == "__main__":
    sys.exit(main())
