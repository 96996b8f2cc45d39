"""A new site made by the documented command validates untouched, keeps
validating once members are added and the example snapshot rewritten as
its checklist says, and builds both route servers; what the command
refuses, it refuses before writing anything."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import netaddr
import pytest
import yaml

from caribix import birdcheck, ixf
from caribix.validate import validate_directory

import negative_corpus
from negative_corpus import copy_repository_data

REPOSITORY = negative_corpus.REPOSITORY
BIN = Path(sys.executable).parent
NEW_SITE = str(BIN / "caribix-new-site")
EXAMPLE_SNAPSHOT = str(BIN / "caribix-example-snapshot")
LAB_VAULT = ["--vault-id", negative_corpus.LAB_VAULT_ID]
# README.md, "Island data" (run there from the repository root, where
# ansible.cfg names the lab vault; here from a copy, so the vault is named).
MARTINIQUE = [
    "--island", "martinique", "--name", "CaribIX Martinique", "--shortname", "CaribIX-MQ",
    "--asn", "64499", "--country", "MQ", "--city", "Fort-de-France",
    "--ipv4", "198.51.100.0/26", "--ipv6", "2001:db8:4::/64",
    "--mgmt-ipv4", "198.51.100.192/28", "--mgmt-ipv6", "2001:db8:f4::/64",
]
# Production data: a public ASN, and LANs outside the documentation ranges.
PRODUCTION = [
    "--island", "martinique", "--name", "CaribIX Martinique", "--shortname", "CaribIX-MQ",
    "--asn", "3215", "--country", "MQ", "--city", "Fort-de-France",
    "--ipv4", "10.250.0.0/26", "--ipv6", "fd00:ca:4::/64",
    "--mgmt-ipv4", "10.250.0.192/28", "--mgmt-ipv6", "fd00:ca:f4::/64",
]
TWO_MEMBERS = [
    {
        "name": "Madinina Networks", "asn": 65540, "as_set": "AS-MADININA",
        "ipv4": "198.51.100.10", "ipv6": "2001:db8:4::10", "mac": "02:ca:00:04:00:10",
        "switch": "mq-sw1", "port": "swp1", "speed": 10000, "max_prefix": {"ipv4": 20, "ipv6": 10},
        "route_server": True, "noc": {"email": "noc@madinina.example"},
    },
    {
        # Also a member in Guadeloupe: its route objects there are reused.
        "name": "Karukera Telecom", "asn": 64510, "as_set": "AS64510",
        "ipv4": "198.51.100.11", "ipv6": "2001:db8:4::11", "mac": "02:ca:00:04:00:11",
        "switch": "mq-sw1", "port": "swp2", "speed": 10000, "max_prefix": {"ipv4": 50, "ipv6": 20},
        "route_server": True, "noc": {"email": "noc@karukera.example"},
    },
]


def run(workdir: Path, *argv: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), cwd=workdir, capture_output=True, text=True, check=False, input=stdin)


def new_site(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return run(workdir, NEW_SITE, *args)


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


@pytest.fixture
def repo(tmp_path):
    copy_repository_data(tmp_path)
    return tmp_path


def test_new_site_validates_untouched(repo, monkeypatch):
    result = new_site(repo, *MARTINIQUE, *LAB_VAULT, "--lab")
    assert result.returncode == 0, result.stderr
    site = repo / "inventories" / "martinique"
    assert sorted(p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()) == [
        "group_vars/all/exchange.yml",
        "group_vars/all/inter_island.yml",
        "group_vars/all/members.yml",
        "group_vars/all/vault.yml",
        "group_vars/monitoring/vault_monitoring.yml",
        "host_vars/mq-lg1.yml",
        "host_vars/mq-mon1.yml",
        "host_vars/mq-rs1.yml",
        "host_vars/mq-rs2.yml",
        "host_vars/mq-sw1.yml",
        "hosts.yml",
    ]
    assert (site / "group_vars/all/vault.yml").read_bytes().startswith(b"$ANSIBLE_VAULT;1.2;AES256;lab")
    exchange = yaml.safe_load((site / "group_vars/all/exchange.yml").read_text())["exchange"]
    assert exchange["ixf_id"] == 9004  # a placeholder after the islands' 9001-9003
    assert yaml.safe_load((site / "host_vars/mq-rs2.yml").read_text())["peering_ipv6"] == "2001:db8:4::2"
    # The monitoring vault has the example islands' variables, each encrypted with the lab id.
    monitoring = (site / "group_vars/monitoring/vault_monitoring.yml").read_text()
    guadeloupe = (repo / "inventories/guadeloupe/group_vars/monitoring/vault_monitoring.yml").read_text()
    names = sorted(line.split(":")[0] for line in monitoring.splitlines() if line.endswith(": !vault |"))
    assert names == sorted(line.split(":")[0] for line in guadeloupe.splitlines() if line.endswith(": !vault |"))
    assert monitoring.count("$ANSIBLE_VAULT;1.2;AES256;lab") == 2
    # The example snapshot: four files, every part example data.
    snapshot = repo / "snapshots" / "martinique"
    assert sorted(p.name for p in snapshot.iterdir()) == ["irr.json", "metadata.yml", "peeringdb.json", "vrps.json"]
    metadata = yaml.safe_load((snapshot / "metadata.yml").read_text())
    assert metadata["island"] == "martinique"
    assert {part: entry["source"] for part, entry in metadata["parts"].items()} == {"irr": "example", "peeringdb": "example", "rpki": "example"}
    # The checklist names the snapshot command and the lab.
    assert "caribix-example-snapshot inventories/martinique" in result.stdout
    assert "bash scripts/lab.sh up martinique" in result.stdout

    # Validated again, independently of the command's own check, and its
    # neighbours still validate with the new island beside them.
    monkeypatch.chdir(repo)
    for island in ("martinique", "guadeloupe", "saint-martin", "saint-barthelemy"):
        assert validate_directory(f"inventories/{island}", vault_ids=[negative_corpus.LAB_VAULT_ID]) == []


def test_new_site_passes_the_validation_play_and_exports(repo):
    assert new_site(repo, *MARTINIQUE, *LAB_VAULT, "--lab").returncode == 0
    inventory = repo / "inventories" / "martinique"
    graph = run(REPOSITORY, str(BIN / "ansible-inventory"), "-i", str(inventory), "--graph")
    assert graph.returncode == 0, graph.stderr
    assert "mq-rs1" in graph.stdout and "@peering_switches" in graph.stdout
    play = run(REPOSITORY, str(BIN / "ansible-playbook"), "-i", str(inventory), "playbooks/validate.yml")
    assert play.returncode == 0, play.stdout + play.stderr
    export = run(repo, sys.executable, "-m", "caribix.ixf", "inventories/martinique", *LAB_VAULT)
    assert export.returncode == 0, export.stderr
    document = json.loads(export.stdout)
    # No members yet: only the exchange's own entry, its route servers.
    assert ixf.schema_errors(document) == []
    assert [(m["member_type"], m["asnum"]) for m in document["member_list"]] == [("ixp", 64499)]


def build_route_server(repo: Path, host: str, out: Path) -> dict:
    """`python -m caribix.routeserver build` as roles/route_server runs it."""
    inventory = repo / "inventories" / "martinique"
    exchange_file = yaml.safe_load((inventory / "group_vars/all/exchange.yml").read_text())
    data = {
        "exchange": exchange_file["exchange"],
        "members": yaml.safe_load((inventory / "group_vars/all/members.yml").read_text())["members"],
        "router_id": yaml.safe_load((inventory / "host_vars" / f"{host}.yml").read_text())["router_id"],
        "lab_mode": exchange_file["caribix_lab_mode"],
        "secrets_dir": "/etc/bird/route-server-secrets",
        "policy": yaml.safe_load((repo / "group_vars/all/route_servers.yml").read_text())["route_server_policy"],
    }
    build = run(
        repo, sys.executable, "-m", "caribix.routeserver", "build", "--input", "-",
        "--snapshot-dir", "snapshots/martinique", "--output-dir", str(out), stdin=json.dumps(data),
    )
    assert build.returncode == 0, build.stdout + build.stderr
    return json.loads(build.stdout)


def test_two_members_and_the_rewritten_snapshot_validate_and_build(repo, monkeypatch):
    assert new_site(repo, *MARTINIQUE, *LAB_VAULT, "--lab").returncode == 0
    members_file = repo / "inventories/martinique/group_vars/all/members.yml"
    text = members_file.read_text().replace("members: []\n", "members:\n" + yaml.safe_dump(TWO_MEMBERS, sort_keys=False, indent=2))
    members_file.write_text(text)
    monkeypatch.chdir(repo)

    # Before the snapshot is rewritten: stopped, naming the member, its field and the command.
    errors = [str(e) for e in validate_directory("inventories/martinique", vault_ids=[negative_corpus.LAB_VAULT_ID])]
    assert errors == [
        "inventories/martinique/group_vars/all/members.yml: member 'Madinina Networks' (AS65540): field as_set: "
        "AS-MADININA is not in the route servers' IRR snapshot (snapshots/martinique/irr.json, as_sets), so their build "
        "would stop; expected the member's AS-SET in the snapshot: write the lab's example snapshot with "
        "`caribix-example-snapshot inventories/martinique`"
    ]

    # As the checklist says.
    rewrite = run(repo, EXAMPLE_SNAPSHOT, "inventories/martinique", *LAB_VAULT)
    assert rewrite.returncode == 0, rewrite.stderr
    assert validate_directory("inventories/martinique", vault_ids=[negative_corpus.LAB_VAULT_ID]) == []
    again = run(repo, EXAMPLE_SNAPSHOT, "inventories/martinique", *LAB_VAULT)
    assert again.returncode == 0 and "up to date" in again.stdout

    # What the lab's member routers announce: each member's route objects,
    # inside the space the lab's route servers let through, outside every LAN.
    irr = json.loads(Path("snapshots/martinique/irr.json").read_text())
    policy = yaml.safe_load(Path("group_vars/all/route_servers.yml").read_text())["route_server_policy"]
    lab_space = netaddr.IPSet(policy["lab_member_prefixes"])
    assert irr["route_objects"]["64510"] == ["2001:db8:1010::/44"]  # as in Guadeloupe's snapshot
    for member in TWO_MEMBERS:
        prefixes = irr["route_objects"][str(member["asn"])]
        assert prefixes and all(netaddr.IPNetwork(p) in lab_space for p in prefixes)
        assert not netaddr.IPSet(prefixes) & netaddr.IPSet(["198.51.100.0/26", "2001:db8:4::/64"])
    others = {p for island in ("guadeloupe", "saint-martin", "saint-barthelemy")
              for asn, ps in json.loads(Path(f"snapshots/{island}/irr.json").read_text())["route_objects"].items()
              if asn != "64510" for p in ps}
    assert not netaddr.IPSet(irr["route_objects"]["65540"]) & netaddr.IPSet(others)

    for host in ("mq-rs1", "mq-rs2"):
        result = build_route_server(repo, host, repo / "build" / host)
        assert result["failed"] is False and result["expected_bgp_sessions"] == 4
        # The route servers' BIRD (caribix.birdcheck), not the controller's.
        _, parse = birdcheck.parse(repo / "build" / host / "bird.conf")
        assert parse.returncode == 0, parse.stderr


def test_example_snapshot_keeps_the_example_islands_as_they_are(repo):
    before = {p: p.read_bytes() for p in (repo / "snapshots").rglob("*") if p.is_file()}
    for island in ("guadeloupe", "saint-martin", "saint-barthelemy"):
        result = run(repo, EXAMPLE_SNAPSHOT, f"inventories/{island}", *LAB_VAULT)
        assert result.returncode == 0 and "up to date" in result.stdout, result.stderr
    assert {p: p.read_bytes() for p in (repo / "snapshots").rglob("*") if p.is_file()} == before


@pytest.fixture
def production_password(tmp_path_factory):
    """A production vault password file outside the repository copy."""
    path = tmp_path_factory.mktemp("outside") / "caribix-vault-password"
    path.write_text("not-the-lab-password-7f3c\n")
    path.chmod(0o600)
    return path


def test_production_site_uses_its_own_vault_and_lists_what_is_left(repo, production_password):
    result = new_site(repo, *PRODUCTION, "--vault-id", f"caribix@{production_password}")
    assert result.returncode == 0, result.stderr
    site = repo / "inventories" / "martinique"
    assert (site / "group_vars/all/vault.yml").read_bytes().startswith(b"$ANSIBLE_VAULT;1.2;AES256;caribix")
    monitoring = (site / "group_vars/monitoring/vault_monitoring.yml").read_text()
    assert monitoring.count("$ANSIBLE_VAULT;1.2;AES256;caribix") == 2 and ";lab" not in monitoring
    # No password, and no path to it, anywhere in the site.
    for path in site.rglob("*"):
        if path.is_file():
            assert "not-the-lab-password" not in path.read_text() and str(production_password) not in path.read_text()
    # Nothing to fetch offline: no snapshot, and the checklist says how.
    assert not (repo / "snapshots" / "martinique").exists()
    assert "ansible-playbook -i inventories/martinique playbooks/refresh_snapshots.yml" in result.stdout
    assert "vault_monitoring_placeholders" in result.stdout
    # Validation stops the first deploy with exactly what is left.
    check = run(repo, str(BIN / "caribix-validate"), "inventories/martinique", "--vault-id", f"caribix@{production_password}")
    assert check.returncode == 1
    assert check.stderr.splitlines()[1:] == [
        "  1. inventories/martinique/group_vars/monitoring/vault_monitoring.yml: field vault_monitoring_placeholders: says "
        "vault_monitoring_smtp_password, vault_monitoring_webhook_url still hold placeholders, not the NOC's real secrets; "
        "expected each replaced by its real value encrypted with `ansible-vault encrypt_string --name <variable> '<secret>'`, "
        "then vault_monitoring_placeholders deleted",
        "  2. snapshots/martinique/: does not exist: the route servers are built from the island's IRR, PeeringDB and RPKI "
        "snapshot; expected the island's snapshot: fetch it with "
        "`ansible-playbook -i inventories/martinique playbooks/refresh_snapshots.yml` (online) and commit it",
    ]


def test_example_snapshot_refuses_a_production_island(repo, production_password):
    assert new_site(repo, *PRODUCTION, "--vault-id", f"caribix@{production_password}").returncode == 0
    result = run(repo, EXAMPLE_SNAPSHOT, "inventories/martinique", "--vault-id", f"caribix@{production_password}")
    assert result.returncode == 2
    assert (
        "inventories/martinique/group_vars/all/exchange.yml: caribix_lab_mode is not true; expected a lab island: a production "
        "island's snapshot is fetched with `ansible-playbook -i inventories/martinique playbooks/refresh_snapshots.yml`"
    ) in result.stderr
    assert not (repo / "snapshots" / "martinique").exists()


def test_example_snapshot_never_overwrites_fetched_data(repo):
    metadata = repo / "snapshots/guadeloupe/metadata.yml"
    metadata.write_text(metadata.read_text().replace("irr: {fetched_at: \"2026-11-26T04:00:00Z\", source: example}", "irr: {fetched_at: \"2026-11-26T04:00:00Z\", source: bgpq4}"))
    members = repo / "inventories/guadeloupe/group_vars/all/members.yml"
    members.write_text(members.read_text().replace("as_set: AS-BASSETERRE", "as_set: AS-BASSETERRE-V2"))
    before = (repo / "snapshots/guadeloupe/irr.json").read_bytes()
    result = run(repo, EXAMPLE_SNAPSHOT, "inventories/guadeloupe", *LAB_VAULT)
    assert result.returncode == 2
    assert "snapshots/guadeloupe/metadata.yml: part irr was fetched (source: bgpq4)" in result.stderr
    assert (repo / "snapshots/guadeloupe/irr.json").read_bytes() == before


def refused(repo: Path, result: subprocess.CompletedProcess, message: str) -> None:
    """Exit 2, the message, and nothing written."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr, result.stderr
    assert not (repo / "inventories" / "martinique").exists()
    assert not (repo / "snapshots" / "martinique").exists()


def test_production_without_a_vault_id_is_refused(repo):
    before = files_under(repo)
    refused(repo, new_site(repo, *PRODUCTION), "without --lab the site's secrets need a production vault id of yours")
    assert files_under(repo) == before


def test_production_with_the_lab_vault_is_refused(repo, tmp_path_factory):
    refused(repo, new_site(repo, *PRODUCTION, *LAB_VAULT), "the vault id 'lab' is the lab's, whose password is committed")
    refused(
        repo,
        new_site(repo, *PRODUCTION, "--vault-id", "caribix@inventories/lab-vault-password.txt"),
        "inventories/lab-vault-password.txt is the lab's committed password",
    )
    copy = tmp_path_factory.mktemp("outside") / "copied-password"
    copy.write_bytes((repo / "inventories/lab-vault-password.txt").read_bytes())
    refused(repo, new_site(repo, *PRODUCTION, "--vault-id", f"caribix@{copy}"), "that is the lab's password")


def test_production_password_file_inside_the_repository_is_refused(repo):
    (repo / "inventories" / "caribix-password.txt").write_text("a-real-secret\n")
    refused(
        repo,
        new_site(repo, *PRODUCTION, "--vault-id", "caribix@inventories/caribix-password.txt"),
        "inventories/caribix-password.txt is inside the repository, where a password gets committed",
    )


def test_host_prefix_of_another_island_is_refused(repo):
    before = files_under(repo)
    refused(
        repo,
        new_site(repo, *MARTINIQUE, *LAB_VAULT, "--lab", "--host-prefix", "gp"),
        "host prefix 'gp' (--host-prefix) is already used by island guadeloupe "
        "(gp-rs1, gp-rs2, gp-sw1, gp-mon1, gp-lg1 in inventories/guadeloupe/hosts.yml); hosts are reached by their names",
    )
    assert files_under(repo) == before


def test_route_server_asn_of_another_island_is_refused_unless_shared_on_purpose(repo):
    args = [a if a != "64499" else "64496" for a in MARTINIQUE]
    before = files_under(repo)
    refused(
        repo,
        new_site(repo, *args, *LAB_VAULT, "--lab"),
        "--asn 64496 is already the route-server ASN of island guadeloupe (inventories/guadeloupe/group_vars/all/exchange.yml); "
        "expected this exchange's own ASN, or --share-route-server-asn",
    )
    assert files_under(repo) == before
    shared = new_site(repo, *args, *LAB_VAULT, "--lab", "--share-route-server-asn")
    assert shared.returncode == 0, shared.stderr


def test_documentation_data_without_lab_mode_creates_nothing(repo, production_password):
    result = new_site(repo, *MARTINIQUE, "--vault-id", f"caribix@{production_password}")
    assert result.returncode == 1
    assert "AS64499 is a documentation AS number (RFC 5398), allowed only when caribix_lab_mode is true" in result.stderr
    assert not (repo / "inventories" / "martinique").exists()
    assert not (repo / "snapshots" / "martinique").exists()


def test_overlapping_lan_creates_nothing(repo):
    args = [a if a != "198.51.100.0/26" else "192.0.2.64/27" for a in MARTINIQUE]
    result = new_site(repo, *args, *LAB_VAULT, "--lab")
    assert result.returncode == 1
    assert "192.0.2.64/27 overlaps saint-martin's peering_lan.ipv4 192.0.2.64/26" in result.stderr
    assert not (repo / "inventories" / "martinique").exists()
    assert not (repo / "snapshots" / "martinique").exists()


def test_existing_island_is_refused(repo):
    args = [a if a != "martinique" else "guadeloupe" for a in MARTINIQUE]
    result = new_site(repo, *args, *LAB_VAULT, "--lab")
    assert result.returncode == 2
    assert "inventories/guadeloupe already exists" in result.stderr


def test_a_left_over_snapshot_is_refused(repo):
    (repo / "snapshots" / "martinique").mkdir()
    result = new_site(repo, *MARTINIQUE, *LAB_VAULT, "--lab")
    assert result.returncode == 2
    assert "snapshots/martinique already exists; expected no snapshot for a new island" in result.stderr
    assert not (repo / "inventories" / "martinique").exists()
