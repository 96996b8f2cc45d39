"""A new site in the lab: both members Established on both route servers.

    molecule test -s lab_new_site
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from caribix import lab

REPO = Path(__file__).resolve().parents[3]
ISLAND = "martinique"
ENV = {
    **os.environ,
    "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
    "ANSIBLE_VAULT_IDENTITY_LIST": f"lab@{REPO}/inventories/lab-vault-password.txt",
}


def plan() -> lab.Lab:
    inventory = subprocess.run([str(REPO / ".venv" / "bin" / "ansible-inventory"), "-i", f"inventories/{ISLAND}", "--list"],
                               cwd=REPO, env=ENV, capture_output=True, text=True, check=True)
    return lab.build_lab(ISLAND, json.loads(inventory.stdout))


def sessions(container: str) -> dict[str, dict[str, str]]:
    out = subprocess.run(["docker", "exec", container, "birdc", "-r", "show", "protocols"], capture_output=True, text=True, check=True)
    return lab.parse_bgp_protocols(out.stdout)


def test_both_members_are_established_on_both_route_servers():
    the_lab = plan()
    members = {f"AS{m.asn}" for m in the_lab.members if m.route_server}
    assert members == {"AS65540", "AS65541"}
    route_servers = the_lab.group("route_servers")
    assert [rs.name for rs in route_servers] == ["mq-rs1", "mq-rs2"]
    deadline = time.monotonic() + 120
    while True:
        found = {rs.name: sessions(rs.container) for rs in route_servers}
        up = {name: {proto.split("_")[0] for proto, row in rows.items() if row["info"].startswith("Established")}
              for name, rows in found.items()}
        # Each member has an IPv4 and an IPv6 session with each route server.
        counts = {name: lab.established(rows) for name, rows in found.items()}
        if all(up[name] == members and counts[name] == 2 * len(members) for name in up):
            return
        assert time.monotonic() < deadline, f"sessions not Established after 120 s: {found}"
        time.sleep(5)
