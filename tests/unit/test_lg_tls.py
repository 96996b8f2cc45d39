"""The looking glass's backend channel: mutual TLS between the front end
and the backends, and caribix-lg-certs, which makes its certificates.

The front end is tested against a real TLS server on 127.0.0.1 that,
like nginx on the route servers, requires a client certificate signed
by the island CA; the certificates are made here with caribix.lg_certs.
"""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import json
import shutil
import ssl
import threading
from pathlib import Path

import pytest
import yaml
from ansible.parsing.vault import VaultLib

from caribix import lg_certs
from caribix.model import vault_secrets
from caribix_lg import frontend, serve

REPO = Path(__file__).resolve().parents[2]
LAB_VAULT_ID = f"lab@{REPO / 'inventories' / 'lab-vault-password.txt'}"
LOCALHOST = [ipaddress.ip_address("127.0.0.1")]
SERVER = lg_certs.ExtendedKeyUsageOID.SERVER_AUTH
CLIENT = lg_certs.ExtendedKeyUsageOID.CLIENT_AUTH


def write_pair(directory: Path, name: str, cert, key) -> tuple[str, str]:
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_text(lg_certs.cert_pem(cert))
    key_path.write_text(lg_certs.key_pem(key))
    return str(cert_path), str(key_path)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """The island CA, a route server (127.0.0.1), a front end, and a
    front end of another island (its own CA)."""
    directory = tmp_path_factory.mktemp("pki")
    ca, ca_key = lg_certs.make_ca("test", 30)
    other_ca, other_ca_key = lg_certs.make_ca("other", 30)
    files = {"ca": str(directory / "ca.crt"), "other_ca": str(directory / "other-ca.crt")}
    Path(files["ca"]).write_text(lg_certs.cert_pem(ca))
    Path(files["other_ca"]).write_text(lg_certs.cert_pem(other_ca))
    for name, usage, issuer in (
        ("rs1", SERVER, (ca, ca_key)),
        ("lg1", CLIENT, (ca, ca_key)),
        ("foreign-lg1", CLIENT, (other_ca, other_ca_key)),
    ):
        cert, key = lg_certs.make_host_cert(lg_certs.Host(name, LOCALHOST, [usage]), *issuer, 30)
        files[name] = write_pair(directory, name, cert, key)
    return files


class Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        peer = self.connection.getpeercert()
        common_name = dict(item[0] for item in peer["subject"])["commonName"]
        body = json.dumps({"path": self.path, "client": common_name}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def backend_url(pki):
    """A TLS server like nginx on a route server: the island CA's client
    certificates only (verification failures end the handshake)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*pki["rs1"])
    context.load_verify_locations(pki["ca"])
    context.verify_mode = ssl.CERT_REQUIRED
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def front_end(url, **tls):
    config = {"route_servers": [{"name": "rs1", "url": url}], "backend_timeout": 5, **tls}
    return frontend.Frontend(config)


def test_front_end_talks_mutual_tls_to_the_backend(pki, backend_url):
    lg = front_end(backend_url, ca_file=pki["ca"], client_cert=pki["lg1"][0], client_key=pki["lg1"][1])
    assert lg.get("rs1", "/status") == {"path": "/status", "client": "lg1"}


def test_backend_refuses_a_front_end_without_certificate(pki, backend_url):
    lg = front_end(backend_url, ca_file=pki["ca"])
    with pytest.raises(frontend.BackendUnavailable):
        lg.get("rs1", "/status")


def test_backend_refuses_a_certificate_of_another_ca(pki, backend_url):
    lg = front_end(backend_url, ca_file=pki["ca"], client_cert=pki["foreign-lg1"][0], client_key=pki["foreign-lg1"][1])
    with pytest.raises(frontend.BackendUnavailable):
        lg.get("rs1", "/status")


def test_backend_refuses_a_route_servers_certificate_as_client(pki, backend_url):
    """serverAuth only: a route server's key cannot pose as a front end."""
    lg = front_end(backend_url, ca_file=pki["ca"], client_cert=pki["rs1"][0], client_key=pki["rs1"][1])
    with pytest.raises(frontend.BackendUnavailable):
        lg.get("rs1", "/status")


def test_front_end_refuses_a_backend_of_another_ca(pki, backend_url):
    lg = front_end(backend_url, ca_file=pki["other_ca"], client_cert=pki["lg1"][0], client_key=pki["lg1"][1])
    with pytest.raises(frontend.BackendUnavailable, match="certificate verify failed"):
        lg.get("rs1", "/status")


def test_front_end_checks_the_backends_address(pki, backend_url):
    """The certificate names 127.0.0.1 (and rs1), not localhost."""
    url = backend_url.replace("127.0.0.1", "localhost")
    lg = front_end(url, ca_file=pki["ca"], client_cert=pki["lg1"][0], client_key=pki["lg1"][1])
    with pytest.raises(frontend.BackendUnavailable, match="certificate verify failed"):
        lg.get("rs1", "/status")


def test_front_end_config_check_reads_the_tls_files(pki, tmp_path, capsys):
    config = {"route_servers": [{"name": "rs1", "url": "https://127.0.0.1:29184"}], "ca_file": pki["ca"]}
    path = tmp_path / "frontend.json"
    path.write_text(json.dumps({**config, "client_cert": pki["lg1"][0], "client_key": pki["lg1"][1]}))
    assert serve.main(["frontend", "--check", "--config", str(path)]) == 0
    path.write_text(json.dumps({**config, "client_cert": str(tmp_path / "absent.crt"), "client_key": pki["lg1"][1]}))
    assert serve.main(["frontend", "--check", "--config", str(path)]) == 2
    path.write_text(json.dumps({**config, "client_key": pki["lg1"][1]}))
    assert serve.main(["frontend", "--check", "--config", str(path)]) == 2
    assert "client_key needs client_cert" in capsys.readouterr().err


# -- caribix-lg-certs ------------------------------------------------------


@pytest.fixture()
def island(tmp_path):
    """A small island: hosts.yml, host_vars, a vault holding a BGP password."""
    inventory = tmp_path / "inventories" / "testisland"
    (inventory / "host_vars").mkdir(parents=True)
    (inventory / "group_vars" / "all").mkdir(parents=True)
    (inventory / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": {
        "route_servers": {"hosts": {"t-rs1": None, "t-rs2": None}},
        "looking_glass": {"hosts": {"t-lg1": None}},
        "monitoring": {"hosts": {"t-mon1": None}},
    }}}))
    for host, address in (("t-rs1", "192.0.2.195"), ("t-rs2", "192.0.2.196"), ("t-lg1", "192.0.2.198"), ("t-mon1", "192.0.2.197")):
        (inventory / "host_vars" / f"{host}.yml").write_text(f"---\nmanagement_ipv4: {address}\n")
    password = tmp_path / "vault-password.txt"
    password.write_text("test-password\n")
    vault_id = f"test@{password}"
    secrets = vault_secrets([vault_id])
    plaintext = "---\n# BGP session passwords.\nvault_bgp_passwords:\n  t-as64500: \"s3cret\"\n"
    (inventory / "group_vars" / "all" / "vault.yml").write_bytes(VaultLib(secrets).encrypt(plaintext, secrets[0][1], vault_id="test"))
    return inventory, vault_id


def read_island(inventory: Path, vault_id: str) -> tuple[dict, dict, str]:
    public = yaml.safe_load((inventory / lg_certs.PUBLIC_FILE).read_text())
    text = VaultLib(vault_secrets([vault_id])).decrypt((inventory / lg_certs.VAULT_FILE).read_bytes()).decode()
    return public, yaml.safe_load(text), text


def certificate(pem: str):
    return lg_certs.x509.load_pem_x509_certificate(pem.encode())


def test_certs_command_makes_the_ca_and_host_certificates(island, capsys):
    inventory, vault_id = island
    assert lg_certs.main([str(inventory), "--vault-id", vault_id]) == 0
    public, vault, text = read_island(inventory, vault_id)
    # The BGP password and its comment are kept as written.
    assert vault["vault_bgp_passwords"] == {"t-as64500": "s3cret"}
    assert "# BGP session passwords." in text
    assert sorted(public[lg_certs.CERTS_VAR]) == sorted(vault[lg_certs.KEYS_VAR]) == ["t-lg1", "t-rs1", "t-rs2"]
    ca = certificate(public[lg_certs.CA_VAR])
    rs1 = certificate(public[lg_certs.CERTS_VAR]["t-rs1"])
    rs1.verify_directly_issued_by(ca)
    san = rs1.extensions.get_extension_for_class(lg_certs.x509.SubjectAlternativeName).value
    assert san.get_values_for_type(lg_certs.x509.IPAddress) == [ipaddress.ip_address("192.0.2.195")]
    usage = lambda cert: list(cert.extensions.get_extension_for_class(lg_certs.x509.ExtendedKeyUsage).value)  # noqa: E731
    assert usage(rs1) == [SERVER]
    assert usage(certificate(public[lg_certs.CERTS_VAR]["t-lg1"])) == [CLIENT]
    # 30 years by default.
    assert rs1.not_valid_after_utc - rs1.not_valid_before_utc > datetime.timedelta(days=30 * 365)
    # Each key belongs to its certificate.
    key = lg_certs._load_key(vault[lg_certs.KEYS_VAR]["t-lg1"])
    assert lg_certs._public_of(key) == lg_certs._public_of(certificate(public[lg_certs.CERTS_VAR]["t-lg1"]))


def test_certs_command_changes_only_what_is_stale(island, capsys):
    inventory, vault_id = island
    assert lg_certs.main([str(inventory), "--vault-id", vault_id]) == 0
    vault_bytes = (inventory / lg_certs.VAULT_FILE).read_bytes()
    before, _, _ = read_island(inventory, vault_id)
    capsys.readouterr()
    # Nothing to do: nothing written (no new ciphertext in git).
    assert lg_certs.main([str(inventory), "--vault-id", vault_id, "--check"]) == 0
    assert lg_certs.main([str(inventory), "--vault-id", vault_id]) == 0
    assert (inventory / lg_certs.VAULT_FILE).read_bytes() == vault_bytes
    # A route server moves: --check says so, a run re-issues that one only.
    (inventory / "host_vars" / "t-rs2.yml").write_text("---\nmanagement_ipv4: 192.0.2.199\n")
    assert lg_certs.main([str(inventory), "--vault-id", vault_id, "--check"]) == 1
    assert "t-rs2: new certificate (names other addresses" in capsys.readouterr().out
    assert lg_certs.main([str(inventory), "--vault-id", vault_id]) == 0
    after, _, _ = read_island(inventory, vault_id)
    assert after[lg_certs.CA_VAR] == before[lg_certs.CA_VAR]
    for host in ("t-rs1", "t-lg1"):
        assert after[lg_certs.CERTS_VAR][host] == before[lg_certs.CERTS_VAR][host]
    assert after[lg_certs.CERTS_VAR]["t-rs2"] != before[lg_certs.CERTS_VAR]["t-rs2"]
    # --new-ca replaces everything.
    assert lg_certs.main([str(inventory), "--vault-id", vault_id, "--new-ca"]) == 0
    renewed, vault, _ = read_island(inventory, vault_id)
    assert renewed[lg_certs.CA_VAR] != before[lg_certs.CA_VAR]
    assert all(renewed[lg_certs.CERTS_VAR][h] != after[lg_certs.CERTS_VAR][h] for h in after[lg_certs.CERTS_VAR])
    assert vault["vault_bgp_passwords"] == {"t-as64500": "s3cret"}


def test_certs_command_names_a_host_without_address(island, capsys):
    inventory, vault_id = island
    (inventory / "host_vars" / "t-lg1.yml").write_text("---\n{}\n")
    assert lg_certs.main([str(inventory), "--vault-id", vault_id]) == 2
    err = capsys.readouterr().err
    assert "t-lg1.yml: management_ipv4 is missing" in err
    assert not (inventory / lg_certs.PUBLIC_FILE).exists()


def test_certs_command_refuses_a_wrong_vault_password(island, tmp_path, capsys):
    inventory, _ = island
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not-it\n")
    assert lg_certs.main([str(inventory), "--vault-id", f"test@{wrong}"]) == 2
    assert "cannot be decrypted" in capsys.readouterr().err


@pytest.mark.parametrize(
    "inventory, hosts",
    [
        ("inventories/guadeloupe", []),
        ("inventories/saint-martin", []),
        ("inventories/saint-barthelemy", []),
        ("molecule/looking_glass/inventories/guadeloupe", []),
    ],
)
def test_example_islands_have_current_certificates_for_decades(inventory, hosts, tmp_path):
    """The committed certificates match the inventory and outlive the suite
    by decades (made for 30 years); a copy is checked, the repository is
    never written."""
    copy = tmp_path / inventory
    shutil.copytree(REPO / inventory, copy)
    assert lg_certs.main([str(copy), "--vault-id", LAB_VAULT_ID, "--check", *hosts]) == 0
    public = yaml.safe_load((copy / lg_certs.PUBLIC_FILE).read_text())
    for pem in [public[lg_certs.CA_VAR], *public[lg_certs.CERTS_VAR].values()]:
        assert certificate(pem).not_valid_after_utc > datetime.datetime(2050, 1, 1, tzinfo=datetime.timezone.utc)
