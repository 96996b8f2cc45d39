"""IX-F Member Export: schema-valid (formats included) and read back by
arouteserver's clients-from-euroix into the same members."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from caribix import ixf
from caribix.model import island_directories, load_island

REPOSITORY = Path(__file__).resolve().parents[2]
ISLANDS = [path.name for path in island_directories(REPOSITORY / "inventories")]
AROUTESERVER = Path(sys.executable).with_name("arouteserver")


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> dict[str, Path]:
    """The three exports, written by the documented command."""
    out = tmp_path_factory.mktemp("ixf")
    files = {}
    for island in ISLANDS:
        files[island] = out / f"{island}.json"
        run = subprocess.run(
            [str(Path(sys.executable).with_name("caribix-ixf-export")), f"inventories/{island}", "-o", str(files[island])],
            cwd=REPOSITORY, capture_output=True, text=True, check=False,
        )
        assert run.returncode == 0, run.stderr
    return files


def members_of(island: str) -> list[dict]:
    data = load_island(REPOSITORY / "inventories" / island, vault_ids=[f"lab@{REPOSITORY}/inventories/lab-vault-password.txt"])
    return data.variables["members"]


def test_kept_schema_is_the_published_one():
    text = ixf.SCHEMA_PATH.read_text(encoding="utf-8")
    assert len(text) == 21043  # euro-ix/json-schemas@2c1c90a, byte for byte
    schema = ixf.load_schema()
    assert schema["$schema"] == "http://json-schema.org/draft-04/schema"
    jsonschema.Draft4Validator.check_schema(schema)


@pytest.mark.parametrize("island", ISLANDS)
def test_export_validates_against_the_schema(exports, island):
    document = json.loads(exports[island].read_text())
    assert ixf.schema_errors(document) == []
    assert document["version"] == "1.0"
    # The members, and the exchange's own entry for its route servers.
    assert len(document["member_list"]) == len(members_of(island)) + 1


@pytest.mark.parametrize("island", ISLANDS)
def test_route_servers_are_listed_as_the_exchange_s_ixrouteserver_service(exports, island):
    document = json.loads(exports[island].read_text())
    data = load_island(REPOSITORY / "inventories" / island, vault_ids=[f"lab@{REPOSITORY}/inventories/lab-vault-password.txt"])
    entries = [m for m in document["member_list"] if m["member_type"] == "ixp"]
    assert len(entries) == 1
    entry = entries[0]
    assert entry["asnum"] == data.variables["exchange"]["route_server_asn"]
    addresses = set()
    for connection in entry["connection_list"]:
        for vlan in connection["vlan_list"]:
            for family in ("ipv4", "ipv6"):
                assert vlan[family]["services"][0]["type"] == "ixrouteserver"
                addresses.add(vlan[family]["address"])
    wanted = {data.hosts[host][f"peering_{family}"] for host in data.groups["route_servers"] for family in ("ipv4", "ipv6")}
    assert addresses == wanted


def test_date_time_format_is_really_checked(exports):
    """Without rfc3339-validator a draft-04 validator accepts any string."""
    document = json.loads(exports["guadeloupe"].read_text())
    document["timestamp"] = "yesterday"
    errors = ixf.schema_errors(document)
    assert errors == ["timestamp: 'yesterday' is not a 'date-time'"]


def test_reexport_of_unchanged_data_leaves_the_file_alone(exports):
    before = exports["guadeloupe"].read_text()
    run = subprocess.run(
        [sys.executable, "-m", "caribix.ixf", "inventories/guadeloupe", "-o", str(exports["guadeloupe"])],
        cwd=REPOSITORY, capture_output=True, text=True, check=False,
    )
    assert run.returncode == 0 and ": unchanged" in run.stdout
    assert exports["guadeloupe"].read_text() == before


def test_invalid_data_is_not_exported(tmp_path):
    shutil.copytree(REPOSITORY / "inventories", tmp_path / "inventories")
    shutil.copytree(REPOSITORY / "group_vars", tmp_path / "group_vars")
    members = tmp_path / "inventories/guadeloupe/group_vars/all/members.yml"
    members.write_text(members.read_text().replace("ipv4: 192.0.2.10\n", "ipv4: 192.0.2.77\n"))
    out = tmp_path / "gp.json"
    run = subprocess.run(
        [sys.executable, "-m", "caribix.ixf", "inventories/guadeloupe", "-o", str(out), "--vault-id", "lab@inventories/lab-vault-password.txt"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )
    assert run.returncode == 1
    assert "192.0.2.77 is outside the peering LAN 192.0.2.0/26" in run.stderr
    assert not out.exists()


@pytest.fixture(scope="module")
def arouteserver_cfg(tmp_path_factory) -> Path:
    """A throwaway, offline arouteserver configuration."""
    cfg = tmp_path_factory.mktemp("arouteserver")
    import pierky.arouteserver

    shutil.copy(Path(pierky.arouteserver.__file__).with_name("config.d") / "log.ini", cfg / "log.ini")
    (cfg / "cache").mkdir()
    (cfg / "arouteserver.yml").write_text(
        f"cfg_dir: {cfg}\nlogging_config_file: log.ini\ncache_dir: {cfg}/cache\ncheck_new_release: False\n"
    )
    return cfg / "arouteserver.yml"


def clients_from_euroix(cfg: Path, export: Path, ixp_id: int, *extra: str) -> list[dict]:
    run = subprocess.run(
        [str(AROUTESERVER), "clients-from-euroix", "--cfg", str(cfg), "-i", str(export), str(ixp_id), *extra],
        capture_output=True, text=True, check=False, timeout=60,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return yaml.safe_load(run.stdout)["clients"]


@pytest.mark.parametrize("island", ISLANDS)
def test_clients_from_euroix_returns_the_same_members(exports, arouteserver_cfg, island):
    document = json.loads(exports[island].read_text())
    clients = clients_from_euroix(arouteserver_cfg, exports[island], document["ixp_list"][0]["ixp_id"])
    got = sorted(
        (c["asn"], c["ip"], c["description"], tuple(c["cfg"]["filtering"]["irrdb"]["as_sets"]), c["cfg"]["filtering"]["max_prefix"])
        for c in clients
    )
    expected = sorted(
        (m["asn"], m[family], m["name"], (m["as_set"],), {f"limit_{family}": m["max_prefix"][family]})
        for m in members_of(island)
        for family in ("ipv4", "ipv6")
    )
    assert got == expected


def test_routeserver_only_drops_bilateral_members(exports, arouteserver_cfg):
    clients = clients_from_euroix(arouteserver_cfg, exports["guadeloupe"], 9001, "--routeserver-only")
    assert sorted({c["asn"] for c in clients}) == sorted(m["asn"] for m in members_of("guadeloupe") if m["route_server"])
