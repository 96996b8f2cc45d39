"""The member-change command (playbooks/members.yml) on the controller:
validation first, route servers one at a time, nothing but what derives
from members. Hosts are pointed at closed loopback ports, so any attempt to
touch one shows as UNREACHABLE; the lab tests (molecule/lab_e2e) run it
against real hosts.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ENV = {
    **os.environ,
    "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
    "ANSIBLE_NOCOLOR": "1",
    "ANSIBLE_VAULT_IDENTITY_LIST": f"lab@{ROOT}/inventories/lab-vault-password.txt",
}
PLAYBOOK = ROOT / "playbooks" / "members.yml"


def unreachable_island(tmp_path: Path) -> Path:
    """Guadeloupe with every host on a closed port of 127.0.0.1, beside the
    other islands and the snapshots (validation checks both)."""
    shutil.copytree(ROOT / "inventories", tmp_path / "inventories")
    (tmp_path / "snapshots").symlink_to(ROOT / "snapshots")
    inventory = tmp_path / "inventories" / "guadeloupe"
    for port, host_file in enumerate(sorted((inventory / "host_vars").glob("*.yml")), start=1):
        with host_file.open("a") as host_vars:
            host_vars.write(f"ansible_host: 127.0.0.1\nansible_port: {port}\n")
    return inventory


def run_members(inventory: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(inventory), str(PLAYBOOK), *args],
        cwd=ROOT, env=ENV, capture_output=True, text=True, check=False, timeout=600,
    )


def test_validation_comes_first_and_route_servers_go_one_at_a_time():
    plays = yaml.safe_load(PLAYBOOK.read_text())
    assert plays[0]["ansible.builtin.import_playbook"] == "validate.yml"
    route_servers = [p for p in plays if p.get("hosts") == "route_servers"]
    assert len(route_servers) == 1
    assert route_servers[0]["serial"] == 1 and route_servers[0]["any_errors_fatal"] is True
    # Only the roles' member entry points, never their full main.
    def tasks(block_list):
        for task in block_list:
            yield task
            for key in ("block", "rescue", "always"):
                yield from tasks(task.get(key, []))

    included = [t["ansible.builtin.include_role"] for p in plays for t in tasks(p.get("tasks", []))
                if "ansible.builtin.include_role" in t]
    assert {i["name"] for i in included} == {"fabric_whitebox", "route_server", "looking_glass", "monitoring"}
    assert all(i["tasks_from"] in ("members", "members_build") for i in included)
    # The route servers' play deploys only: their builds ran before, beside the switch.
    assert [t["ansible.builtin.include_role"]["tasks_from"] for t in tasks(route_servers[0]["tasks"])
            if "ansible.builtin.include_role" in t] == ["members"]


def test_bad_member_data_stops_the_run_before_any_host(tmp_path):
    inventory = unreachable_island(tmp_path)
    members = yaml.safe_load((inventory / "group_vars" / "all" / "members.yml").read_text())["members"]
    twin = {**members[0], "asn": 64510, "name": "Twin of the first member"}
    extra = tmp_path / "bad-members.json"
    extra.write_text(json.dumps({"members": members + [twin]}))
    run = run_members(inventory, "-e", f"@{extra}")
    output = run.stdout + run.stderr
    assert run.returncode != 0
    assert "nothing was changed" in output, output[-3000:]
    assert "member 'Twin of the first member' (AS64510): field mac:" in output, output[-3000:]
    assert "UNREACHABLE" not in output, "a host was contacted despite bad data"


def test_an_unreachable_first_route_server_leaves_the_second_untouched(tmp_path):
    inventory = unreachable_island(tmp_path)
    # --limit: the switch and the other hosts come before and are unreachable too.
    run = run_members(inventory, "--limit", "route_servers", "-e", "route_server_connect_timeout=3")
    assert run.returncode != 0
    play = run.stdout.split("PLAY [Members' sessions on the route servers, one at a time]", 1)[1].split("PLAY RECAP", 1)[0]
    assert "fatal: [gp-rs1]" in play and "Reach this route server before touching it" in play, play
    assert "[gp-rs2]" not in play, play
