"""The monitoring role's configuration, rendered for each real island and checked by the real tools.

Runs tests/unit/monitoring_render.yml (templates only, on the controller)
against inventories/<island>, then amtool and promtool check what the monitoring host would receive
(the blackbox modules are checked on the host, in molecule/monitoring).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import require_tool

ROOT = Path(__file__).resolve().parents[2]
ISLANDS = sorted(path.name for path in (ROOT / "inventories").iterdir() if (path / "hosts.yml").exists())


@pytest.fixture(scope="module", params=ISLANDS)
def rendered(request, tmp_path_factory):
    directory = tmp_path_factory.mktemp(request.param)
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "ansible-playbook") if (ROOT / ".venv" / "bin" / "ansible-playbook").exists() else "ansible-playbook",
         "-i", f"inventories/{request.param}", "tests/unit/monitoring_render.yml"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "CARIBIX_RENDER_DIR": str(directory), "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (host_file,) = directory.glob("*-prometheus.yml")
    prefix = host_file.name.removesuffix("prometheus.yml")
    return request.param, directory, prefix


def test_alertmanager_config_passes_amtool(rendered):
    island, directory, prefix = rendered
    require_tool("amtool", "prometheus-alertmanager")
    path = directory / f"{prefix}alertmanager.yml"
    result = subprocess.run(["amtool", "check-config", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load(path.read_text())
    # Secrets came out of the island's vault, for the island's receiver.
    receivers = {receiver["name"]: receiver for receiver in config["receivers"]}
    assert set(receivers) == {f"{island}-noc", f"{island}-noc-critical"}
    assert receivers[f"{island}-noc-critical"]["webhook_configs"][0]["url"].startswith(f"https://chat.caribix.example/hooks/noc-{island}?token=")
    assert config["global"]["smtp_auth_password"] == f"lab-smtp-password-{island}"
    assert "webhook_configs" not in receivers[f"{island}-noc"]


def test_rules_pass_promtool(rendered):
    _, directory, prefix = rendered
    require_tool("promtool", "prometheus")
    result = subprocess.run(["promtool", "check", "rules", str(directory / f"{prefix}caribix-alerts.rules.yml")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_config_relabels_every_member(rendered):
    island, directory, prefix = rendered
    config = yaml.safe_load((directory / f"{prefix}prometheus.yml").read_text())
    members = yaml.safe_load((ROOT / "inventories" / island / "group_vars" / "all" / "members.yml").read_text())["members"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"prometheus", "alertmanager", "node", "bird", "blackbox_icmp", "blackbox_http", "sflow"}
    bird_members = {rule["replacement"] for rule in jobs["bird"]["metric_relabel_configs"] if rule.get("target_label") == "member"}
    assert bird_members == {member["name"] for member in members}
    port_rules = {(rule["regex"], rule["replacement"]) for rule in jobs["node"]["metric_relabel_configs"] if rule.get("target_label") == "member"}
    assert {replacement for _, replacement in port_rules} == {member["name"] for member in members}
    assert config["global"]["external_labels"] == {"island": island}


def test_targets_cover_the_island(rendered):
    island, directory, prefix = rendered
    targets = json.loads((directory / f"{prefix}targets.json").read_text())
    assert targets["island"] == island
    assert targets["bird"] and targets["icmp"] and targets["node"]



def test_the_input_check_knows_every_alert_duration():
    """An inventory that sets monitoring_alert_for must set every key; the
    role's check lists them (vars/main.yml), and the list is the defaults'."""
    role = ROOT / "roles" / "monitoring"
    defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text())["monitoring_alert_for"]
    checked = yaml.safe_load((role / "vars" / "main.yml").read_text())["monitoring_alert_for_keys"]
    specs = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())
    documented = specs["argument_specs"]["main"]["options"]["monitoring_alert_for"]["default"]
    assert checked == list(defaults) == list(documented)
    for override in ROOT.glob("molecule/*/inventories/*/group_vars/*/*.yml"):
        if "monitoring_alert_for:" not in override.read_text():
            continue  # vault files among them: not for yaml.safe_load
        data = yaml.safe_load(override.read_text()) or {}
        if isinstance(data, dict) and "monitoring_alert_for" in data:
            assert set(data["monitoring_alert_for"]) == set(checked), override
