"""The looking glass's IX-F URL publishes what caribix-ixf-export writes
(filter plugins/filter/caribix_ixf.py), and a rerun changes nothing."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from caribix import ixf
from caribix.model import load_island

REPOSITORY = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("caribix_ixf_filter", REPOSITORY / "plugins" / "filter" / "caribix_ixf.py")
caribix_ixf_filter = importlib.util.module_from_spec(spec)
spec.loader.exec_module(caribix_ixf_filter)


def merged(island: str):
    data = load_island(REPOSITORY / "inventories" / island, vault_ids=[f"lab@{REPOSITORY}/inventories/lab-vault-password.txt"])
    return data, data.hosts, {**data.groups}


@pytest.mark.parametrize("island", ["guadeloupe", "saint-martin"])
def test_filter_publishes_the_cli_export(island):
    data, hostvars, groups = merged(island)
    text = caribix_ixf_filter.caribix_ixf_export(data.variables["exchange"], data.variables["members"], hostvars, groups)
    published = json.loads(text)
    published.pop("timestamp")
    expected = ixf.build_export(data)
    expected.pop("timestamp")
    assert published == expected
    # Rerun with the published file: the same text, old timestamp kept.
    old = text.replace(json.loads(text)["timestamp"], "2026-01-01T00:00:00Z")
    assert caribix_ixf_filter.caribix_ixf_export(data.variables["exchange"], data.variables["members"], hostvars, groups, old) == old


def test_filter_refuses_an_export_the_schema_refuses():
    from ansible.errors import AnsibleFilterError

    data, hostvars, groups = merged("guadeloupe")
    members = [dict(m) for m in data.variables["members"]]
    members[0]["max_prefix"] = {"ipv4": "50", "ipv6": 20}
    with pytest.raises(AnsibleFilterError, match="IX-F 1.0 schema"):
        caribix_ixf_filter.caribix_ixf_export(data.variables["exchange"], members, hostvars, groups)
