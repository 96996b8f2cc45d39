"""Root group_vars/ reach every island through ansible-inventory (the
plugins/vars/caribix_shared_group_vars.py mechanism), and an island's own
value overrides the shared one. Probed on a temporary copy of the
repository's Ansible pieces, never by editing the real files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
ISLANDS = ["guadeloupe", "saint-martin", "saint-barthelemy"]


@pytest.fixture(scope="module")
def probe_copy(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("repo")
    shutil.copy(REPOSITORY / "ansible.cfg", root / "ansible.cfg")
    shutil.copytree(REPOSITORY / "plugins" / "vars", root / "plugins" / "vars")
    shutil.copytree(REPOSITORY / "group_vars", root / "group_vars")
    shutil.copytree(REPOSITORY / "inventories", root / "inventories")
    (root / "group_vars" / "all" / "zz_probe.yml").write_text(
        "---\ncaribix_probe_shared: from-root\ncaribix_probe_overridden: from-root\n"
    )
    (root / "inventories" / "saint-martin" / "group_vars" / "all" / "zz_probe.yml").write_text(
        "---\ncaribix_probe_overridden: from-saint-martin\n"
    )
    return root


def host_vars(root: Path, island: str) -> dict:
    run = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-inventory")), "-i", f"inventories/{island}", "--list"],
        cwd=root, capture_output=True, text=True, check=True,
        env={**os.environ, "ANSIBLE_CONFIG": str(root / "ansible.cfg")},
    )
    return json.loads(run.stdout)["_meta"]["hostvars"]


@pytest.mark.parametrize("island", ISLANDS)
def test_root_group_vars_reach_every_host_of_every_island(probe_copy, island):
    hosts = host_vars(probe_copy, island)
    assert len(hosts) == 5
    for values in hosts.values():
        assert values["caribix_probe_shared"] == "from-root"
        # A real shared policy value too (group_vars/all/data_model.yml).
        assert 10000 in values["caribix_member_port_speeds"]


@pytest.mark.parametrize(("island", "expected"), [("guadeloupe", "from-root"), ("saint-martin", "from-saint-martin")])
def test_island_value_overrides_the_shared_one(probe_copy, island, expected):
    for values in host_vars(probe_copy, island).values():
        assert values["caribix_probe_overridden"] == expected


def test_real_lab_mode_override(probe_copy):
    """group_vars/all/platform.yml says false; each island's exchange.yml says true."""
    for values in host_vars(probe_copy, "guadeloupe").values():
        assert values["caribix_lab_mode"] is True


def test_a_playbook_in_playbooks_sees_shared_and_island_values(probe_copy):
    """The case Ansible gets wrong by default: a playbook in playbooks/ sees
    root group_vars (below the island's own), also when run from the root."""
    playbooks = probe_copy / "playbooks"
    playbooks.mkdir(exist_ok=True)
    (playbooks / "probe.yml").write_text(
        "---\n- name: Probe\n  hosts: all\n  gather_facts: false\n  connection: local\n  tasks:\n"
        "    - name: Show the probe values\n      ansible.builtin.debug:\n"
        "        msg: \"PROBE {{ inventory_hostname }} {{ caribix_probe_shared }} {{ caribix_probe_overridden }}\"\n"
    )
    run = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")), "-i", "inventories/saint-martin", "playbooks/probe.yml"],
        cwd=probe_copy, capture_output=True, text=True,
        env={**os.environ, "ANSIBLE_CONFIG": str(probe_copy / "ansible.cfg")},
    )
    assert run.returncode == 0, run.stdout + run.stderr
    lines = [line for line in run.stdout.splitlines() if "PROBE " in line]
    assert len(lines) == 5
    assert all("from-root from-saint-martin" in line for line in lines)
