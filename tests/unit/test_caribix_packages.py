"""plugins/action/caribix_packages: dpkg asked once per host and run, apt
only for what is missing; run by ansible-playbook against this machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def play(tmp_path: Path, tasks: list[dict]) -> subprocess.CompletedProcess:
    playbook = tmp_path / "play.yml"
    playbook.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]))
    return subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}", str(playbook)],
        cwd=ROOT, env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}, capture_output=True, text=True, check=False,
    )


def test_installed_packages_need_no_apt_and_dpkg_is_asked_once(tmp_path):
    out = tmp_path / "result.json"
    done = play(tmp_path, [
        {"caribix_packages": {"name": ["dpkg", "bash"], "update_cache": True, "cache_valid_time": 3600}, "register": "first"},
        # Later tasks read the fact, not dpkg: a name the fact lists counts as
        # installed (dpkg would not report it, and apt would fail on it).
        {"ansible.builtin.set_fact": {"caribix_packages_installed": "{{ caribix_packages_installed | difference(['bash']) + ['not-really-installed'] }}"}},
        {"caribix_packages": {"name": "not-really-installed"}, "register": "second"},
        {"ansible.builtin.copy": {"content": "{{ {'first': first, 'second': second} | to_json }}", "dest": str(out)}},
    ])
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["first"]["changed"] is False and result["first"]["missing"] == []
    assert "dpkg" in result["first"]["ansible_facts"]["caribix_packages_installed"]
    assert result["second"]["changed"] is False and result["second"]["missing"] == []


def test_a_bad_argument_is_named(tmp_path):
    done = play(tmp_path, [{"caribix_packages": {"name": ["bash"], "state": "absent"}}])
    assert done.returncode != 0
    assert "Unsupported parameters for (caribix_packages) module: state" in done.stdout
