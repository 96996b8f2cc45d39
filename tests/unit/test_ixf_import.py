"""caribix-ixf-import: an IX-F member list (as IXP Manager or our export
write it) becomes an island's members.yml; the round trip export ->
import gives the same members; bad documents are refused with every
reason and nothing is written."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from caribix.model import load_island
from caribix.validate import validate_directory

REPOSITORY = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
VAULT_ID = "lab@inventories/lab-vault-password.txt"
ENV = {**os.environ, "ANSIBLE_VAULT_IDENTITY_LIST": VAULT_ID}


@pytest.fixture()
def repo(tmp_path) -> Path:
    for name in ("inventories", "group_vars", "snapshots"):
        shutil.copytree(REPOSITORY / name, tmp_path / name)
    return tmp_path


def run(repo: Path, *command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=repo, capture_output=True, text=True, check=False, env=ENV, timeout=300)


def export(repo: Path, island: str) -> dict:
    done = run(repo, str(BIN / "caribix-ixf-export"), f"inventories/{island}", "-o", f"{island}.json")
    assert done.returncode == 0, done.stderr
    return json.loads((repo / f"{island}.json").read_text())


def members(repo: Path, island: str) -> list[dict]:
    return load_island(repo / "inventories" / island, vault_ids=[f"lab@{repo}/inventories/lab-vault-password.txt"]).variables["members"]


@pytest.mark.parametrize("island", ["guadeloupe", "saint-martin", "saint-barthelemy"])
def test_round_trip_export_then_import_gives_the_same_members(repo, island, monkeypatch):
    before = members(repo, island)
    export(repo, island)
    done = run(repo, str(BIN / "caribix-ixf-import"), f"{island}.json", f"inventories/{island}")
    assert done.returncode == 0, done.stderr
    assert members(repo, island) == before
    monkeypatch.chdir(repo)
    assert [str(e) for e in validate_directory(f"inventories/{island}", vault_ids=[VAULT_ID])] == []
    # A second import changes nothing.
    again = run(repo, str(BIN / "caribix-ixf-import"), f"{island}.json", f"inventories/{island}")
    assert again.returncode == 0 and ": unchanged" in again.stdout


def test_import_into_an_empty_island_places_new_members_on_free_ports(repo):
    """What IX-F carries comes back as it was; ports are assigned (IX-F has
    none), vault keys are not (the passwords stay to be set)."""
    before = members(repo, "guadeloupe")
    export(repo, "guadeloupe")
    target = repo / "inventories/guadeloupe/group_vars/all/members.yml"
    target.write_text("---\nmembers: []\n")
    refused = run(repo, str(BIN / "caribix-ixf-import"), "guadeloupe.json", "inventories/guadeloupe")
    assert refused.returncode == 1
    assert "a new member, and IX-F names no switch port; expected --assign-free-ports" in refused.stderr
    assert target.read_text() == "---\nmembers: []\n"
    done = run(repo, str(BIN / "caribix-ixf-import"), "guadeloupe.json", "inventories/guadeloupe", "--assign-free-ports")
    assert done.returncode == 0, done.stderr
    assert "(--assign-free-ports): check it is the port it is cabled to" in done.stderr
    after = members(repo, "guadeloupe")

    def carried(member: dict) -> dict:
        return {k: v for k, v in member.items() if k not in ("port", "bgp_password_vault_key")}

    assert sorted(map(json.dumps, map(carried, after))) == sorted(map(json.dumps, map(carried, before)))
    assert len({m["port"] for m in after}) == len(after)


def test_ixp_manager_style_document_with_its_own_route_server_entry(repo):
    """IXP Manager lists its route servers as member_type ixp, or marks
    them with ixrouteserver services; neither becomes a member. A member
    changed there (max-prefix) changes here; one gone there is removed."""
    document = export(repo, "guadeloupe")
    members_list = document["member_list"]
    karukera = next(m for m in members_list if m["asnum"] == 64500)
    karukera["connection_list"][0]["vlan_list"][0]["ipv4"]["max_prefix"] = 75
    document["member_list"] = [m for m in members_list if m["asnum"] != 65536]
    # IXP Manager's own switch names and ids.
    document["ixp_list"][0]["switch"] = [{"id": 7, "name": "swi1-bm1", "city": "Baie-Mahault", "country": "GP"}]
    for entry in document["member_list"]:
        for connection in entry["connection_list"]:
            for interface in connection.get("if_list", []):
                interface["switch_id"] = 7
    # IXP Manager's route collector: a peering-type entry with a service.
    document["member_list"].append(
        {
            "asnum": 64497, "member_type": "peering", "name": "Route collector",
            "connection_list": [{"ixp_id": 9001, "vlan_list": [{"vlan_id": 100, "ipv4": {"address": "192.0.2.5", "services": [{"type": "ixroutecollector"}]}}]}],
        }
    )
    (repo / "ixpm.json").write_text(json.dumps(document))
    unmapped = run(repo, str(BIN / "caribix-ixf-import"), "ixpm.json", "inventories/guadeloupe")
    assert unmapped.returncode == 1
    assert "switch 'swi1-bm1' (IX-F switch id 7) is not a peering switch of this island; expected --switch swi1-bm1=<one of gp-sw1>" in unmapped.stderr
    done = run(repo, str(BIN / "caribix-ixf-import"), "ixpm.json", "inventories/guadeloupe", "--switch", "swi1-bm1=gp-sw1")
    assert done.returncode == 0, done.stderr
    assert "AS65536 Marie-Galante Wireless: not in the IX-F document, removed from members.yml" in done.stderr
    after = {m["asn"]: m for m in members(repo, "guadeloupe")}
    assert sorted(after) == [64500, 64501, 64502, 64503]
    assert after[64500]["max_prefix"] == {"ipv4": 75, "ipv6": 20}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(version="0.7"), "field version: '0.7' is not supported; expected '1.0'"),
        (lambda d: d["member_list"][1].update(asnum="64500"), "member_list/1/asnum: '64500' is not of type 'integer'"),
        (lambda d: d.update(ixp_list=[{**d["ixp_list"][0], "ixp_id": 1}]), "ixp_list has no ixp_id 9001 (this island's exchange.ixf_id), only 1"),
        (
            lambda d: d["member_list"][1]["connection_list"][0]["vlan_list"][0]["ipv4"].update(address="198.51.100.7"),
            "field ipv4: 198.51.100.7 is outside the peering LAN 192.0.2.0/26",
        ),
        (
            lambda d: d["member_list"][2]["connection_list"][0]["vlan_list"][0]["ipv6"].pop("max_prefix"),
            "vlan_list.ipv6.max_prefix missing; expected what members.yml requires",
        ),
    ],
    ids=["old-version", "schema", "other-ixp", "invalid-result", "missing-field"],
)
def test_bad_documents_are_refused_and_nothing_is_written(repo, change, message):
    document = export(repo, "guadeloupe")
    change(document)
    (repo / "bad.json").write_text(json.dumps(document))
    target = repo / "inventories/guadeloupe/group_vars/all/members.yml"
    before = target.read_bytes()
    done = run(repo, str(BIN / "caribix-ixf-import"), "bad.json", "inventories/guadeloupe")
    assert done.returncode == 1
    assert message in done.stderr
    assert "Nothing was written." in done.stderr
    assert target.read_bytes() == before
    assert sorted(p.name for p in target.parent.iterdir() if p.name.startswith(".members.")) == []


def test_not_json_is_refused(repo):
    (repo / "bad.json").write_text("<html>Not found</html>")
    done = run(repo, str(BIN / "caribix-ixf-import"), "bad.json", "inventories/guadeloupe")
    assert done.returncode == 1 and "bad.json: is not JSON" in done.stderr
