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
import re
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

MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
# An IRR object name, optionally with its source: AS-FOO, AS64500,
# RIPE::AS-FOO, AS64500:AS-CUSTOMERS.
AS_SET_RE = re.compile(r"^([A-Za-z0-9-]+::)?(AS-[A-Za-z0-9_-]+|AS\d+)(:(AS-[A-Za-z0-9_-]+|AS\d+))*$", re.IGNORECASE)
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z0-9-]+$")
PHONE_RE = re.compile(r"^\+[0-9][0-9 ]{5,19}$")
SHORTNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
ISLAND_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
URL_RE = re.compile(r"^https?://[^\s/$.?#][^\s]*$")
COUNTRY_RE = re.compile(r"^[A-Z]{2}$")

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


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def describe(value: Any) -> str:
    """A value as shown in a message (type named when that is the problem)."""
    if value is None:
        return "empty (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the string '{value}'"
    if is_int(value):
        return f"the number {value}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


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

    # --- reporting -----------------------------------------------------------
    def error(self, file: str, subject: str, field: str, problem: str, expected: str, pending: bool = False) -> None:
        self.errors.append(ValidationError(file, subject, field, problem, expected, pending))

    def unreadable(self, file: str) -> bool:
        """Whether ``file`` failed to load (its error says it already)."""
        return any(problem.path == file for problem in self.island.load_errors)

    # --- field helpers -------------------------------------------------------
    def check_fields(
        self,
        data: Any,
        spec: dict[str, tuple[bool, str, Callable[[Any], bool]]],
        file: str,
        subject: str,
        prefix: str = "",
        extra_allowed: Iterable[str] = (),
        forbidden: dict[str, tuple[str, str]] | None = None,
    ) -> dict[str, Any]:
        """Presence, type and format of each field of a mapping.

        ``spec``: field -> (required, expected description, predicate).
        Returns the fields that passed, so later checks only see good data.
        """
        good: dict[str, Any] = {}
        if not isinstance(data, dict):
            self.error(file, subject, prefix.rstrip("."), f"is {describe(data)}", "a mapping of fields")
            return good
        for name, (required, expected, predicate) in spec.items():
            if name not in data:
                if required:
                    self.error(file, subject, prefix + name, "is missing", f"{expected} (required)")
                continue
            value = data[name]
            if not predicate(value):
                self.error(file, subject, prefix + name, f"{describe(value)} is not valid", expected)
                continue
            good[name] = value
        for name, (problem, expected) in (forbidden or {}).items():
            if name in data:
                self.error(file, subject, prefix + str(name), problem, expected)
        allowed = set(spec) | set(extra_allowed) | set(forbidden or {})
        for name in data:
            if name not in allowed:
                self.error(
                    file,
                    subject,
                    prefix + str(name),
                    "is not a field of the data model (typo?)",
                    "one of " + ", ".join(sorted(spec)),
                )
        return good

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
        spec = {
            "name": (True, "a non-empty string, the exchange's full name", is_text),
            "shortname": (True, "letters, digits and dashes, like CaribIX-GP", matches(SHORTNAME_RE)),
            "island": (True, "the inventory directory name, lowercase with dashes", matches(ISLAND_RE)),
            "country": (True, "an ISO 3166 alpha-2 country code in capitals, like GP", matches(COUNTRY_RE)),
            "city": (True, "a non-empty string", is_text),
            "url": (True, "an http:// or https:// URL", matches(URL_RE)),
            "route_server_asn": (True, "an AS number (integer)", is_int),
            "ixf_id": (True, "the IX-F database id, a positive integer", is_positive_int),
            "peeringdb_ix_id": (False, "the PeeringDB ix id, a positive integer", is_positive_int),
            "support_email": (False, "the exchange's support email address", matches(EMAIL_RE)),
            "support_phone": (False, "an international number like +590 590 00 00 00", matches(PHONE_RE)),
            "peering_lan": (True, "a mapping with name, vlan_id, ipv4, ipv6, mtu", is_mapping),
            "management_lan": (True, "a mapping with ipv4 and ipv6", is_mapping),
        }
        good = self.check_fields(exchange, spec, file, "exchange")
        if not good and not isinstance(exchange, dict):
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
            lan = self.check_fields(
                good["peering_lan"],
                {
                    "name": (True, "an interface-safe name (letters, digits, '_', '.', '-')", matches(NAME_RE)),
                    "vlan_id": (True, "an 802.1Q VLAN id, 1-4094", lambda v: is_int(v) and 1 <= v <= 4094),
                    "ipv4": (True, "an IPv4 prefix like 192.0.2.0/26", is_network(4)),
                    "ipv6": (True, "an IPv6 prefix like 2001:db8:1::/64", is_network(6)),
                    "mtu": (True, "an integer MTU, 1500-9216", lambda v: is_int(v) and 1500 <= v <= 9216),
                },
                file,
                "exchange",
                "peering_lan.",
            )
            self.peering_v4 = self.check_prefix(lan.get("ipv4"), file, "peering_lan.ipv4", (16, 29))
            self.peering_v6 = self.check_prefix(lan.get("ipv6"), file, "peering_lan.ipv6", (48, 64))
        if "management_lan" in good:
            lan = self.check_fields(
                good["management_lan"],
                {
                    "ipv4": (True, "an IPv4 prefix like 192.0.2.192/28", is_network(4)),
                    "ipv6": (True, "an IPv6 prefix like 2001:db8:f1::/64", is_network(6)),
                },
                file,
                "exchange",
                "management_lan.",
            )
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
                    if name == "router_id":
                        if not is_address(4)(value):
                            self.error(file, subject, name, f"{describe(value)} is not valid", "an IPv4 address (the BGP router id)")
                        elif value in router_ids:
                            self.error(file, subject, name, f"{value} is also the router id of {router_ids[value]}", "a router id unique on the island")
                        else:
                            router_ids[value] = host
                        continue
                    family = 6 if name.endswith("ipv6") else 4
                    if not is_address(family)(value):
                        self.error(file, subject, name, f"{describe(value)} is not valid", f"an IPv{family} address without prefix length")
                        continue
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
        platform = values.get("switch_platform")
        if not is_text(platform):
            self.error(file, subject, "switch_platform", "is missing" if platform is None else f"{describe(platform)} is not valid", "the switch platform name, like linux_whitebox")
        ports = values.get("switch_ports")
        if not isinstance(ports, dict) or not ports:
            self.error(file, subject, "switch_ports", "is missing" if ports is None else f"{describe(ports)} is not valid", "a mapping of port name to its maximum speed in Mb/s")
            return
        good = {}
        for port, speed in ports.items():
            if not is_positive_int(speed):
                self.error(file, subject, f"switch_ports.{port}", f"{describe(speed)} is not valid", "the port's maximum speed in Mb/s, a positive integer")
                continue
            good[str(port)] = speed
        self.switch_ports[host] = good

    # --- inter-island links --------------------------------------------------
    def check_inter_island(self) -> None:
        file = self.island.file_of("inter_island_links")
        links = self.vars.get("inter_island_links", [])
        if links is None:
            links = []
        if not isinstance(links, list):
            self.error(file, "", "inter_island_links", f"is {describe(links)}", "a list of links (may be empty)")
            return
        spec = {
            "name": (True, "a link name (letters, digits, '_', '.', '-')", matches(NAME_RE)),
            "description": (False, "a string", is_text),
            "remote_island": (True, "the remote island's inventory directory name", matches(ISLAND_RE)),
            "local_switch": (True, "a switch of this island (peering_switches)", is_text),
            "local_port": (True, "a port of the local switch (its switch_ports)", is_port_name),
            "remote_switch": (True, "the switch at the other end", is_text),
            "vni": (True, "a VXLAN network identifier, 1-16777215", lambda v: is_int(v) and 1 <= v <= 16777215),
            "bridged": (True, "true or false", lambda v: isinstance(v, bool)),
        }
        names: dict[str, int] = {}
        vnis: dict[int, str] = {}
        for index, link in enumerate(links):
            label = link.get("name") if isinstance(link, dict) and is_text(link.get("name")) else f"#{index + 1}"
            subject = f"inter-island link '{label}'"
            good = self.check_fields(link, spec, file, subject)
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
    def member_spec(self) -> dict[str, tuple[bool, str, Callable[[Any], bool]]]:
        return {
            "name": (True, "a non-empty string, the member's name", is_text),
            "asn": (True, "an AS number (integer)", is_int),
            "as_set": (True, "an IRR AS-SET or aut-num like AS-EXAMPLE, AS64500 or RIPE::AS-EXAMPLE", matches(AS_SET_RE)),
            "ipv4": (True, "an IPv4 address without prefix length", is_address(4)),
            "ipv6": (True, "an IPv6 address without prefix length", is_address(6)),
            "mac": (True, "a lowercase MAC address like 02:ca:00:01:00:10", matches(MAC_RE)),
            "switch": (True, "a peering switch of this island", is_text),
            "port": (True, "a port name of that switch", is_port_name),
            "speed": (True, "the port speed in Mb/s (integer)", is_int),
            "max_prefix": (True, "a mapping with ipv4 and ipv6 limits", is_mapping),
            "route_server": (True, "true or false (whether it peers with the route servers)", lambda v: isinstance(v, bool)),
            "bgp_password_vault_key": (False, "the name of a key of vault_bgp_passwords", is_text),
            "noc": (True, "a mapping with email (and optional phone)", is_mapping),
            "url": (False, "an http:// or https:// URL", matches(URL_RE)),
        }

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
        seen: dict[str, dict[Any, str]] = defaultdict(dict)
        spec = self.member_spec()
        for index, member in enumerate(members):
            subject = member_label(member, index)
            good = self.check_fields(
                member,
                spec,
                file,
                subject,
                extra_allowed=extra,
                forbidden={
                    "bgp_password": (
                        "holds a plain-text password",
                        "bgp_password_vault_key naming a key of vault_bgp_passwords in the island's vault.yml",
                    )
                },
            )

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
            if "speed" in good:
                if good["speed"] not in speeds:
                    self.error(file, subject, "speed", f"{good['speed']} Mb/s is not an offered port speed", "one of " + ", ".join(str(s) for s in speeds) + " (caribix_member_port_speeds)")
                else:
                    port_max = self.switch_ports.get(str(good.get("switch")), {}).get(str(good.get("port")))
                    if is_int(port_max) and good["speed"] > port_max:
                        self.error(file, subject, "speed", f"{good['speed']} Mb/s exceeds {good['switch']} {good['port']}'s maximum of {port_max} Mb/s", f"at most {port_max} Mb/s, or a faster port")
            if "max_prefix" in good:
                limits = self.check_fields(
                    good["max_prefix"],
                    {
                        "ipv4": (True, "a positive integer", is_positive_int),
                        "ipv6": (True, "a positive integer", is_positive_int),
                    },
                    file,
                    subject,
                    "max_prefix.",
                )
                for family, limit in limits.items():
                    top = ceiling.get(family)
                    if is_int(top) and limit > top:
                        self.error(file, subject, f"max_prefix.{family}", f"{limit} is above the ceiling of {top}", f"at most {top} (caribix_max_prefix_ceiling)")
            if "bgp_password_vault_key" in good and vault_keys is not None:
                key = good["bgp_password_vault_key"]
                if key not in vault_keys:
                    self.error(
                        file,
                        subject,
                        "bgp_password_vault_key",
                        f"'{key}' is not a key of vault_bgp_passwords in {self.island.file_of('vault_bgp_passwords')}",
                        "an existing key (ansible-vault edit that file to add it)",
                    )
            if "noc" in good:
                self.check_fields(
                    good["noc"],
                    {
                        "email": (True, "an email address like noc@example.net", matches(EMAIL_RE)),
                        "phone": (False, "an international number like +590 590 00 00 10", matches(PHONE_RE)),
                    },
                    file,
                    subject,
                    "noc.",
                )

    def check_member_port(self, good: dict[str, Any], file: str, subject: str, unique: Callable) -> None:
        switch, port = good["switch"], str(good["port"])
        if switch not in self.island.groups.get("peering_switches", []):
            self.error(file, subject, "switch", f"'{switch}' is not a peering switch of this island", "one of " + (", ".join(self.island.groups.get("peering_switches", [])) or "(none)") + " (hosts.yml, group peering_switches)")
            return
        if switch not in self.switch_ports:
            return  # the switch's own errors say why
        if port not in self.switch_ports[switch]:
            self.error(file, subject, "port", f"'{port}' is not a port of {switch}", f"one of the switch_ports in {self.island.host_file(switch)}")
            return
        if (switch, port) in self.inter_island_ports:
            self.error(file, subject, "port", f"{switch} {port} carries inter-island link '{self.inter_island_ports[(switch, port)]}'", "a member port, not an inter-island port")
            return
        unique("port", (switch, port), f"{switch} {port}")

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
            if is_text(exchange.get("shortname")) and exchange.get("shortname") == other.get("shortname"):
                self.error(file, "exchange", "shortname", f"'{exchange['shortname']}' is also {name}'s shortname ({sibling.exchange_file})", "a shortname unique per island")

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
            self.error(problem.path, "", "", problem.problem, problem.expected)
        self.check_policy()
        self.check_exchange()
        self.check_hosts()
        self.check_inter_island()
        self.check_members(vault_keys)
        self.check_siblings()
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


def is_mapping(value: Any) -> bool:
    return isinstance(value, dict)


def is_positive_int(value: Any) -> bool:
    return is_int(value) and value > 0


def is_port_name(value: Any) -> bool:
    return is_text(value) or is_int(value)


def matches(pattern: re.Pattern) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, str) and pattern.match(value) is not None


def is_address(version: int) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        if not isinstance(value, str) or "/" in value:
            return False
        try:
            return netaddr.IPAddress(value, flags=netaddr.INET_PTON).version == version
        except (netaddr.AddrFormatError, ValueError):
            return False

    return check


def is_network(version: int) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        if not isinstance(value, str) or "/" not in value:
            return False
        try:
            address, length = value.split("/", 1)
            netaddr.IPAddress(address, flags=netaddr.INET_PTON)
            return netaddr.IPNetwork(value).version == version and length.isdigit()
        except (netaddr.AddrFormatError, ValueError):
            return False

    return check


def overlaps(first: netaddr.IPNetwork, second: netaddr.IPNetwork) -> bool:
    return first.version == second.version and (first.first <= second.last and second.first <= first.last)


def describe_field(name: str) -> str:
    return {
        "peering_ipv4": "IPv4 address on the peering LAN",
        "peering_ipv6": "IPv6 address on the peering LAN",
        "management_ipv4": "IPv4 address on the management LAN",
        "router_id": "BGP router id",
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
