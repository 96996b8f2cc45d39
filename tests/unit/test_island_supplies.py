"""What a deploy needs the island to hold (plugins/filter/caribix_supplies.py), read from the
roles' own caribix_packages tasks, and the host side of roles/island_supplies/files/island_supplies.py.
The cut-off island itself (the cache's answer, the early stop, a rebuild) is molecule/lab_e2e's."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("caribix_supplies", ROOT / "plugins" / "filter" / "caribix_supplies.py")
caribix_supplies = importlib.util.module_from_spec(spec)
spec.loader.exec_module(caribix_supplies)
SCRIPT = ROOT / "roles" / "island_supplies" / "files" / "island_supplies.py"


def needs_by_play() -> dict[str, set[str]]:
    needs: dict[str, set[str]] = {}
    for play in caribix_supplies.caribix_deploy_packages(str(ROOT / "playbooks" / "site.yml")):
        needs.setdefault(play["hosts"], set()).update(play["packages"])
    return needs


def test_each_play_of_site_yml_needs_the_packages_its_roles_install():
    needs = needs_by_play()
    assert {"chrony", "openssh-server", "unattended-upgrades", "nftables"} <= needs["all"]
    assert {"bird2", "stayrtr", "prometheus-bird-exporter"} <= needs["route_servers"]
    assert {"nginx", "python3-venv", "openssl"} <= needs["route_servers:looking_glass"]
    assert {"prometheus", "prometheus-alertmanager", "pmacct"} <= needs["monitoring"]
    # A name built from the role's defaults: conditional lists count too.
    assert {"iputils-ping", "pmacct"} <= needs["fabric_linux_whitebox"]
    # The package cache is the cache host's alone; the supply check
    # itself installs nothing anywhere.
    assert needs["package_caches"] >= {"apt-cacher-ng"}
    assert not any("apt-cacher-ng" in packages for hosts, packages in needs.items() if hosts != "package_caches")


def test_every_role_that_installs_packages_is_read():
    """No caribix_packages task escapes the reader: each role's packages appear in some play."""
    every = set().union(*needs_by_play().values())
    for tasks in (ROOT / "roles").glob("*/tasks/*.yml"):
        if tasks.parts[-3] in {"lab_member_router"}:  # the lab's members' routers, not island hosts
            continue
        text = tasks.read_text()
        if "caribix_packages:" not in text:
            continue
        role = tasks.parts[-3]
        found = caribix_supplies._Scanner(str(ROOT / "roles")).tasks(str(ROOT / "roles" / role), role, tasks.name, set())
        assert found, f"{tasks}: its caribix_packages task names no package the reader understands"
        assert found <= every, f"{tasks}: {sorted(found - every)} are in no play of site.yml"


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_a_package_name_the_reader_cannot_resolve_is_named_with_its_file(tmp_path):
    write(tmp_path / "roles" / "odd" / "tasks" / "main.yml",
          "- name: Install\n  caribix_packages:\n    name: \"{{ somewhere_else }}\"\n")
    write(tmp_path / "playbooks" / "site.yml", "- hosts: all\n  roles: [odd]\n")
    with pytest.raises(AnsibleFilterError, match=r"roles/odd/tasks/main.yml.*somewhere_else"):
        caribix_supplies.caribix_deploy_packages(str(tmp_path / "playbooks" / "site.yml"))


def test_includes_dependencies_and_tasks_from_are_followed(tmp_path):
    write(tmp_path / "roles" / "dep" / "tasks" / "main.yml", "- caribix_packages: {name: dep-package}\n")
    write(tmp_path / "roles" / "top" / "meta" / "main.yml", "dependencies:\n  - role: dep\n")
    write(tmp_path / "roles" / "top" / "defaults" / "main.yml", "top_packages: [a, b]\ntop_extra: [c]\n")
    write(tmp_path / "roles" / "top" / "tasks" / "main.yml",
          "- ansible.builtin.include_tasks: install.yml\n"
          "- block:\n    - caribix_packages:\n        name: \"{{ top_packages + (top_extra if x else []) }}\"\n")
    write(tmp_path / "roles" / "top" / "tasks" / "install.yml", "- caribix_packages: {name: [d]}\n")
    write(tmp_path / "roles" / "top" / "tasks" / "other.yml", "- caribix_packages: {name: e}\n")
    write(tmp_path / "playbooks" / "site.yml",
          "- ansible.builtin.import_playbook: part.yml\n"
          "- hosts: side\n  tasks:\n    - ansible.builtin.include_role: {name: top, tasks_from: other}\n")
    write(tmp_path / "playbooks" / "part.yml", "- hosts: all\n  roles: [{role: top}]\n")
    plays = caribix_supplies.caribix_deploy_packages(str(tmp_path / "playbooks" / "site.yml"))
    assert plays == [{"hosts": "all", "packages": ["a", "b", "c", "d", "dep-package"]},
                     {"hosts": "side", "packages": ["e"]}]


def test_the_wheelhouse_lacks_the_pins_no_wheel_provides(tmp_path):
    for wheel in ("Jinja2-3.1.6-py3-none-any.whl", "markupsafe-3.0.4-cp313-cp313-manylinux_2_17_x86_64.whl",
                  "waitress-3.0.1-py3-none-any.whl"):
        (tmp_path / wheel).write_text("")
    lacking = caribix_supplies.caribix_wheelhouse_lacks(
        ["jinja2==3.1.6", "MarkupSafe==3.0.4", "waitress==3.0.2", "pyyaml==6.0.2"], str(tmp_path))
    assert lacking == ["waitress==3.0.2", "pyyaml==6.0.2"]
    assert caribix_supplies.caribix_wheelhouse_lacks(["jinja2==3.1.6"], str(tmp_path / "absent")) == ["jinja2==3.1.6"]


def ask(asked: dict, stdin: str | None = None) -> dict:
    done = subprocess.run([sys.executable, "-c", SCRIPT.read_text(), json.dumps(asked)], input=stdin,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_a_host_says_which_needed_packages_dpkg_does_not_list():
    """Run as the role runs it, against this controller's own dpkg (Debian)."""
    answer = ask({"ask": "host", "needs": ["dpkg", "caribix-no-such-package"]})
    assert answer["missing"] == ["caribix-no-such-package"]
    assert "Package: dpkg" in answer["status"]
    assert answer["python"] == "%d.%d" % sys.version_info[:2]
    # Nothing missing: no status file is sent on.
    assert ask({"ask": "host", "needs": ["dpkg"]}) | {"python": "", "machine": ""} == \
        {"python": "", "machine": "", "missing": [], "status": ""}


def test_only_installed_packages_count_as_installed():
    module_spec = importlib.util.spec_from_file_location("island_supplies", SCRIPT)
    script = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(script)
    status = ("Package: kept\nStatus: install ok installed\nVersion: 1\n\n"
              "Package: removed\nStatus: deinstall ok config-files\nVersion: 1\n\n"
              "Package: half\nStatus: install ok half-configured\nVersion: 1\n")
    assert script.installed(status) == {"kept"}


def test_a_cache_that_holds_nothing_is_asked_nothing_when_no_host_lacks_a_package(tmp_path):
    assert ask({"ask": "holds", "cache_dir": str(tmp_path / "none")}, stdin="{}") == {}
