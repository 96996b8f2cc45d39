"""Create a new island inventory from inventories/template/.

    caribix-new-site --island martinique --name "CaribIX Martinique" \\
        --shortname CaribIX-MQ --asn 64499 --country MQ --city Fort-de-France \\
        --ipv4 198.51.100.0/26 --ipv6 2001:db8:4::/64 \\
        --mgmt-ipv4 198.51.100.192/28 --mgmt-ipv6 2001:db8:f4::/64 --lab

Host addresses are derived from the LANs (route servers .1 and .2,
monitoring .3 on the peering LAN; switch, route servers, monitoring and
looking glass from the second address of the management LAN on). The new
site has no members yet: members.yml shows one commented example, so no
invented member reaches a real exchange. The site is validated before the
command returns; if it is not valid, nothing is left behind.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import jinja2
import netaddr
import yaml

from caribix.model import TEMPLATE_DIR_NAME, vault_secrets, island_directories, load_island, load_siblings, read_yaml
from caribix.validate import format_report, validate_island, vault_keys_of


class NewSiteError(Exception):
    """The arguments cannot make a site (said before anything is written)."""


def host_prefix(shortname: str) -> str:
    """CaribIX-MQ -> mq: the part after the last dash, lowercased."""
    return shortname.rsplit("-", 1)[-1].lower()


def site_values(args: argparse.Namespace, inventories: Path) -> dict[str, Any]:
    """Everything the template needs, derived from the arguments."""
    try:
        v4 = netaddr.IPNetwork(args.ipv4)
        v6 = netaddr.IPNetwork(args.ipv6)
        mgmt4 = netaddr.IPNetwork(args.mgmt_ipv4)
        mgmt6 = netaddr.IPNetwork(args.mgmt_ipv6)
    except (netaddr.AddrFormatError, ValueError) as error:
        raise NewSiteError(f"a LAN argument is not a prefix ({error}); expected e.g. --ipv4 198.51.100.0/26") from error
    if v4.version != 4 or mgmt4.version != 4 or v6.version != 6 or mgmt6.version != 6:
        raise NewSiteError("--ipv4/--mgmt-ipv4 take IPv4 prefixes, --ipv6/--mgmt-ipv6 IPv6 prefixes")
    if v4.size < 8:
        raise NewSiteError(f"--ipv4 {v4} is too small; expected at least a /29 (route servers, monitoring, members)")
    if mgmt4.size < 8:
        raise NewSiteError(f"--mgmt-ipv4 {mgmt4} is too small; expected at least a /29 (five hosts)")
    prefix = args.host_prefix or host_prefix(args.shortname)
    if not re.match(r"^[a-z][a-z0-9]*$", prefix):
        raise NewSiteError(f"host prefix '{prefix}' is not usable in host names; pass --host-prefix (lowercase letters and digits)")

    ixf_id, guessed = args.ixf_id, False
    if ixf_id is None:
        # Until the exchange is registered: a placeholder unique among islands.
        used = []
        for directory in island_directories(inventories):
            exchange = (read_yaml(directory / "group_vars" / "all" / "exchange.yml") or {}).get("exchange") or {}
            if isinstance(exchange.get("ixf_id"), int):
                used.append(exchange["ixf_id"])
        ixf_id, guessed = (max(used) + 1 if used else 1), True

    def host(network: netaddr.IPNetwork, index: int) -> str:
        return str(netaddr.IPAddress(network.first + index, network.version))

    return {
        "island": args.island,
        "name": args.name,
        "shortname": args.shortname,
        "country": args.country,
        "city": args.city,
        "url": args.url or f"https://www.caribix.example/{args.island}",
        "asn": args.asn,
        "ixf_id": ixf_id,
        "ixf_id_guessed": guessed,
        "peeringdb_ix_id": args.peeringdb_ix_id,
        "vlan_id": args.vlan_id,
        "prefix": prefix,
        "lab": args.lab,
        "ipv4": str(v4),
        "ipv6": str(v6),
        "mgmt_ipv4": str(mgmt4),
        "mgmt_ipv6": str(mgmt6),
        "rs1_ipv4": host(v4, 1),
        "rs2_ipv4": host(v4, 2),
        "mon1_ipv4": host(v4, 3),
        "rs1_ipv6": host(v6, 1),
        "rs2_ipv6": host(v6, 2),
        "mon1_ipv6": host(v6, 3),
        "example_ipv4": host(v4, 10),
        "example_ipv6": host(v6, 0x10),
        "mgmt_sw1": host(mgmt4, 2),
        "mgmt_rs1": host(mgmt4, 3),
        "mgmt_rs2": host(mgmt4, 4),
        "mgmt_mon1": host(mgmt4, 5),
        "mgmt_lg1": host(mgmt4, 6),
    }


def render_site(template: Path, target: Path, values: dict[str, Any], vault_ids: list[str] | None) -> None:
    """Render every *.j2 of the template into ``target`` and write an
    encrypted, empty vault."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    for source in sorted(template.rglob("*.j2")):
        relative = source.relative_to(template)
        destination = target / str(relative)[: -len(".j2")].replace("PREFIX", values["prefix"])
        destination.parent.mkdir(parents=True, exist_ok=True)
        text = environment.get_template(relative.as_posix()).render(**values)
        yaml.safe_load(text)  # a template bug must not produce a broken file
        destination.write_text(text, encoding="utf-8")

    from ansible.parsing.vault import VaultLib

    secrets = vault_secrets(vault_ids)
    if not secrets:
        raise NewSiteError("no vault secret: configure vault_identity_list in ansible.cfg or pass --vault-id label@file")
    label, secret = secrets[0]
    plaintext = "---\n# BGP session passwords, looked up by members[].bgp_password_vault_key.\nvault_bgp_passwords: {}\n"
    ciphertext = VaultLib(secrets).encrypt(plaintext, secret, vault_id=label)
    (target / "group_vars" / "all" / "vault.yml").write_bytes(ciphertext)


def create_site(args: argparse.Namespace) -> tuple[Path, list]:
    """Create the site; return its path and its validation errors (the
    directory is removed again when there are any)."""
    inventories = Path(args.inventories)
    template = inventories / TEMPLATE_DIR_NAME
    if not re.match(r"^[a-z0-9][a-z0-9-]*$", args.island) or args.island == TEMPLATE_DIR_NAME:
        raise NewSiteError(f"--island '{args.island}' is not a usable directory name; expected lowercase letters, digits and dashes")
    target = inventories / args.island
    if target.exists():
        raise NewSiteError(f"{target} already exists; expected a new island name")
    if not template.is_dir():
        raise NewSiteError(f"{template} does not exist; expected the island template there")
    values = site_values(args, inventories)
    try:
        render_site(template, target, values, args.vault_ids)
        island = load_island(target, vault_ids=args.vault_ids)
        errors = validate_island(island, load_siblings(target), vault_keys_of(island))
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    if errors:
        shutil.rmtree(target, ignore_errors=True)
    return target, errors


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="caribix-new-site", description="Create a new CaribIX island inventory from inventories/template/.")
    p.add_argument("--island", required=True, help="directory name under inventories/, e.g. martinique")
    p.add_argument("--name", required=True, help='full name, e.g. "CaribIX Martinique"')
    p.add_argument("--shortname", required=True, help="short name, e.g. CaribIX-MQ")
    p.add_argument("--asn", required=True, type=int, help="route-server ASN")
    p.add_argument("--country", required=True, help="ISO 3166 alpha-2 code, e.g. MQ")
    p.add_argument("--city", required=True, help="city of the exchange")
    p.add_argument("--ipv4", required=True, help="peering LAN IPv4 prefix")
    p.add_argument("--ipv6", required=True, help="peering LAN IPv6 prefix")
    p.add_argument("--mgmt-ipv4", required=True, help="management LAN IPv4 prefix")
    p.add_argument("--mgmt-ipv6", required=True, help="management LAN IPv6 prefix")
    p.add_argument("--vlan-id", type=int, default=100, help="peering VLAN id (default 100)")
    p.add_argument("--url", help="exchange web site (default https://www.caribix.example/<island>)")
    p.add_argument("--ixf-id", type=int, help="IX-F database id (default: a placeholder, highest island's + 1)")
    p.add_argument("--peeringdb-ix-id", type=int, help="PeeringDB ix id, once registered")
    p.add_argument("--host-prefix", help="host name prefix (default: shortname after its last dash, lowercased)")
    p.add_argument("--lab", action="store_true", help="lab mode: documentation/private ASNs and prefixes allowed")
    p.add_argument("--inventories", default="inventories", help="inventories directory (default: inventories)")
    p.add_argument("--vault-id", action="append", dest="vault_ids", help="vault identity label@file (default: ansible.cfg)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        target, errors = create_site(args)
    except NewSiteError as error:
        print(f"caribix-new-site: {error}", file=sys.stderr)
        return 2
    if errors:
        print(format_report(errors, str(target)), file=sys.stderr)
        print(f"{target} was not created: fix the arguments above.", file=sys.stderr)
        return 1
    print(f"{target}: created and valid. Next: add members to {target}/group_vars/all/members.yml, then\n"
          f"  ansible-playbook -i {target} playbooks/validate.yml")
    return 0


if __name__ == "__main__":
    sys.exit(main())
