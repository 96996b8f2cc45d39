"""A new site made by the documented command validates untouched."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from caribix import ixf
from caribix.validate import validate_directory

import negative_corpus

REPOSITORY = negative_corpus.REPOSITORY
NEW_SITE = str(Path(sys.executable).with_name("caribix-new-site"))
MARTINIQUE = [
    "--island", "martinique", "--name", "CaribIX Martinique", "--shortname", "CaribIX-MQ",
    "--asn", "64499", "--country", "MQ", "--city", "Fort-de-France",
    "--ipv4", "198.51.100.0/26", "--ipv6", "2001:db8:4::/64",
    "--mgmt-ipv4", "198.51.100.192/28", "--mgmt-ipv6", "2001:db8:f4::/64",
    "--vault-id", negative_corpus.LAB_VAULT_ID,
]


def new_site(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([NEW_SITE, *args], cwd=workdir, capture_output=True, text=True, check=False)


def test_new_site_validates_untouched(tmp_path, monkeypatch):
    negative_corpus.copy_repository_data(tmp_path)
    run = new_site(tmp_path, *MARTINIQUE, "--lab")
    assert run.returncode == 0, run.stderr
    site = tmp_path / "inventories" / "martinique"
    assert sorted(p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()) == [
        "group_vars/all/exchange.yml",
        "group_vars/all/inter_island.yml",
        "group_vars/all/members.yml",
        "group_vars/all/vault.yml",
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

    # Validated again, independently of the command's own check, and its
    # neighbours still validate with the new island beside them.
    monkeypatch.chdir(tmp_path)
    for island in ("martinique", "guadeloupe", "saint-martin", "saint-barthelemy"):
        assert validate_directory(f"inventories/{island}", vault_ids=[negative_corpus.LAB_VAULT_ID]) == []


def test_new_site_passes_the_validation_play_and_exports(tmp_path):
    negative_corpus.copy_repository_data(tmp_path)
    assert new_site(tmp_path, *MARTINIQUE, "--lab").returncode == 0
    inventory = tmp_path / "inventories" / "martinique"
    graph = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-inventory")), "-i", str(inventory), "--graph"],
        cwd=REPOSITORY, capture_output=True, text=True, check=True,
    )
    assert "mq-rs1" in graph.stdout and "@peering_switches" in graph.stdout
    play = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(inventory), "playbooks/validate.yml"],
        cwd=REPOSITORY, capture_output=True, text=True, check=False,
    )
    assert play.returncode == 0, play.stdout + play.stderr
    export = subprocess.run(
        [sys.executable, "-m", "caribix.ixf", "inventories/martinique", "--vault-id", negative_corpus.LAB_VAULT_ID],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    )
    document = json.loads(export.stdout)
    assert ixf.schema_errors(document) == [] and document["member_list"] == []


def test_documentation_data_without_lab_mode_creates_nothing(tmp_path):
    negative_corpus.copy_repository_data(tmp_path)
    run = new_site(tmp_path, *MARTINIQUE)
    assert run.returncode == 1
    assert "AS64499 is a documentation AS number (RFC 5398), allowed only when caribix_lab_mode is true" in run.stderr
    assert not (tmp_path / "inventories" / "martinique").exists()


def test_overlapping_lan_creates_nothing(tmp_path):
    negative_corpus.copy_repository_data(tmp_path)
    args = [a if a != "198.51.100.0/26" else "192.0.2.64/27" for a in MARTINIQUE]
    run = new_site(tmp_path, *args, "--lab")
    assert run.returncode == 1
    assert "192.0.2.64/27 overlaps saint-martin's peering_lan.ipv4 192.0.2.64/26" in run.stderr
    assert not (tmp_path / "inventories" / "martinique").exists()


def test_existing_island_is_refused(tmp_path):
    negative_corpus.copy_repository_data(tmp_path)
    args = [a if a != "martinique" else "guadeloupe" for a in MARTINIQUE]
    run = new_site(tmp_path, *args, "--lab")
    assert run.returncode == 2
    assert "inventories/guadeloupe already exists" in run.stderr
