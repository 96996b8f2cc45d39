"""Certificates of the looking glass's backend channel, for one island.

The front end (hosts of group ``looking_glass``) and the backends (group
``route_servers``) talk mutual TLS on the management LAN: each side shows
a certificate signed by the island's own looking-glass CA, and accepts
only certificates signed by it. This command makes that CA and one
certificate per host from the island's inventory, and writes them where
the looking_glass role reads them:

* ``group_vars/all/looking_glass_tls.yml`` (public, in the clear):
  ``looking_glass_backend_tls_ca_certificate`` and
  ``looking_glass_backend_tls_certificates`` (host -> PEM);
* ``group_vars/all/vault.yml`` (Ansible Vault, re-encrypted with the
  vault id given): ``vault_looking_glass_backend_tls_keys`` (host ->
  PEM private key) and ``vault_looking_glass_backend_tls_ca_key`` (only
  this command reads it, to sign later certificates); every other
  variable of the vault (the BGP passwords) is kept as written.

    caribix-lg-certs inventories/guadeloupe --vault-id lab@inventories/lab-vault-password.txt
    caribix-lg-certs inventories/guadeloupe --check        # exit 1 if anything is missing or stale

A run changes only what is missing or stale (a new host, a changed
management address, a certificate expiring within --renew-before days);
``--renew`` re-issues every host certificate, ``--new-ca`` also replaces
the CA (what to do when a private key has leaked: the old CA then
signs nothing the hosts accept). Host certificates name the host
(DNS) and its management addresses (IP): the front end checks the route
server's address against them. Route servers get serverAuth, looking-glass
hosts clientAuth (a route server's key cannot pose as a front end).
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from caribix.model import DataFileError, display_path, load_island, read_yaml, vault_secrets

PUBLIC_FILE = Path("group_vars/all/looking_glass_tls.yml")
VAULT_FILE = Path("group_vars/all/vault.yml")
CA_VAR = "looking_glass_backend_tls_ca_certificate"
CERTS_VAR = "looking_glass_backend_tls_certificates"
KEYS_VAR = "vault_looking_glass_backend_tls_keys"
CA_KEY_VAR = "vault_looking_glass_backend_tls_ca_key"
VAULT_HEADER = "# Looking-glass backend TLS keys: written by caribix-lg-certs (python/caribix/lg_certs.py)."
# 30 years: the example islands and the test scenarios must keep working
# for decades without anyone renewing them. A production site may choose
# shorter (--days) and renew with this command.
DEFAULT_DAYS = 10957
RENEW_BEFORE_DAYS = 30
GROUPS = {"route_servers": ExtendedKeyUsageOID.SERVER_AUTH, "looking_glass": ExtendedKeyUsageOID.CLIENT_AUTH}


class CertError(Exception):
    """The inventory or the vault cannot give what the certificates need."""


@dataclass
class Host:
    name: str
    addresses: list[ipaddress.IPv4Address | ipaddress.IPv6Address]
    usages: list[x509.ObjectIdentifier]


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def make_ca(island: str, days: int, key=None) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A CA that signs only end-entity certificates (pathlen 0)."""
    key = key or new_key()
    name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "CaribIX"),
        x509.NameAttribute(NameOID.COMMON_NAME, f"CaribIX {island} looking-glass CA"),
    ])
    start = now() - datetime.timedelta(minutes=5)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def make_host_cert(host: Host, ca: x509.Certificate, ca_key, days: int, key=None) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """The host's certificate: its name and addresses, its usages, never
    valid longer than the CA."""
    key = key or new_key()
    start = now() - datetime.timedelta(minutes=5)
    end = min(start + datetime.timedelta(days=days), ca.not_valid_after_utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host.name)]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(host.usages), critical=False)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(host.name)] + [x509.IPAddress(a) for a in host.addresses]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def hosts_of(inventory: Path, overrides: dict[str, list[str] | None], vault_ids) -> list[Host]:
    """The hosts of groups route_servers and looking_glass with their
    management addresses (hosts.yml and host_vars/, or the names given on
    the command line where the inventory has no hosts.yml, e.g. a Molecule
    scenario's)."""
    island = load_island(inventory, vault_ids=vault_ids)
    hosts: dict[str, Host] = {}
    for group, usage in GROUPS.items():
        names = overrides.get(group) or island.groups.get(group) or []
        if not names:
            raise CertError(f"{display_path(inventory)}: no host in group {group} (hosts.yml, or --{group.replace('_', '-')})")
        for name in names:
            host_vars = dict(island.hosts.get(name) or {})
            if name not in island.hosts:
                path = inventory / "host_vars" / f"{name}.yml"
                if path.is_file():
                    host_vars.update(read_yaml(path, vault_ids) or {})
            addresses = []
            for field in ("management_ipv4", "management_ipv6"):
                if host_vars.get(field) is None:
                    continue
                try:
                    addresses.append(ipaddress.ip_address(str(host_vars[field])))
                except ValueError as error:
                    raise CertError(f"host_vars/{name}.yml: {field}: {error}") from None
            if not addresses:
                raise CertError(
                    f"{display_path(inventory / 'host_vars' / (name + '.yml'))}: management_ipv4 is missing;"
                    " the looking glass's backend channel names the host by it"
                )
            host = hosts.setdefault(name, Host(name, addresses, []))
            host.usages.append(usage)
    return list(hosts.values())


def _load_cert(pem) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(str(pem).encode())
    except (ValueError, TypeError):
        return None


def _load_key(pem):
    try:
        return serialization.load_pem_private_key(str(pem).encode(), password=None)
    except (ValueError, TypeError):
        return None


def _public_of(key_or_cert) -> bytes:
    return key_or_cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def host_cert_problem(host: Host, cert, key, ca: x509.Certificate, renew_before: int) -> str | None:
    """Why the host's certificate must be (re)issued, or None."""
    if cert is None or key is None:
        return "missing"
    if _public_of(key) != _public_of(cert):
        return "key does not match the certificate"
    try:
        cert.verify_directly_issued_by(ca)
    except Exception:  # noqa: BLE001 - any failure (issuer, signature) means re-issue
        return "not signed by the island's CA"
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        usages = list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return "lacks subjectAltName or extendedKeyUsage"
    if set(san.get_values_for_type(x509.IPAddress)) != set(host.addresses) or san.get_values_for_type(x509.DNSName) != [host.name]:
        return "names other addresses than the inventory's"
    if set(usages) != set(host.usages):
        return "has other usages than the host's groups need"
    if cert.not_valid_after_utc - now() < datetime.timedelta(days=renew_before):
        return f"expires {cert.not_valid_after_utc:%Y-%m-%d}"
    return None


def split_vault_text(text: str) -> str:
    """The vault's plaintext without this command's own block (its header
    comment and its two top-level keys), everything else kept verbatim."""
    kept: list[str] = []
    skipping = False
    for line in text.splitlines():
        if line == VAULT_HEADER:
            continue
        if line.startswith((f"{KEYS_VAR}:", f"{CA_KEY_VAR}:")):
            skipping = True
            continue
        if skipping and (line.startswith((" ", "\t")) or not line.strip()):
            continue
        skipping = False
        kept.append(line)
    while kept and not kept[-1].strip():
        kept.pop()
    return "\n".join(kept) + "\n" if kept else "---\n"


def _block(text: str, indent: int) -> str:
    pad = " " * indent
    return "".join(f"{pad}{line}\n" for line in text.strip().splitlines())


def vault_text(rest: str, ca_key: str, keys: dict[str, str]) -> str:
    out = rest if rest.startswith("---") else "---\n" + rest
    out += f"\n{VAULT_HEADER}\n{CA_KEY_VAR}: |\n{_block(ca_key, 2)}{KEYS_VAR}:\n"
    for name in sorted(keys):
        out += f"  {name}: |\n{_block(keys[name], 4)}"
    return out


def public_text(island: str, ca: x509.Certificate, certs: dict[str, x509.Certificate]) -> str:
    out = (
        "---\n"
        f"# The looking glass's backend channel (mutual TLS, docs/looking-glass.md):\n"
        f"# the {island} looking-glass CA and each host's certificate. Written by\n"
        "# caribix-lg-certs (python/caribix/lg_certs.py), which keeps the private\n"
        f"# keys in vault.yml ({KEYS_VAR}).\n"
        "# Renew with that command; do not edit by hand.\n"
        f"# CA valid until {ca.not_valid_after_utc:%Y-%m-%d}.\n"
        f"{CA_VAR}: |\n{_block(cert_pem(ca), 2)}"
        f"{CERTS_VAR}:\n"
    )
    for name in sorted(certs):
        cert = certs[name]
        out += f"  # {name}: valid until {cert.not_valid_after_utc:%Y-%m-%d}\n  {name}: |\n{_block(cert_pem(cert), 4)}"
    return out


def run(args: argparse.Namespace) -> tuple[list[str], bool]:
    """Bring the island's certificates up to date; return what changed
    (or would change with --check) and whether files were written."""
    inventory = Path(args.inventory)
    island_name = inventory.resolve().name if inventory.name not in ("inventory", "") else inventory.resolve().parent.name
    secrets = vault_secrets(args.vault_ids)
    if not secrets:
        raise CertError("no vault secret: pass --vault-id label@file (or set vault_identity_list in ansible.cfg)")
    hosts = hosts_of(inventory, {"route_servers": args.route_servers, "looking_glass": args.looking_glass}, args.vault_ids)

    public_path, vault_path = inventory / PUBLIC_FILE, inventory / VAULT_FILE
    try:
        public = (read_yaml(public_path) or {}) if public_path.is_file() else {}
        vault_plain = ""
        if vault_path.is_file():
            from ansible.parsing.vault import VaultLib

            raw = vault_path.read_bytes()
            vault_plain = (VaultLib(secrets).decrypt(raw) if raw.startswith(b"$ANSIBLE_VAULT") else raw).decode()
        vault = yaml.safe_load(vault_plain) or {}
    except DataFileError as error:
        raise CertError(str(error)) from None
    except Exception as error:  # noqa: BLE001 - an unreadable vault is one message
        raise CertError(f"{display_path(vault_path)}: cannot be decrypted with the vault ids given ({error})") from None

    changes: list[str] = []
    ca, ca_key = _load_cert(public.get(CA_VAR)), _load_key(vault.get(CA_KEY_VAR))
    if (
        args.new_ca or ca is None or ca_key is None or _public_of(ca_key) != _public_of(ca)
        or ca.not_valid_after_utc - now() < datetime.timedelta(days=args.renew_before)
    ):
        reason = "requested (--new-ca)" if args.new_ca else "missing, unmatched or expiring"
        ca, ca_key = make_ca(island_name, args.days)
        changes.append(f"CA: new ({reason})")

    old_certs = public.get(CERTS_VAR) or {}
    old_keys = vault.get(KEYS_VAR) or {}
    certs: dict[str, x509.Certificate] = {}
    keys: dict[str, str] = {}
    for host in hosts:
        cert, key = _load_cert(old_certs.get(host.name)), _load_key(old_keys.get(host.name))
        problem = "requested (--renew)" if args.renew else host_cert_problem(host, cert, key, ca, args.renew_before)
        if problem:
            cert, key = make_host_cert(host, ca, ca_key, args.days)
            changes.append(f"{host.name}: new certificate ({problem})")
        certs[host.name], keys[host.name] = cert, key_pem(key)
    for gone in sorted(set(old_certs) - set(certs)):
        changes.append(f"{gone}: certificate removed (no longer in route_servers or looking_glass)")

    if not changes or args.check:
        return changes, False
    from ansible.parsing.vault import VaultLib

    label, secret = secrets[0]
    public_path.parent.mkdir(parents=True, exist_ok=True)
    public_path.write_text(public_text(island_name, ca, certs), encoding="utf-8")
    plaintext = vault_text(split_vault_text(vault_plain), key_pem(ca_key), keys)
    before = {k: v for k, v in vault.items() if k not in (KEYS_VAR, CA_KEY_VAR)}
    after = {k: v for k, v in yaml.safe_load(plaintext).items() if k not in (KEYS_VAR, CA_KEY_VAR)}
    if before != after:  # never lose a BGP password to a text edit
        raise CertError(f"{display_path(vault_path)}: rewriting it would change other variables; not written")
    vault_path.write_bytes(VaultLib(secrets).encrypt(plaintext, secret, vault_id=label))
    return changes, True


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="caribix-lg-certs",
        description="Make the looking-glass backend channel's CA and host certificates for one island.",
    )
    p.add_argument("inventory", help="the island's inventory directory, e.g. inventories/guadeloupe")
    p.add_argument("--vault-id", action="append", dest="vault_ids",
                   help="vault identity label@file; the first one encrypts (default: ansible.cfg)")
    p.add_argument("--days", type=int, default=DEFAULT_DAYS,
                   help=f"validity of new certificates in days (default {DEFAULT_DAYS}, 30 years)")
    p.add_argument("--renew-before", type=int, default=RENEW_BEFORE_DAYS,
                   help=f"re-issue what expires within this many days (default {RENEW_BEFORE_DAYS})")
    p.add_argument("--renew", action="store_true", help="re-issue every host certificate and key")
    p.add_argument("--new-ca", action="store_true", help="replace the CA too (and so every certificate)")
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if anything is missing or stale")
    p.add_argument("--route-servers", type=lambda s: s.split(","),
                   help="comma-separated hosts, where the inventory has no hosts.yml (a Molecule scenario)")
    p.add_argument("--looking-glass", type=lambda s: s.split(","),
                   help="comma-separated hosts, where the inventory has no hosts.yml (a Molecule scenario)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.days < 1:
        print("caribix-lg-certs: --days must be at least 1", file=sys.stderr)
        return 2
    try:
        changes, written = run(args)
    except CertError as error:
        print(f"caribix-lg-certs: {error}", file=sys.stderr)
        return 2
    where = display_path(args.inventory)
    for change in changes:
        print(f"{where}: {change}")
    if args.check:
        if changes:
            print(f"{where}: certificates are not up to date: run caribix-lg-certs {where}", file=sys.stderr)
        return 1 if changes else 0
    print(f"{where}: {'written' if written else 'up to date, nothing written'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
