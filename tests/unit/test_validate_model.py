"""Reading island data from disk (caribix.model) and the address rules,
checked on generated inputs."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import netaddr
from hypothesis import given, settings
from hypothesis import strategies as st

from caribix.model import VaultValue, load_island, load_siblings, read_yaml
from caribix.validate import validate_island

import negative_corpus

REPOSITORY = negative_corpus.REPOSITORY
VAULT = [f"lab@{REPOSITORY}/inventories/lab-vault-password.txt"]
GUADELOUPE = load_island(REPOSITORY / "inventories" / "guadeloupe", vault_ids=VAULT)
SIBLINGS = load_siblings(REPOSITORY / "inventories" / "guadeloupe")


def test_inline_vault_values_and_unsafe_tags_load(tmp_path):
    path = tmp_path / "vars.yml"
    path.write_text("---\nsecret: !vault |\n  $ANSIBLE_VAULT;1.2;AES256;lab\n  3132\nraw: !unsafe '{{ not templated }}'\n")
    data = read_yaml(path)
    assert isinstance(data["secret"], VaultValue)
    assert data["raw"] == "{{ not templated }}"


def test_shared_defaults_are_overridden_by_the_island_and_origins_kept():
    assert GUADELOUPE.variables["caribix_lab_mode"] is True  # root says false
    assert GUADELOUPE.variables["caribix_member_port_speeds"][0] == 1000  # root only
    assert GUADELOUPE.origins["members"].endswith("inventories/guadeloupe/group_vars/all/members.yml")
    assert GUADELOUPE.origins["caribix_member_port_speeds"].endswith("group_vars/all/data_model.yml")
    assert sorted(GUADELOUPE.variables["vault_bgp_passwords"]) == ["gp-as64500", "gp-as64502"]


def test_host_vars_directory_and_inline_hosts_vars(tmp_path):
    shutil.copytree(REPOSITORY / "inventories", tmp_path / "inventories")
    shutil.copytree(REPOSITORY / "group_vars", tmp_path / "group_vars")
    island = tmp_path / "inventories" / "guadeloupe"
    (island / "host_vars" / "gp-lg1.yml").unlink()
    (island / "host_vars" / "gp-lg1").mkdir()
    (island / "host_vars" / "gp-lg1" / "addresses.yml").write_text("---\nmanagement_ipv4: 192.0.2.198\n")
    loaded = load_island(island, vault_ids=VAULT)
    assert loaded.hosts["gp-lg1"]["management_ipv4"] == "192.0.2.198"
    assert loaded.groups["route_servers"] == ["gp-rs1", "gp-rs2"]
    assert set(loaded.groups["all"]) == {"gp-rs1", "gp-rs2", "gp-sw1", "gp-mon1", "gp-lg1"}


def with_member_address(family: str, address: str) -> list[str]:
    island = copy.deepcopy(GUADELOUPE)
    island.variables["members"][1][family] = address
    return [str(e) for e in validate_island(island, SIBLINGS, {"gp-as64500", "gp-as64502"})]


TAKEN = {"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.10", "192.0.2.12", "192.0.2.13", "192.0.2.14"}


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_any_ipv4_is_accepted_exactly_when_it_is_a_free_host_of_the_lan(value):
    address = str(netaddr.IPAddress(value, 4))
    errors = with_member_address("ipv4", address)
    lan = netaddr.IPNetwork("192.0.2.0/26")
    usable = netaddr.IPAddress(address) in lan and address not in {"192.0.2.0", "192.0.2.63"} and address not in TAKEN
    assert (errors == []) is usable
    if netaddr.IPAddress(address) not in lan:
        assert errors == [
            f"{GUADELOUPE.file_of('members')}: member 'Basse-Terre Networks' (AS64501): "
            f"field ipv4: {address} is outside the peering LAN 192.0.2.0/26; expected an address inside it"
        ]


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=0x20, max_value=2**64 - 1))
def test_any_free_ipv6_of_the_lan_is_accepted(interface_id):
    address = str(netaddr.IPAddress(int(netaddr.IPAddress("2001:db8:1::")) + interface_id, 6))
    assert with_member_address("ipv6", address) == []


ANY_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**40), max_value=2**40) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=6,
)
FIELDS = ["name", "asn", "as_set", "ipv4", "ipv6", "mac", "switch", "port", "speed", "max_prefix",
          "route_server", "bgp_password_vault_key", "noc", "url"]


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(FIELDS), ANY_VALUE, st.sampled_from(["members", "exchange", "inter_island_links"]))
def test_any_garbage_is_reported_never_crashes(field, value, where):
    """Whatever an engineer types, the validator answers with messages."""
    island = copy.deepcopy(GUADELOUPE)
    if where == "members":
        island.variables["members"][0][field] = value
    elif where == "exchange":
        island.variables["exchange"]["peering_lan" if field == "max_prefix" else field] = value
    else:
        island.variables["inter_island_links"] = value
    errors = validate_island(island, SIBLINGS, {"gp-as64500", "gp-as64502"})
    assert all(str(error).startswith("inventories/") or str(error).startswith("/") for error in errors)
