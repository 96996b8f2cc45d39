"""IX-F Member Export (Euro-IX JSON schema 1.0) from an island's data.

PeeringDB and peering tools import this file; arouteserver's
``clients-from-euroix`` reads it back into route-server clients. The
export is only written from data that passes validation.

Choices (documented in docs/data-model.md):

* ``ixp_id`` (free for the IXP to set, persistent) is the exchange's
  ``ixf_id``, so it never changes and differs between islands;
* the peering LAN is the one VLAN, its ``id`` is ``peering_lan.vlan_id``;
* switch ids are 1, 2, ... in the order of the switch names;
* the route servers are listed as one entry of the exchange itself
  (``member_type: ixp``, the route-server ASN), one connection per route
  server, each address marked with an ``ixrouteserver`` service: IX-F
  1.0's way of saying "this is the IXP's route server", which tools such
  as arouteserver's ``clients-from-euroix`` skip when they make clients.

    caribix-ixf-export inventories/guadeloupe -o build/ixf/guadeloupe.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import netaddr

from caribix.model import Island, load_island, load_siblings
from caribix.schema import repository_file
from caribix.validate import format_report, validate_island, vault_keys_of

SCHEMA_VERSION = "1.0"
SCHEMA_PATH = repository_file("schemas/ixp-member-list-1.0.schema.json")


def load_schema(path: Path | None = None) -> dict[str, Any]:
    """The published schema, kept verbatim. Its text has trailing commas
    (``"type": "string",`` before ``}``), which strict JSON refuses: they
    are dropped in memory only, so the kept file stays the original."""
    text = (path or repository_file("schemas/ixp-member-list-1.0.schema.json")).read_text(encoding="utf-8")
    return json.loads(re.sub(r",(\s*[}\]])", r"\1", text))


def export_timestamp(now: datetime | None = None) -> str:
    """RFC 3339 UTC timestamp; SOURCE_DATE_EPOCH makes builds reproducible."""
    if now is None:
        epoch = os.environ.get("SOURCE_DATE_EPOCH")
        now = datetime.fromtimestamp(int(epoch), timezone.utc) if epoch else datetime.now(timezone.utc)
    return now.astimezone(timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def switch_ids(island: Island) -> dict[str, int]:
    return {name: number for number, name in enumerate(sorted(island.groups.get("peering_switches", [])), start=1)}


def build_export(island: Island, timestamp: str | None = None) -> dict[str, Any]:
    """The IX-F member list of one island (data assumed valid)."""
    exchange = island.variables["exchange"]
    lan = exchange["peering_lan"]
    ixp_id = exchange["ixf_id"]
    v4 = netaddr.IPNetwork(lan["ipv4"])
    v6 = netaddr.IPNetwork(lan["ipv6"])
    switches = switch_ids(island)

    ixp: dict[str, Any] = {
        "ixp_id": ixp_id,
        "ixf_id": exchange["ixf_id"],
        "shortname": exchange["shortname"],
        "name": exchange["name"],
        "url": exchange["url"],
        "country": exchange["country"],
        "switch": [
            {"id": number, "name": name, "city": exchange["city"], "country": exchange["country"]}
            for name, number in switches.items()
        ],
        "vlan": [
            {
                "id": lan["vlan_id"],
                "name": lan["name"],
                "ipv4": {"prefix": str(v4.network), "mask_length": v4.prefixlen},
                "ipv6": {"prefix": str(v6.network), "mask_length": v6.prefixlen},
            }
        ],
    }
    if "peeringdb_ix_id" in exchange:
        ixp["peeringdb_id"] = exchange["peeringdb_ix_id"]
    for field in ("support_email", "support_phone"):
        if field in exchange:
            ixp[field] = exchange[field]

    def interface(member: dict[str, Any]) -> dict[str, Any]:
        # A switch outside the inventory (a test fixture) gets no id.
        known = {"switch_id": switches[member["switch"]]} if member["switch"] in switches else {}
        return {**known, "if_speed": member["speed"]}

    members = [route_server_entry(island, ixp_id, lan["vlan_id"])] if island.groups.get("route_servers") else []
    for member in sorted(island.variables.get("members") or [], key=lambda m: (m["asn"], m["name"])):
        def family(version: str) -> dict[str, Any]:
            return {
                "address": member[version],
                "as_macro": member["as_set"],
                "max_prefix": member["max_prefix"][version],
                "routeserver": member["route_server"],
                "mac_addresses": [member["mac"]],
            }

        entry: dict[str, Any] = {
            "asnum": member["asn"],
            "member_type": "peering",
            "name": member["name"],
            "contact_email": [member["noc"]["email"]],
            "connection_list": [
                {
                    "ixp_id": ixp_id,
                    "state": "active",
                    "if_list": [interface(member)],
                    "vlan_list": [{"vlan_id": lan["vlan_id"], "ipv4": family("ipv4"), "ipv6": family("ipv6")}],
                }
            ],
        }
        if "phone" in member["noc"]:
            entry["contact_phone"] = [member["noc"]["phone"]]
        if "url" in member:
            entry["url"] = member["url"]
        members.append(entry)

    return {
        "version": SCHEMA_VERSION,
        "timestamp": timestamp or export_timestamp(),
        "ixp_list": [ixp],
        "member_list": members,
    }


# What the route servers run, for the informational service fields.
ROUTE_SERVER_SERVICE = {"type": "ixrouteserver", "os": "Debian", "daemon": "BIRD"}


def route_server_entry(island: Island, ixp_id: int, vlan_id: int) -> dict[str, Any]:
    """The exchange's route servers as IX-F 1.0 describes them: the IXP
    itself as a participant, each route server a connection whose
    addresses offer the ``ixrouteserver`` service."""
    exchange = island.variables["exchange"]
    connections = []
    for host in sorted(island.groups.get("route_servers", [])):
        values = island.hosts.get(host, {})
        vlan: dict[str, Any] = {"vlan_id": vlan_id}
        for family in ("ipv4", "ipv6"):
            address = values.get(f"peering_{family}")
            if address:
                vlan[family] = {"address": str(address), "services": [dict(ROUTE_SERVER_SERVICE)]}
        connections.append({"ixp_id": ixp_id, "state": "active", "vlan_list": [vlan]})
    entry: dict[str, Any] = {
        "asnum": exchange["route_server_asn"],
        "member_type": "ixp",
        "name": f"{exchange['name']} route servers",
        "url": exchange["url"],
        "connection_list": connections,
    }
    if "support_email" in exchange:
        entry["contact_email"] = [exchange["support_email"]]
    return entry


def schema_errors(document: dict[str, Any], schema: dict[str, Any] | None = None) -> list[str]:
    """Problems of ``document`` against the IX-F schema, formats included
    (date-time needs rfc3339-validator, email and ipv4/ipv6 are built in)."""
    import jsonschema

    schema = schema or load_schema()
    validator = jsonschema.Draft4Validator(schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(top)'}: {error.message}"
        for error in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    ]


def export_text(document: dict[str, Any], previous: str | None = None) -> str:
    """The JSON text of ``document``; ``previous`` when only its timestamp
    would differ (a rerun changes nothing, for make and Ansible alike)."""
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if previous is not None and _without_timestamp(previous) == _without_timestamp(text):
        return previous
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="caribix-ixf-export",
        description="Write an island's members as an IX-F Member Export (Euro-IX JSON 1.0).",
    )
    parser.add_argument("inventory", type=Path, help="island inventory directory, e.g. inventories/guadeloupe")
    parser.add_argument("-o", "--output", type=Path, help="output file (default: standard output)")
    parser.add_argument("--timestamp", help="export timestamp, RFC 3339 (default: now, or SOURCE_DATE_EPOCH)")
    parser.add_argument("--vault-id", action="append", dest="vault_ids", help="vault identity label@file (default: ansible.cfg)")
    args = parser.parse_args(argv)

    island = load_island(args.inventory, vault_ids=args.vault_ids)
    errors = validate_island(island, load_siblings(args.inventory), vault_keys_of(island))
    if errors:
        print(format_report(errors, str(args.inventory)), file=sys.stderr)
        print("No export written: fix the data first.", file=sys.stderr)
        return 1
    document = build_export(island, args.timestamp)
    problems = schema_errors(document)
    if problems:
        print("The export does not match the IX-F schema:\n" + "\n".join(problems), file=sys.stderr)
        return 1
    text = export_text(document)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        # Only rewrite when the members changed, so make/Ansible see no change.
        previous = args.output.read_text(encoding="utf-8") if args.output.exists() else None
        if previous is None or _without_timestamp(previous) != _without_timestamp(text):
            args.output.write_text(text, encoding="utf-8")
            print(f"{args.output}: written ({len(document['member_list'])} members)")
        else:
            print(f"{args.output}: unchanged ({len(document['member_list'])} members)")
    else:
        sys.stdout.write(text)
    return 0


def _without_timestamp(text: str) -> Any:
    try:
        document = json.loads(text)
    except ValueError:
        return None
    document.pop("timestamp", None)
    return document


if __name__ == "__main__":
    sys.exit(main())
