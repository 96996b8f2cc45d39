"""The production connection path, read from the island data.

Each island's hosts are reached over SSH at their management address as
the deploy user, with host keys checked against the island's own
known_hosts file; failures print what to do (plugins/callback).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ENV = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}

spec = importlib.util.spec_from_file_location("hints", ROOT / "plugins" / "callback" / "caribix_connection_hints.py")
hints = importlib.util.module_from_spec(spec)
spec.loader.exec_module(hints)


def connection_vars(inventory: Path, host: str) -> dict:
    """The connection variables Ansible would use for ``host``, templated."""
    names = ["ansible_connection", "ansible_host", "ansible_user", "ansible_ssh_common_args"]
    run = subprocess.run(
        [str(BIN / "ansible"), "-i", str(inventory), host, "-m", "ansible.builtin.debug", "-a", f"msg={{{{ {{{', '.join(f'{n!r}: {n}' for n in names)}}} }}}}",
         "-o"],
        cwd=ROOT, env=ENV, capture_output=True, text=True, check=True,
    )
    return json.loads(run.stdout.split("=>", 1)[1])["msg"]


@pytest.mark.parametrize("island", ["guadeloupe", "saint-martin", "saint-barthelemy"])
def test_every_host_is_reached_over_ssh_at_its_management_address_with_checked_keys(island):
    inventory = ROOT / "inventories" / island
    for host_file in sorted((inventory / "host_vars").glob("*.yml")):
        host = host_file.stem
        found = connection_vars(inventory, host)
        assert found["ansible_connection"] == "ssh"
        assert found["ansible_host"] == yaml.safe_load(host_file.read_text())["management_ipv4"]
        assert found["ansible_user"] == "caribix-deploy"
        args = found["ansible_ssh_common_args"].split()
        assert f"UserKnownHostsFile={inventory}/known_hosts.txt" in args
        assert "StrictHostKeyChecking=yes" in args and "GlobalKnownHostsFile=/dev/null" in args
        assert not any(a.startswith("ProxyJump") for a in args)


def test_a_dns_name_and_a_bastion_come_from_the_data(tmp_path):
    inventory = tmp_path / "guadeloupe"
    shutil.copytree(ROOT / "inventories" / "guadeloupe", inventory)
    with (inventory / "host_vars" / "gp-rs1.yml").open("a") as host_vars:
        host_vars.write("management_dns_name: rs1.gp.caribix.example\n")
    (inventory / "group_vars" / "all" / "bastion.yml").write_text("---\ncaribix_ssh_bastion: deploy@bastion.gp.caribix.example\n")
    found = connection_vars(inventory, "gp-rs1")
    assert found["ansible_host"] == "rs1.gp.caribix.example"
    assert "ProxyJump=deploy@bastion.gp.caribix.example" in found["ansible_ssh_common_args"].split()


def test_ansible_cfg_neither_skips_host_keys_nor_names_a_vault_password():
    config = (ROOT / "ansible.cfg").read_text()
    assert "host_key_checking" not in config
    assert "vault_identity_list" not in config and "lab-vault-password" not in config


def test_an_unreachable_host_is_named_with_what_to_do(tmp_path):
    inventory = tmp_path / "guadeloupe"
    shutil.copytree(ROOT / "inventories" / "guadeloupe", inventory)
    with (inventory / "host_vars" / "gp-rs1.yml").open("a") as host_vars:
        # A closed port on loopback: refused at once, nothing leaves the machine.
        host_vars.write("ansible_host: 127.0.0.1\nansible_port: 1\n")
    run = subprocess.run([str(BIN / "ansible"), "-i", str(inventory), "gp-rs1", "-m", "ansible.builtin.ping"],
                         cwd=ROOT, env=ENV, capture_output=True, text=True, check=False)
    assert run.returncode != 0
    assert "HINT gp-rs1 (127.0.0.1): it cannot be reached over SSH: check that it is up" in run.stderr, run.stdout + run.stderr


@pytest.mark.parametrize("text,problem", [
    ("@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@ ... Host key verification failed.", "not the one recorded"),
    ("No ED25519 host key is known for 192.0.2.195 and you have requested strict checking.\r\nHost key verification failed.", "not in the island's known_hosts"),
    ("caribix-deploy@192.0.2.195: Permission denied (publickey).", "refused our SSH key"),
    ("sudo: a password is required", "may not use sudo"),
    ("Missing sudo password", "may not use sudo"),
    ("ssh: connect to host 192.0.2.195 port 22: Connection timed out", "cannot be reached"),
])
def test_each_failure_gets_its_own_hint(text, problem):
    found = hints.hint_for(text)
    assert found is not None and problem in found[0]


def test_an_unrelated_failure_gets_no_hint():
    assert hints.hint_for("The conditional check 'x' failed") is None


def test_an_unreachable_first_route_server_leaves_the_second_untouched(tmp_path):
    """serial: 1 alone does not stop at an unreachable host; the role reaches it first."""
    inventory = tmp_path / "guadeloupe"
    shutil.copytree(ROOT / "inventories" / "guadeloupe", inventory)
    for host, port in (("gp-rs1", 1), ("gp-rs2", 2)):
        with (inventory / "host_vars" / f"{host}.yml").open("a") as host_vars:
            host_vars.write(f"ansible_host: 127.0.0.1\nansible_port: {port}\n")
    run = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(inventory), "playbooks/route_servers.yml",
         "-e", "route_server_connect_timeout=3", "-e", "validate_inventory_enabled=false",
         "-e", "island_supplies_enabled=false"],
        cwd=ROOT, env=ENV, capture_output=True, text=True, check=False,
    )
    assert run.returncode != 0
    play = run.stdout.split("PLAY [Route servers]", 1)[1].split("PLAY RECAP", 1)[0]
    assert "fatal: [gp-rs1]" in play and "Reach this route server before touching it" in play, play
    assert "[gp-rs2]" not in play, play
    assert "HINT gp-rs1 (127.0.0.1): it cannot be reached over SSH" in run.stderr, run.stderr
