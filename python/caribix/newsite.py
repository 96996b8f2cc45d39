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

Besides the inventory it writes what the first deploy needs: the BGP
vault, the monitoring host's Alertmanager secrets
(group_vars/monitoring/vault_monitoring.yml) and, in the lab, the example
route-server snapshot snapshots/<island>/ (caribix.example_snapshot). A
production site (no --lab) is encrypted under the vault id the person
gives (--vault-id label@password-file or label@prompt; the committed lab
vault is refused); its monitoring secrets are placeholders and its
snapshot must be fetched online: validation stops a deploy until both are
done, and the command prints that checklist.

Refused before anything is written: a host prefix another island's hosts
use (hosts are reached by name) and, unless --share-route-server-asn says
it is meant, another island's route-server ASN (sharing one is a
legitimate IXP design, but here far likelier a copied exchange.yml).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import secrets as token
import shutil
import sys
from pathlib import Path
from typing import Any

import netaddr
import yaml

from caribix import example_snapshot
from caribix.model import (
    TEMPLATE_DIR_NAME,
    DataFileError,
    display_path,
    island_directories,
    load_island,
    load_siblings,
    read_yaml,
    vault_secrets,
)
from caribix.routeserver import refresh_command
from caribix.textrender import text_environment
from caribix.validate import (
    MONITORING_PLACEHOLDERS,
    MONITORING_SECRETS,
    MONITORING_VAULT_FILE,
    ValidationError,
    format_report,
    snapshot_dir_of,
    validate_island,
    vault_keys_of,
)

# The example islands' vault id; its password file is committed.
LAB_VAULT_LABEL = "lab"
LAB_VAULT_PASSWORD_FILE = "lab-vault-password.txt"
# A production site's monitoring secrets until the person replaces them
# (.invalid never resolves: a forgotten placeholder cannot reach anyone).
PLACEHOLDER_SECRETS = {
    "vault_monitoring_smtp_password": "CHANGE-ME",
    "vault_monitoring_webhook_url": "https://chat.invalid/hooks/CHANGE-ME",
}


class NewSiteError(Exception):
    """The arguments cannot make a site (said before anything is written)."""


def host_prefix(shortname: str) -> str:
    """CaribIX-MQ -> mq: the part after the last dash, lowercased."""
    return shortname.rsplit("-", 1)[-1].lower()


def host_mac(host: str) -> str:
    """A stable, locally administered unicast MAC for a host's peering
    interface: what the lab gives its containers, and a placeholder a
    production site replaces with the NIC's own (the checklist says so)."""
    digest = hashlib.sha256(host.encode()).digest()
    return "02:ca:ff:" + ":".join(f"{b:02x}" for b in digest[:3])


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
        "rs1_mac": host_mac(f"{prefix}-rs1"),
        "rs2_mac": host_mac(f"{prefix}-rs2"),
        "mon1_mac": host_mac(f"{prefix}-mon1"),
        "example_ipv4": host(v4, 10),
        "example_ipv6": host(v6, 0x10),
        "mgmt_sw1": host(mgmt4, 2),
        "mgmt_rs1": host(mgmt4, 3),
        "mgmt_rs2": host(mgmt4, 4),
        "mgmt_mon1": host(mgmt4, 5),
        "mgmt_lg1": host(mgmt4, 6),
    }


def hosts_of(hosts_file: Path) -> list[str]:
    """Every host name in a YAML inventory file, once (a host may be in several groups)."""
    names: list[str] = []

    def walk(group: Any) -> None:
        if not isinstance(group, dict):
            return
        for host in (group.get("hosts") or {}):
            if str(host) not in names:
                names.append(str(host))
        for child in (group.get("children") or {}).values():
            walk(child)

    try:
        for group in (read_yaml(hosts_file) or {}).values():
            walk(group)
    except (DataFileError, AttributeError):
        pass  # that island's own validation says what is wrong with it
    return names


def check_other_islands(args: argparse.Namespace, inventories: Path, prefix: str) -> None:
    """Refuse a host prefix or a route-server ASN another island has."""
    origin = "--host-prefix" if args.host_prefix else f"from --shortname {args.shortname}"
    for directory in island_directories(inventories):
        hosts_file = directory / "hosts.yml"
        clashing = [host for host in hosts_of(hosts_file) if host.startswith(f"{prefix}-")]
        if clashing:
            raise NewSiteError(
                f"host prefix '{prefix}' ({origin}) is already used by island {directory.name} "
                f"({', '.join(clashing)} in {display_path(hosts_file)}); hosts are reached by their names, "
                "so expected a prefix no other island uses: pass --host-prefix with another one"
            )
        exchange_file = directory / "group_vars" / "all" / "exchange.yml"
        try:
            exchange = (read_yaml(exchange_file) or {}).get("exchange") or {}
        except (DataFileError, AttributeError):
            continue
        if exchange.get("route_server_asn") == args.asn and not args.share_route_server_asn:
            raise NewSiteError(
                f"--asn {args.asn} is already the route-server ASN of island {directory.name} ({display_path(exchange_file)}); "
                "expected this exchange's own ASN, or --share-route-server-asn if the two islands' route servers share it on purpose"
            )


class VaultIdentity:
    """The vault id a new site's secrets are encrypted with."""

    def __init__(self, label: str, secret: Any, identity: str | None, shown: str, prompted: bool = False):
        self.label = label
        self.secret = secret
        # label@file to read the site back with; None: ansible.cfg's.
        self.identity = identity
        # How the checklist tells the person to pass it again.
        self.shown = shown
        # Asked for on the terminal: not asked twice to read the site back.
        self.prompted = prompted


def vault_identity(args: argparse.Namespace, inventories: Path) -> VaultIdentity:
    """The lab vault in lab mode (ansible.cfg unless --vault-id says
    otherwise); without --lab a production vault id the person gives,
    never the committed lab one and never a password file in the repository."""
    lab_file = inventories / LAB_VAULT_PASSWORD_FILE
    if args.lab:
        identities = args.vault_ids
        found = vault_secrets(identities)
        if not found:
            raise NewSiteError("no vault secret: configure vault_identity_list in ansible.cfg or pass --vault-id label@file")
        label, secret = found[0]
        return VaultIdentity(label, secret, identities[0] if identities else None, identities[0] if identities else label)
    how = (
        "pass --vault-id <label>@<password file outside the repository> (or <label>@prompt, "
        "or a password client script), e.g. --vault-id caribix@~/.caribix-vault-password"
    )
    if not args.vault_ids:
        raise NewSiteError(
            "without --lab the site's secrets need a production vault id of yours: " + how
            + f"; the lab vault id '{LAB_VAULT_LABEL}' (ansible.cfg) has its password committed and is refused"
        )
    identity = args.vault_ids[0]
    label, _, source = identity.rpartition("@")
    if not label or not source:
        raise NewSiteError(f"--vault-id {identity}: expected <label>@<password file> or <label>@prompt")
    if label == LAB_VAULT_LABEL:
        raise NewSiteError(f"--vault-id {identity}: the vault id '{LAB_VAULT_LABEL}' is the lab's, whose password is committed; without --lab {how}")
    if source == "prompt":
        from ansible.parsing.vault import PromptVaultSecret

        secret = PromptVaultSecret(vault_id=label, prompt_formats=["New vault password (%(vault_id)s): ", "Confirm new vault password (%(vault_id)s): "])
        try:
            secret.load()
        except Exception as error:  # EOF, mismatch: said plainly
            raise NewSiteError(f"--vault-id {identity}: {error}") from error
        readable, prompted = None, True
    else:
        path = Path(os.path.expanduser(source)).resolve()
        repository = inventories.resolve().parent
        if path == lab_file.resolve():
            raise NewSiteError(f"--vault-id {identity}: {display_path(lab_file)} is the lab's committed password; without --lab {how}")
        if path.is_relative_to(repository) and path.is_file() and not os.access(path, os.X_OK):
            raise NewSiteError(
                f"--vault-id {identity}: {display_path(path)} is inside the repository, where a password gets committed; {how}"
            )
        try:
            label, secret = vault_secrets([identity])[0]
        except Exception as error:  # a missing file or a failing script
            raise NewSiteError(f"--vault-id {identity}: {str(error).rstrip('.')}; {how}") from error
        readable, prompted = identity, False
    if lab_file.is_file() and secret.bytes == lab_file.read_bytes().strip():
        raise NewSiteError(f"--vault-id {identity}: that is the lab's password, committed in {display_path(lab_file)}; {how}")
    return VaultIdentity(label, secret, readable, identity, prompted)


def inline_vault(vault: Any, identity: VaultIdentity, name: str, value: str) -> str:
    """``name: !vault |`` with the value encrypted, as ansible-vault encrypt_string writes it."""
    ciphertext = vault.encrypt(value, identity.secret, vault_id=identity.label).decode()
    return f"{name}: !vault |\n" + "".join(f"          {line}\n" for line in ciphertext.splitlines())


def monitoring_vault_text(values: dict[str, Any], vault: Any, identity: VaultIdentity) -> str:
    island = values["island"]
    if values["lab"]:
        secrets = {
            "vault_monitoring_smtp_password": f"lab-smtp-password-{island}",
            "vault_monitoring_webhook_url": f"https://chat.caribix.example/hooks/noc-{island}?token=lab-{token.token_hex(6)}",
        }
        header = (
            f"# Alertmanager secrets of {island} (lab values, encrypted with vault id\n"
            f"# {identity.label}; read by group_vars/all/monitoring.yml). Only the monitoring host gets them.\n"
        )
        footer = ""
    else:
        secrets = PLACEHOLDER_SECRETS
        header = (
            f"# Alertmanager secrets of {island} (encrypted with vault id {identity.label}; read by\n"
            "# group_vars/all/monitoring.yml). Only the monitoring host gets them.\n"
            "# PLACEHOLDERS until replaced: validation stops every deploy while\n"
            f"# {MONITORING_PLACEHOLDERS} is here. Replace each value with\n"
            f"#   ansible-vault encrypt_string --vault-id {identity.label}@<password file> --name <variable> '<secret>'\n"
            f"# then delete {MONITORING_PLACEHOLDERS}.\n"
        )
        footer = f"{MONITORING_PLACEHOLDERS}: [{', '.join(secrets)}]\n"
    assert set(secrets) == set(MONITORING_SECRETS)
    return "---\n" + header + "".join(inline_vault(vault, identity, name, value) for name, value in secrets.items()) + footer


def render_site(template: Path, target: Path, values: dict[str, Any], identity: VaultIdentity) -> None:
    """Render every *.j2 of the template into ``target`` and write the
    encrypted BGP vault (empty) and monitoring vault."""
    environment = text_environment(template)
    for source in sorted(template.rglob("*.j2")):
        relative = source.relative_to(template)
        destination = target / str(relative)[: -len(".j2")].replace("PREFIX", values["prefix"])
        destination.parent.mkdir(parents=True, exist_ok=True)
        text = environment.get_template(relative.as_posix()).render(**values)
        yaml.safe_load(text)  # a template bug must not produce a broken file
        destination.write_text(text, encoding="utf-8")

    from ansible.parsing.vault import VaultLib

    vault = VaultLib([(identity.label, identity.secret)])
    ciphertext = vault.encrypt(VAULT_PLAINTEXT, identity.secret, vault_id=identity.label)
    (target / "group_vars" / "all" / "vault.yml").write_bytes(ciphertext)
    monitoring = target / MONITORING_VAULT_FILE
    monitoring.parent.mkdir(parents=True, exist_ok=True)
    monitoring.write_text(monitoring_vault_text(values, vault, identity), encoding="utf-8")


VAULT_PLAINTEXT = "---\n# BGP session passwords, looked up by members[].bgp_password_vault_key.\nvault_bgp_passwords: {}\n"


def load_new_site(target: Path, identity: VaultIdentity):
    """The new site as validation reads it."""
    if not identity.prompted:
        # ansible.cfg's vault ids when no --vault-id was given (lab mode).
        return load_island(target, vault_ids=[identity.identity] if identity.identity else None)
    # A prompted password cannot be asked again: the vault was just written
    # from known plaintext, so that is what validation sees.
    island = load_island(target, vault_ids=[])
    vault_file = display_path(target / "group_vars" / "all" / "vault.yml")
    island.load_errors = [error for error in island.load_errors if error.path != vault_file]
    island.variables["vault_bgp_passwords"] = {}
    return island


class NewSite:
    """What was created, for the checklist."""

    def __init__(self, target: Path, values: dict[str, Any], identity: VaultIdentity | None):
        self.target = target
        self.values = values
        self.identity = identity
        # Wrong data (the site was removed again) and outstanding steps.
        self.errors: list[ValidationError] = []
        self.pending: list[ValidationError] = []


def create_site(args: argparse.Namespace) -> NewSite:
    """Create the site. Its validation errors, if any, are in ``errors``
    and nothing is left behind; ``pending`` lists what a first deploy
    still needs (a production site's snapshot and monitoring secrets)."""
    inventories = Path(args.inventories)
    template = inventories / TEMPLATE_DIR_NAME
    if not re.match(r"^[a-z0-9][a-z0-9-]*$", args.island) or args.island == TEMPLATE_DIR_NAME:
        raise NewSiteError(f"--island '{args.island}' is not a usable directory name; expected lowercase letters, digits and dashes")
    target = inventories / args.island
    if target.exists():
        raise NewSiteError(f"{target} already exists; expected a new island name")
    if not template.is_dir():
        raise NewSiteError(f"{template} does not exist; expected the island template there")
    snapshot = snapshot_dir_of(target)
    if snapshot.exists():
        raise NewSiteError(f"{display_path(snapshot)} already exists; expected no snapshot for a new island (delete it if it is left over)")
    values = site_values(args, inventories)
    check_other_islands(args, inventories, values["prefix"])
    identity = vault_identity(args, inventories)
    site = NewSite(target, values, identity)
    try:
        render_site(template, target, values, identity)
        island = load_new_site(target, identity)
        if args.lab:
            example_snapshot.update(island)
        errors = validate_island(island, load_siblings(target), vault_keys_of(island))
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        shutil.rmtree(snapshot, ignore_errors=True)
        raise
    site.errors = [error for error in errors if not error.pending]
    site.pending = [error for error in errors if error.pending]
    if site.errors:
        shutil.rmtree(target, ignore_errors=True)
        shutil.rmtree(snapshot, ignore_errors=True)
    return site


def checklist(site: NewSite) -> str:
    """What a person must still do, in order."""
    target, values = display_path(site.target), site.values
    island, identity = values["island"], site.identity
    vault_option = "" if identity.label == LAB_VAULT_LABEL and values["lab"] else f" --vault-id {identity.shown}"
    steps = []
    if values["ixf_id_guessed"]:
        steps.append(f"exchange.ixf_id {values['ixf_id']} in {target}/group_vars/all/exchange.yml is a placeholder: set the IX-F database id once the exchange is registered.")
    steps.append(
        f"Check the hosts' addresses in {target}/host_vars/ and the switch's ports ({values['prefix']}-sw1: swp1-swp12 at 10G; "
        f"swp9-swp11 hold the route servers and monitoring) against the hardware."
    )
    if not values["lab"]:
        steps.append(
            f"peering_mac of {values['prefix']}-rs1, -rs2 and -mon1 in {target}/host_vars/ is a placeholder: "
            "set the MAC of each host's peering interface (the switch admits only that MAC on its port)."
        )
    steps.append(f"Add members to {target}/group_vars/all/members.yml (none yet; the route servers need at least one with route_server: true).")
    steps.append(f"BGP session passwords: ansible-vault edit{vault_option} {target}/group_vars/all/vault.yml")
    if values["lab"]:
        steps.append(
            f"After adding or changing members, rewrite the lab's example route-server snapshot: "
            f"caribix-example-snapshot {target}  (writes {display_path(snapshot_dir_of(site.target))}/; commit it)"
        )
    else:
        steps.append(
            f"Monitoring secrets: replace the placeholders in {target}/{MONITORING_VAULT_FILE} "
            f"(ansible-vault encrypt_string{vault_option} --name <variable> '<secret>'), then delete {MONITORING_PLACEHOLDERS}."
        )
        steps.append(
            f"After adding members, with the island online: {refresh_command(island)} "
            f"- then review and commit {display_path(snapshot_dir_of(site.target))}/ (the route servers are built from it)."
        )
        steps.append(
            f"Give Ansible the vault id: export ANSIBLE_VAULT_IDENTITY_LIST={identity.shown} "
            f"(or ansible-playbook{vault_option} ...); ansible.cfg names none (docs/production.md, Secrets)."
        )
    steps.append(
        f"Looking glass backend certificates (CA, one per route server and looking-glass host): "
        f"caribix-lg-certs {target}{vault_option}  (docs/looking-glass.md)"
    )
    steps.append(f"Validate: caribix-validate {target}{vault_option}  (every playbook also runs playbooks/validate.yml first)")
    if values["lab"]:
        steps.append(f"Deploy into the lab: bash scripts/lab.sh up {island}")
    lines = [f"{target}: created{' and valid' if not site.pending else ''} "
             f"({'lab mode' if values['lab'] else 'production'}, vault id {identity.label}). Still to do:"]
    lines += [f"{number:>3}. {step}" for number, step in enumerate(steps, start=1)]
    if site.pending:
        lines.append("Until then validation stops every deploy with:")
        lines += [f"     - {error}" for error in site.pending]
    return "\n".join(lines)


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
    p.add_argument("--lab", action="store_true", help="lab mode: documentation/private ASNs and prefixes allowed, lab vault, example snapshot")
    p.add_argument("--share-route-server-asn", action="store_true", help="allow an --asn another island's route servers already use")
    p.add_argument("--inventories", default="inventories", help="inventories directory (default: inventories)")
    p.add_argument(
        "--vault-id",
        action="append",
        dest="vault_ids",
        help="vault identity label@password-file or label@prompt; required without --lab (the lab vault is refused), "
        "with --lab default ansible.cfg",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        site = create_site(args)
    except (NewSiteError, example_snapshot.ExampleSnapshotError) as error:
        print(f"caribix-new-site: {error}", file=sys.stderr)
        return 2
    if site.errors:
        print(format_report(site.errors, str(site.target)), file=sys.stderr)
        print(f"{site.target} was not created: fix the arguments above.", file=sys.stderr)
        return 1
    print(checklist(site))
    return 0


if __name__ == "__main__":
    sys.exit(main())
