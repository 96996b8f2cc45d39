"""The snapshot age check through the real commands, on any date.

* A production island (lab mode off) with a 200-hour-old snapshot: the
  route-server playbook stops at the build, on the controller, naming the
  part, its age and the refresh command; no route server is contacted.
* The example islands build whatever the date: the build runs under
  Debian's datefudge, 400 days and 5 years ahead (as scripts/clock.sh).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import require_tool

from caribix import routeserver as rs

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK_BIN = Path(sys.executable).with_name("ansible-playbook")


def _production_copy_of_guadeloupe(tmp_path: Path, snapshot_age_h: float) -> tuple[Path, Path]:
    """Guadeloupe's data with lab mode off, its hosts at a closed local port."""
    inventory = tmp_path / "inventories" / "guadeloupe"
    shutil.copytree(ROOT / "inventories" / "guadeloupe", inventory)
    exchange_file = inventory / "group_vars" / "all" / "exchange.yml"
    exchange_file.write_text(exchange_file.read_text().replace("caribix_lab_mode: true", "caribix_lab_mode: false"))
    assert "caribix_lab_mode: false" in exchange_file.read_text()
    for host_file in (inventory / "host_vars").glob("*.yml"):
        with host_file.open("a") as host_vars:
            # Port 1 on loopback is closed: any contact would show as UNREACHABLE.
            host_vars.write("ansible_connection: ssh\nansible_host: 127.0.0.1\nansible_port: 1\n")
    snapshot = tmp_path / "snapshot"
    shutil.copytree(ROOT / "snapshots" / "guadeloupe", snapshot)
    fetched = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=snapshot_age_h)).strftime("%Y-%m-%dT%H:%M:%SZ")
    metadata = yaml.safe_load((snapshot / "metadata.yml").read_text())
    metadata["parts"] = {part: {"fetched_at": fetched, "source": "bgpq4"} for part in rs.SNAPSHOT_PARTS}
    (snapshot / "metadata.yml").write_text(yaml.safe_dump(metadata))
    return inventory, snapshot


# Both playbooks build the route servers' configurations before anything
# reaches a host (site.yml before base and the fabric, both before the
# package cache is asked): a stale snapshot touches no host at all.
@pytest.mark.parametrize("playbook", ["route_servers.yml", "site.yml"])
def test_production_island_with_stale_snapshot_stops_before_any_host(tmp_path, playbook):
    inventory, snapshot = _production_copy_of_guadeloupe(tmp_path, snapshot_age_h=200)
    run = subprocess.run(
        [
            str(PLAYBOOK_BIN), "-i", str(inventory), f"playbooks/{playbook}",
            "-e", f"route_server_snapshot_dir={snapshot}",
            # Production data may not use documentation ranges, and tests
            # must: the island validation is not what is tested here.
            "-e", "validate_inventory_enabled=false",
        ],
        cwd=ROOT, capture_output=True, text=True, check=False,
        env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"},
    )
    output = " ".join((run.stdout + run.stderr).split())
    assert run.returncode != 0, output
    for part in ("irr", "rpki"):
        assert (
            f"snapshot part '{part}' is 200.0 h old" in output
            and "over the 168 h limit: refresh it with `ansible-playbook -i inventories/guadeloupe playbooks/refresh_snapshots.yml`" in output
        ), output
    # PeeringDB's limit is 720 h: 200 h only warns.
    assert "snapshot part 'peeringdb' is 200.0 h old" not in output.split("Route server build failed")[1]
    assert "UNREACHABLE" not in output and "unreachable=1" not in output, "a host was contacted"
    recap = dict(re.findall(r"^(\S+)\s+: (ok=.*?)\s*$", run.stdout.split("PLAY RECAP")[1], re.MULTILINE))
    assert recap["gp-rs2"] == recap["gp-lg1"], "the second route server did more than every host's validation"


def _clock(env: dict[str, str]) -> float:
    return float(subprocess.run([sys.executable, "-c", "import time; print(time.time())"], env=env,
                                capture_output=True, text=True, check=True).stdout)


def _real_clock_env() -> dict[str, str]:
    """This environment without a moved clock (the suite may itself run ahead: docs/clock.md)."""
    return {name: value for name, value in os.environ.items() if name not in ("LD_PRELOAD", "DATEFUDGE")}


def _clock_ahead_env(days: int) -> dict[str, str]:
    require_tool("datefudge", "datefudge")
    library = next(Path("/usr/lib").glob("*/datefudge/datefudge.so"), None)
    assert library is not None, "datefudge.so not found (Debian package datefudge)"
    return {**_real_clock_env(), "LD_PRELOAD": str(library), "DATEFUDGE": str(-86400 * days)}


@pytest.mark.parametrize("days", [400, 1826])
@pytest.mark.parametrize("island,host", [("guadeloupe", "gp-rs1"), ("saint-martin", "sxm-rs1"), ("saint-barthelemy", "sbh-rs1")])
def test_example_islands_build_on_any_date(tmp_path, island, host, days):
    env = _clock_ahead_env(days)
    assert _clock(env) > _clock(_real_clock_env()) + (days - 1) * 86400, "the clock did not move"
    group_vars = ROOT / "inventories" / island / "group_vars" / "all"
    exchange_vars = yaml.safe_load((group_vars / "exchange.yml").read_text())
    assert exchange_vars["caribix_lab_mode"] is True
    data = {
        "exchange": exchange_vars["exchange"],
        "members": yaml.safe_load((group_vars / "members.yml").read_text())["members"],
        "router_id": yaml.safe_load((ROOT / "inventories" / island / "host_vars" / f"{host}.yml").read_text())["router_id"],
        "lab_mode": True,
        "policy": yaml.safe_load((ROOT / "group_vars" / "all" / "route_servers.yml").read_text())["route_server_policy"],
    }
    run = subprocess.run(
        [sys.executable, "-m", "caribix.routeserver", "build", "--input", "-",
         "--snapshot-dir", str(ROOT / "snapshots" / island), "--output-dir", str(tmp_path)],
        input=json.dumps(data), env=env, capture_output=True, text=True, check=False,
    )
    result = json.loads(run.stdout)
    assert run.returncode == 0 and not result["failed"], result.get("msg", run.stderr)
    assert [w.split(":")[0] for w in result["warnings"]] == ["NOT JUDGED"] * 3
