"""The pinned toolchain is what the repository says it is."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]


def installed_collections() -> dict[str, str]:
    out = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-galaxy"), "collection", "list", "--format", "json"],
        cwd=REPO, check=True, capture_output=True, text=True,
    ).stdout
    found: dict[str, str] = {}
    for path_collections in json.loads(out).values():
        for name, meta in path_collections.items():
            found.setdefault(name, meta["version"])
    return found


def test_requirements_yml_is_satisfied_by_the_bundle():
    wanted = yaml.safe_load((REPO / "requirements.yml").read_text())["collections"]
    have = installed_collections()
    problems = []
    for collection in wanted:
        name, spec = collection["name"], SpecifierSet(collection["version"])
        if name not in have:
            problems.append(f"{name}: not installed")
        elif Version(have[name]) not in spec:
            problems.append(f"{name}: installed {have[name]} does not satisfy {spec}")
    assert not problems, "; ".join(problems)


def test_every_collection_used_is_listed_in_requirements_yml():
    listed = {c["name"] for c in yaml.safe_load((REPO / "requirements.yml").read_text())["collections"]}
    used = set()
    for path in list(REPO.glob("roles/**/*.yml")) + list(REPO.glob("playbooks/**/*.yml")) + list(REPO.glob("molecule/**/*.yml")):
        for word in path.read_text().replace(":", " ").split():
            parts = word.strip("\"'()[]{},|").split(".")
            if len(parts) >= 3 and parts[0] not in ("ansible", "item", "hostvars") and parts[0].isidentifier():
                namespace_collection = f"{parts[0]}.{parts[1]}"
                if namespace_collection in {"community.general", "community.docker", "community.crypto", "arista.eos",
                                            "junipernetworks.junos", "ansible.posix", "ansible.utils", "ansible.netcommon"}:
                    used.add(namespace_collection)
            elif len(parts) >= 3 and parts[0] == "ansible" and parts[1] in ("posix", "utils", "netcommon"):
                used.add(f"ansible.{parts[1]}")
    assert used <= listed, f"used but not in requirements.yml: {sorted(used - listed)}"


def test_python_is_311_and_ansible_core_219():
    import ansible

    assert sys.version_info[:2] == (3, 11)
    assert ansible.__version__.startswith("2.19.")


def test_installed_python_packages_match_the_pins():
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version
    from importlib.metadata import distributions

    have = {d.metadata["Name"].lower().replace("_", "-"): d.version for d in distributions()}
    wrong = {name: (version, have.get(name)) for name, version in pins.items() if have.get(name) != version}
    assert not wrong, f"pinned vs installed: {wrong}"
