"""IX-F member list (as IXP Manager or caribix-ixf-export write it) ->
an island's members.yml.

    caribix-ixf-import members.json inventories/guadeloupe [--assign-free-ports]

What IX-F carries becomes the member's data: name, ASN, AS-SET, addresses,
MAC, speed, max-prefix, route-server flag, NOC contact, URL. What it does
not carry (the switch port, the BGP password's vault key) is kept from
the member already in members.yml (matched by ASN); a new member needs a
port: ``--assign-free-ports`` puts it on the first free port of its
switch that is fast enough, otherwise it is an error.

The document must be IX-F 1.0 and pass its schema; the exchange's own
entries (``member_type: ixp``, ``ixrouteserver``/``ixroutecollector``
services: the route servers) are not members. The new member list is
validated with the island's other data before anything is written: on any
error nothing is written (exit 1). The file is replaced atomically.
Steps that only follow from the change (a new AS-SET for the lab's
example snapshot) are printed, not refused.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from caribix.ixf import schema_errors
from caribix.model import display_path, load_island, load_siblings
from caribix.validate import format_report, validate_island, vault_keys_of

MEMBERS_FILE = Path("group_vars") / "all" / "members.yml"
SERVICE_TYPES = {"ixrouteserver", "ixroutecollector"}
# members.yml's field order (docs/data-model.md).
FIELD_ORDER = (
    "name", "asn", "as_set", "ipv4", "ipv6", "mac", "switch", "port", "speed",
    "max_prefix", "route_server", "bgp_password_vault_key", "noc", "url",
)


class IxfImportError(Exception):
    """The IX-F document cannot become members (every reason listed)."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def read_document(path: Path) -> dict[str, Any]:
    shown = display_path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise IxfImportError([f"{shown}: cannot be read ({error.strerror}); expected an IX-F member list (JSON)"]) from error
    except ValueError as error:
        raise IxfImportError([f"{shown}: is not JSON ({error}); expected an IX-F member list (JSON)"]) from error
    if not isinstance(document, dict):
        raise IxfImportError([f"{shown}: holds a {type(document).__name__}; expected an IX-F member list (a JSON object)"])
    if document.get("version") != "1.0":
        raise IxfImportError([f"{shown}: field version: {document.get('version')!r} is not supported; expected '1.0' (IX-F Member Export 1.0)"])
    problems = schema_errors(document)
    if problems:
        raise IxfImportError([f"{shown}: {problem}; expected the IX-F 1.0 schema (schemas/ixp-member-list-1.0.schema.json)" for problem in problems])
    return document


def is_exchange_service(entry: dict[str, Any]) -> bool:
    """The exchange's own participants: its route servers and collectors."""
    if entry.get("member_type") == "ixp":
        return True
    for connection in entry.get("connection_list", []):
        for vlan in connection.get("vlan_list", []):
            for family in ("ipv4", "ipv6"):
                for service in (vlan.get(family) or {}).get("services", []):
                    if service.get("type") in SERVICE_TYPES:
                        return True
    return False


def members_from_document(
    document: dict[str, Any],
    source: str,
    exchange: dict[str, Any],
    existing: list[dict[str, Any]],
    switch_ports: dict[str, dict[str, int]],
    assign_free_ports: bool,
    switch_map: dict[str, str] | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """The island's new member list and notes for the engineer."""
    problems: list[str] = []
    notes: list[str] = []
    ixp_id = exchange["ixf_id"]
    vlan_id = exchange["peering_lan"]["vlan_id"]
    ixps = [ixp for ixp in document["ixp_list"] if ixp.get("ixp_id") == ixp_id]
    if not ixps:
        ids = ", ".join(str(ixp.get("ixp_id")) for ixp in document["ixp_list"])
        raise IxfImportError([f"{source}: ixp_list has no ixp_id {ixp_id} (this island's exchange.ixf_id), only {ids}; expected the island's own exchange"])
    switch_names = {switch.get("id"): switch.get("name") for switch in ixps[0].get("switch", [])}
    known = {member["asn"]: member for member in existing if isinstance(member, dict) and "asn" in member}
    used_ports = {(m["switch"], str(m["port"])) for m in existing if isinstance(m, dict) and "switch" in m and "port" in m}

    imported: dict[int, dict[str, Any]] = {}
    for index, entry in enumerate(document["member_list"]):
        where = f"{source}: member_list[{index}] (AS{entry.get('asnum')} {entry.get('name', '?')})"
        if is_exchange_service(entry):
            continue
        connections = [c for c in entry.get("connection_list", []) if c.get("ixp_id") == ixp_id and c.get("state", "active") == "active"]
        vlans = [(c, v) for c in connections for v in c.get("vlan_list", []) if v.get("vlan_id") == vlan_id]
        if not vlans:
            notes.append(f"{where}: no active connection on VLAN {vlan_id} of IXP {ixp_id}; not imported")
            continue
        if len(vlans) > 1:
            problems.append(f"{where}: {len(vlans)} connections on VLAN {vlan_id}; expected one per member (members.yml has one port per member)")
            continue
        connection, vlan = vlans[0]
        asn = entry["asnum"]
        if asn in imported:
            problems.append(f"{where}: AS{asn} is listed twice; expected one entry per network")
            continue
        ipv4, ipv6 = vlan.get("ipv4") or {}, vlan.get("ipv6") or {}
        missing = [
            name
            for name, value in (
                ("vlan_list.ipv4.address", ipv4.get("address")),
                ("vlan_list.ipv6.address", ipv6.get("address")),
                ("vlan_list.ipv4.mac_addresses", ipv4.get("mac_addresses") or ipv6.get("mac_addresses")),
                ("vlan_list.ipv4.max_prefix", ipv4.get("max_prefix")),
                ("vlan_list.ipv6.max_prefix", ipv6.get("max_prefix")),
                ("contact_email", entry.get("contact_email")),
                ("if_list", connection.get("if_list")),
                ("name", entry.get("name")),
            )
            if not value
        ]
        if missing:
            problems.append(f"{where}: {', '.join(missing)} missing; expected what members.yml requires (docs/data-model.md)")
            continue
        interface = connection["if_list"][0]
        switch = switch_names.get(interface.get("switch_id"))
        # IXP Manager names switches its own way: --switch maps them.
        switch = (switch_map or {}).get(str(switch), (switch_map or {}).get(str(interface.get("switch_id")), switch))
        if switch is None:
            problems.append(f"{where}: if_list switch_id {interface.get('switch_id')} is not in ixp_list[].switch; expected one of {sorted(switch_names)}")
            continue
        if switch not in switch_ports:
            problems.append(
                f"{where}: switch '{switch}' (IX-F switch id {interface.get('switch_id')}) is not a peering switch of this island; "
                f"expected --switch {switch}=<one of {', '.join(sorted(switch_ports)) or 'none'}>"
            )
            continue
        macs = ipv4.get("mac_addresses") or ipv6.get("mac_addresses")
        member: dict[str, Any] = {
            "name": entry["name"],
            "asn": asn,
            "as_set": ipv4.get("as_macro") or ipv6.get("as_macro") or f"AS{asn}",
            "ipv4": ipv4["address"],
            "ipv6": ipv6["address"],
            "mac": str(macs[0]).lower(),
            "switch": switch,
            "speed": sum(int(i.get("if_speed") or 0) for i in connection["if_list"]),
            "max_prefix": {"ipv4": ipv4["max_prefix"], "ipv6": ipv6["max_prefix"]},
            "route_server": bool(ipv4.get("routeserver") or ipv6.get("routeserver")),
            "noc": {"email": entry["contact_email"][0]},
        }
        if entry.get("contact_phone"):
            member["noc"]["phone"] = entry["contact_phone"][0]
        if entry.get("url"):
            member["url"] = entry["url"]
        before = known.get(asn)
        if before is not None and before.get("switch") == switch and "port" in before:
            member["port"] = before["port"]
            if "bgp_password_vault_key" in before:
                member["bgp_password_vault_key"] = before["bgp_password_vault_key"]
        elif assign_free_ports:
            free = [
                port
                for port, speed in switch_ports.get(switch, {}).items()
                if (switch, port) not in used_ports and speed >= member["speed"]
            ]
            if not free:
                problems.append(f"{where}: no free port of {switch} runs at {member['speed']} Mb/s; expected a port for the new member (add one to its host_vars)")
                continue
            member["port"] = free[0]
            used_ports.add((switch, free[0]))
            notes.append(f"{where}: new member on {switch} {free[0]} (--assign-free-ports): check it is the port it is cabled to")
        else:
            problems.append(
                f"{where}: a new member, and IX-F names no switch port; expected --assign-free-ports "
                f"(the first free port of {switch} fast enough) or the member added to members.yml with its port first"
            )
            continue
        imported[asn] = {name: member[name] for name in FIELD_ORDER if name in member}
    if problems:
        raise IxfImportError(problems)
    # Keep members.yml's order; newcomers follow, by ASN.
    ordered = [imported.pop(m["asn"]) for m in existing if isinstance(m, dict) and m.get("asn") in imported]
    ordered += [imported[asn] for asn in sorted(imported)]
    for asn in sorted(set(known) - {m["asn"] for m in ordered}):
        notes.append(f"AS{asn} {known[asn].get('name')}: not in the IX-F document, removed from members.yml")
    return ordered, notes


def _scalar(value: Any, quote: bool = False) -> str:
    if quote:
        return json.dumps(str(value), ensure_ascii=False)
    return yaml.safe_dump(value, default_flow_style=True, width=1 << 16, allow_unicode=True).removesuffix("\n...\n").strip()


def members_yaml(members: list[dict[str, Any]], exchange_name: str, source: str) -> str:
    """members.yml in the repository's style (one line per field, MACs and
    phones quoted: YAML 1.1 reads some unquoted ones as numbers)."""
    lines = [
        "# yaml-language-server: $schema=../../../../schemas/island.schema.json",
        "---",
        f"# The members of {exchange_name}: declared once, read by every role",
        "# (switch ports, route-server clients, monitoring targets, looking glass,",
        "# IX-F export). Field reference: docs/data-model.md.",
        f"# Imported from the IX-F member list {source} by caribix-ixf-import.",
    ]
    if not members:
        lines.append("members: []")
    else:
        lines.append("members:")
    for member in members:
        first = True
        for name, value in member.items():
            if isinstance(value, dict):
                text = "{" + ", ".join(f"{k}: {_scalar(v, quote=(k == 'phone'))}" for k, v in value.items()) + "}"
            else:
                text = _scalar(value, quote=(name == "mac"))
            lines.append(f"  {'- ' if first else '  '}{name}: {text}")
            first = False
    return "\n".join(lines) + "\n"


def import_members(
    document_path: Path, inventory: Path, assign_free_ports: bool, vault_ids: list[str] | None, switch_map: dict[str, str] | None = None
) -> tuple[str, list[str]]:
    """The new members.yml text and notes; raises IxfImportError with every
    problem when the document or the result is not valid."""
    island = load_island(inventory, vault_ids=vault_ids)
    errors = [e for e in validate_island(island, load_siblings(inventory), vault_keys_of(island)) if not e.pending]
    if errors:
        raise IxfImportError([format_report(errors, str(inventory)), "fix the island first: its other data must be valid to check the imported members"])
    document = read_document(document_path)
    exchange = island.variables["exchange"]
    switch_ports = {host: {str(p): s for p, s in (island.hosts.get(host, {}).get("switch_ports") or {}).items()} for host in island.groups.get("peering_switches", [])}
    # Ports no member may take: the exchange's own hosts' and the inter-island links'.
    taken = {(str(hv.get("peering_switch")), str(hv.get("peering_port"))) for hv in island.hosts.values() if hv.get("peering_port")}
    taken |= {(str(link.get("local_switch")), str(link.get("local_port"))) for link in island.variables.get("inter_island_links") or [] if isinstance(link, dict)}
    switch_ports = {switch: {port: speed for port, speed in ports.items() if (switch, port) not in taken} for switch, ports in switch_ports.items()}
    members, notes = members_from_document(
        document, display_path(document_path), exchange, island.variables.get("members") or [], switch_ports, assign_free_ports, switch_map
    )
    island.variables["members"] = members
    result = validate_island(island, load_siblings(inventory), vault_keys_of(island))
    blocking = [error for error in result if not error.pending]
    if blocking:
        raise IxfImportError([format_report(blocking, f"{inventory} with the imported members")])
    notes += [f"then: {error}" for error in result if error.pending]
    return members_yaml(members, exchange["name"], display_path(document_path)), notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="caribix-ixf-import",
        description="Write an island's members.yml from an IX-F member list (IX-F 1.0, as IXP Manager exports it).",
    )
    parser.add_argument("document", type=Path, help="the IX-F member list (JSON)")
    parser.add_argument("inventory", type=Path, help="island inventory directory, e.g. inventories/guadeloupe")
    parser.add_argument("--assign-free-ports", action="store_true", help="put new members on the first free port of their switch that is fast enough")
    parser.add_argument(
        "--switch",
        action="append",
        default=[],
        metavar="IXF=SWITCH",
        help="the island's switch for an IX-F switch name or id (IXP Manager's names differ), e.g. swi1-gp=gp-sw1",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the new members.yml instead of writing it")
    parser.add_argument("--vault-id", action="append", dest="vault_ids", help="vault identity label@file (default: ansible.cfg)")
    args = parser.parse_args(argv)
    bad = [item for item in args.switch if "=" not in item]
    if bad:
        parser.error(f"--switch {bad[0]}: expected IXF=SWITCH, like swi1-gp=gp-sw1")
    switch_map = dict(item.split("=", 1) for item in args.switch)
    try:
        text, notes = import_members(args.document, args.inventory, args.assign_free_ports, args.vault_ids, switch_map)
    except IxfImportError as error:
        print("\n".join(error.problems), file=sys.stderr)
        print("Nothing was written.", file=sys.stderr)
        return 1
    for note in notes:
        print(note, file=sys.stderr)
    target = args.inventory / MEMBERS_FILE
    if args.dry_run:
        sys.stdout.write(text)
        return 0
    if target.is_file() and target.read_text(encoding="utf-8") == text:
        print(f"{display_path(target)}: unchanged")
        return 0
    # Atomic: a reader never sees half a file.
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".members.", suffix=".yml")
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        stream.write(text)
    os.chmod(temporary, 0o644)
    os.replace(temporary, target)
    print(f"{display_path(target)}: written ({len(yaml.safe_load(text)['members'] or [])} members)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
