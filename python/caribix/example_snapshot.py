"""Write a lab island's example snapshot (snapshots/<island>/) from its members.

    caribix-example-snapshot inventories/martinique

The route servers are built offline from ``snapshots/<island>/`` (IRR,
PeeringDB, RPKI; caribix.routeserver). A lab island's members are
fictitious - documentation ASNs and prefixes - so no registry knows them
and its snapshot is hand-written example data: every part is marked
``source: example`` (a lab island reports its age without judging it; a
production island refuses it). Run this after adding or changing a lab
island's members; validation stops a deploy whose route-server members'
AS-SETs are missing from the snapshot and names this command.

For each member with ``route_server: true`` the snapshot does not know yet:

* ``irr.json``: its AS-SET (holding its ASN) and its route objects: those
  its ASN has in another island's snapshot (a network at two exchanges
  announces the same space), else a free IPv6 /44 of the lab's member
  space (``route_server_policy.lab_member_prefixes``, the only bogons the
  lab's route servers let through). The lab's member routers announce
  exactly these route objects (roles/lab_member_router), so a member added
  later is covered once this has run. New members get IPv6 space only: the
  documentation IPv4 space holds two /24s, and a route server accepts
  nothing longer than /24;
* ``peeringdb.json``: a record with the member's max-prefix and AS-SET;
* ``vrps.json``: a ROA per new route object, so its routes are RPKI-valid.

What is there already is kept, so the example islands' hand-written
scenarios survive a rewrite and a second run changes nothing. Refused on a
production island (``caribix_lab_mode: false``) and over a snapshot with a
fetched part: their snapshot comes from
``ansible-playbook -i inventories/<island> playbooks/refresh_snapshots.yml``.

Why a command and not generation during validation: validation runs
before every deploy, also in check mode, and changes nothing; the snapshot
is committed data, reviewed like a fetched one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import netaddr
import yaml

from caribix.model import Island, display_path, load_island, load_siblings
from caribix.routeserver import EXAMPLE_SOURCE, SNAPSHOT_FILES, SNAPSHOT_PARTS, refresh_command
from caribix.routeserver import is_aut_num
from caribix.validate import format_report, snapshot_dir_of, validate_island, vault_keys_of

# One /44 per new member: what the example islands give each member.
MEMBER_IPV6_LENGTH = 44
# The longest prefixes the route servers accept (group_vars/all/route_servers.yml).
MAX_LENGTH = {4: 24, 6: 48}


class ExampleSnapshotError(Exception):
    """The snapshot cannot be written (said before anything is written)."""


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def current_snapshot(directory: Path) -> dict[str, Any]:
    """The snapshot already there (empty parts when there is none)."""
    snapshot: dict[str, Any] = {"irr": {"as_sets": {}, "route_objects": {}}, "peeringdb": {"networks": {}}, "rpki": {"metadata": {}, "roas": [], "aspas": []}}
    if not directory.is_dir():
        return snapshot
    metadata_path = directory / "metadata.yml"
    if metadata_path.is_file():
        metadata = yaml.safe_load(metadata_path.read_text(encoding="utf-8")) or {}
        for part, entry in ((metadata.get("parts") or {}) if isinstance(metadata, dict) else {}).items():
            source = (entry or {}).get("source")
            if source != EXAMPLE_SOURCE:
                raise ExampleSnapshotError(
                    f"{display_path(metadata_path)}: part {part} was fetched (source: {source}); "
                    "expected example data only: fetched data is never overwritten with invented data"
                )
    for part, name in SNAPSHOT_FILES.items():
        path = directory / name
        if not path.is_file():
            continue
        data = read_json(path)
        if not isinstance(data, dict):
            raise ExampleSnapshotError(f"{display_path(path)}: is not a JSON object; expected a snapshot part (fix or delete it, then run again)")
        snapshot[part] = data
    snapshot["irr"].setdefault("as_sets", {})
    snapshot["irr"].setdefault("route_objects", {})
    snapshot["peeringdb"].setdefault("networks", {})
    snapshot["rpki"].setdefault("roas", [])
    snapshot["rpki"].setdefault("aspas", [])
    return snapshot


def neighbour_snapshots(directory: Path) -> dict[str, dict[str, Any]]:
    """The other islands' irr.json, by island (unreadable ones skipped)."""
    found = {}
    root = directory.parent
    for other in sorted(root.iterdir()) if root.is_dir() else []:
        if other.name == directory.name or not other.is_dir():
            continue
        irr = read_json(other / SNAPSHOT_FILES["irr"])
        if isinstance(irr, dict) and isinstance(irr.get("route_objects"), dict):
            found[other.name] = irr
    return found


def announced_elsewhere(repository: Path) -> list[netaddr.IPNetwork]:
    """The lab's deliberately invalid announcements (lab/announcements/):
    a new member's space stays clear of them."""
    prefixes = []
    for path in sorted((repository / "lab" / "announcements").glob("*.yml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError:
            continue
        for entries in data.values() if isinstance(data, dict) else []:
            for entry in entries or []:
                try:
                    prefixes.append(netaddr.IPNetwork(entry["prefix"]))
                except (KeyError, TypeError, netaddr.AddrFormatError, ValueError):
                    continue
    return prefixes


def island_lans(island: Island) -> netaddr.IPSet:
    """This island's and every other island's LANs: no member space inside them."""
    exchanges = [island.variables.get("exchange")] + [s.exchange for s in load_siblings(island.inventory).values()]
    lans = netaddr.IPSet()
    for exchange in exchanges:
        for lan in ("peering_lan", "management_lan"):
            for family in ("ipv4", "ipv6"):
                try:
                    lans.add(netaddr.IPNetwork(exchange[lan][family]))
                except (KeyError, TypeError, netaddr.AddrFormatError, ValueError):
                    continue
    return lans


def build(island: Island, now: dt.datetime | None = None) -> tuple[dict[str, Any], list[str]]:
    """The island's example snapshot and what was added (empty: nothing to do)."""
    directory = snapshot_dir_of(island.inventory)
    snapshot = current_snapshot(directory)
    irr, networks, roas = snapshot["irr"], snapshot["peeringdb"]["networks"], snapshot["rpki"]["roas"]
    policy = island.variables.get("route_server_policy") or {}
    member_space = netaddr.IPSet(policy.get("lab_member_prefixes") or [])
    lans = island_lans(island)
    neighbours = neighbour_snapshots(directory)
    taken = netaddr.IPSet(lans)
    for source in [irr, *neighbours.values()]:
        for prefixes in source["route_objects"].values():
            for prefix in prefixes:
                taken.add(netaddr.IPNetwork(prefix))
    for prefix in announced_elsewhere(directory.parent.parent):
        taken.add(prefix)

    def usable(prefix: str) -> bool:
        network = netaddr.IPNetwork(prefix)
        return network.prefixlen <= MAX_LENGTH[network.version] and network in member_space and not (lans & netaddr.IPSet([network]))

    def free_ipv6() -> str:
        for network in member_space.iter_cidrs():
            if network.version != 6 or network.prefixlen > MAX_LENGTH[6]:
                continue
            for candidate in network.subnet(max(network.prefixlen, MEMBER_IPV6_LENGTH)):
                if not taken & netaddr.IPSet([candidate]):
                    taken.add(candidate)
                    return str(candidate)
        raise ExampleSnapshotError(
            f"{island.file_of('route_server_policy')}: route_server_policy.lab_member_prefixes has no free IPv6 /{MEMBER_IPV6_LENGTH} left; "
            "expected more lab member space (an IPv6 documentation prefix the route servers let through)"
        )

    added: list[str] = []
    known_sets = {name.upper() for name in irr["as_sets"]}
    for member in island.variables.get("members") or []:
        if not isinstance(member, dict) or member.get("route_server") is not True:
            continue
        asn, as_set = member["asn"], member["as_set"]
        if as_set.upper() not in known_sets:
            # An aut-num is its own set, as the IRR refresh records it.
            irr["as_sets"][as_set] = [int(as_set[2:])] if is_aut_num(as_set) else [asn]
            known_sets.add(as_set.upper())
            added.append(f"irr.json: as_sets.{as_set}")
        if str(asn) not in irr["route_objects"]:
            reused = next(
                ([p for p in other["route_objects"].get(str(asn), []) if usable(p)] for other in neighbours.values()
                 if any(usable(p) for p in other["route_objects"].get(str(asn), []))),
                None,
            )
            prefixes = reused or [free_ipv6()]
            irr["route_objects"][str(asn)] = prefixes
            added.append(f"irr.json: route_objects.{asn} {', '.join(prefixes)}" + (" (as on another island)" if reused else ""))
            for prefix in prefixes:
                network = netaddr.IPNetwork(prefix)
                roas.append({"asn": asn, "prefix": str(network.cidr), "maxLength": MAX_LENGTH[network.version], "ta": EXAMPLE_SOURCE})
                added.append(f"vrps.json: ROA {network.cidr} AS{asn}")
        if str(asn) not in networks:
            limits = member.get("max_prefix") or {}
            networks[str(asn)] = {
                "info_prefixes4": limits.get("ipv4"),
                "info_prefixes6": limits.get("ipv6"),
                "irr_as_set": as_set,
                "info_never_via_route_servers": False,
            }
            added.append(f"peeringdb.json: networks.{asn}")
    for name in (*SNAPSHOT_FILES.values(), "metadata.yml"):
        if not (directory / name).is_file():
            added.append(name)
    stamp = (now or dt.datetime.now(dt.timezone.utc)).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    snapshot["rpki"]["metadata"] = {**snapshot["rpki"].get("metadata", {}), "buildmachine": EXAMPLE_SOURCE, "roas": len(roas)}
    if added:
        snapshot["rpki"]["metadata"]["buildtime"] = stamp
    snapshot["stamp"] = stamp
    return snapshot, added


def metadata_text(island: str, stamp: str) -> str:
    parts = "\n".join(f'  {part}: {{fetched_at: "{stamp}", source: {EXAMPLE_SOURCE}}}' for part in SNAPSHOT_PARTS)
    return (
        "---\n"
        f"# Example snapshot of the {island} lab's members (documentation ranges,\n"
        "# written by caribix-example-snapshot: IRR, PeeringDB and RPKI do not know\n"
        "# them). Run it again after changing members. `source: example`: a lab\n"
        "# island reports these parts' age without judging it; a production island\n"
        f"# refuses them and fetches its own: {refresh_command(island)}\n"
        f"island: {island}\n"
        f"parts:\n{parts}\n"
    )


def write(island: Island, snapshot: dict[str, Any]) -> Path:
    directory = snapshot_dir_of(island.inventory)
    directory.mkdir(parents=True, exist_ok=True)
    for part, name in SNAPSHOT_FILES.items():
        (directory / name).write_text(json.dumps(snapshot[part], indent=2) + "\n", encoding="utf-8")
    (directory / "metadata.yml").write_text(metadata_text(island.name, snapshot["stamp"]), encoding="utf-8")
    return directory


def update(island: Island, now: dt.datetime | None = None) -> tuple[Path, list[str]]:
    """Write the example snapshot if anything is missing; return its directory and what was added."""
    if island.variables.get("caribix_lab_mode") is not True:
        raise ExampleSnapshotError(
            f"{island.file_of('caribix_lab_mode')}: caribix_lab_mode is not true; expected a lab island: "
            f"a production island's snapshot is fetched with `{refresh_command(island.name)}`"
        )
    snapshot, added = build(island, now)
    directory = snapshot_dir_of(island.inventory)
    if added:
        write(island, snapshot)
    return directory, added


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="caribix-example-snapshot",
        description="(Re)write a lab island's example route-server snapshot (snapshots/<island>/) from its members.",
    )
    parser.add_argument("inventory", type=Path, help="the lab island's inventory, e.g. inventories/martinique")
    parser.add_argument("--vault-id", action="append", dest="vault_ids", help="vault identity label@file (default: ansible.cfg)")
    args = parser.parse_args(argv)
    if not args.inventory.is_dir():
        print(f"caribix-example-snapshot: {args.inventory}: is not a directory; expected an island inventory like inventories/martinique", file=sys.stderr)
        return 2
    island = load_island(args.inventory, vault_ids=args.vault_ids)
    # Written from valid members only; what the snapshot itself lacks is
    # what this command is for.
    errors = validate_island(island, load_siblings(args.inventory), vault_keys_of(island))
    wrong = [error for error in errors if not error.pending]
    if wrong:
        print(format_report(wrong, str(args.inventory)), file=sys.stderr)
        print("caribix-example-snapshot: nothing was written: fix the data above first.", file=sys.stderr)
        return 1
    try:
        directory, added = update(island)
    except ExampleSnapshotError as error:
        print(f"caribix-example-snapshot: {error}", file=sys.stderr)
        return 2
    if not added:
        print(f"{display_path(directory)}: up to date with {island.file_of('members')}")
        return 0
    print(f"{display_path(directory)}: written (review and commit it):")
    for line in added:
        print(f"  + {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
