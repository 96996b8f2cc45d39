"""What a deploy needs the island to hold, read from the code itself (one source of truth): the
Debian packages each play's roles install (their caribix_packages tasks), and the pinned wheels a
wheelhouse lacks. Used by the island's supply check (roles/package_cache/tasks/island_supplies.yml)."""

from __future__ import annotations

import glob
import os
import re

import yaml
from ansible.errors import AnsibleFilterError

_PREFIXES = ("", "ansible.builtin.", "ansible.legacy.")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _key(task, name):
    for prefix in _PREFIXES:
        if prefix + name in task:
            return task[prefix + name]
    return None


def _load(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return yaml.safe_load(handle) or []
    except OSError as error:
        raise AnsibleFilterError(f"caribix_deploy_packages: cannot read {path}: {error}") from error


class _Scanner:
    def __init__(self, roles_dir):
        self.roles_dir = roles_dir
        self.scanned = {}

    def role(self, name, tasks_from="main"):
        """The packages of a role's task file (and what it includes), with its dependencies'."""
        key = (name, tasks_from)
        if key in self.scanned:
            return self.scanned[key]
        self.scanned[key] = set()
        role_dir = os.path.join(self.roles_dir, name)
        if not os.path.isdir(role_dir):
            raise AnsibleFilterError(f"caribix_deploy_packages: no role {name} in {self.roles_dir}")
        found = set()
        meta = os.path.join(role_dir, "meta", "main.yml")
        if tasks_from == "main" and os.path.exists(meta):
            for dependency in (_load(meta) or {}).get("dependencies") or []:
                found |= self.role(dependency if isinstance(dependency, str)
                                   else dependency.get("role") or dependency["name"])
        found |= self.tasks(role_dir, name, f"{tasks_from}.yml", set())
        self.scanned[key] = found
        return found

    def defaults(self, role_dir):
        path = os.path.join(role_dir, "defaults", "main.yml")
        return (_load(path) or {}) if os.path.exists(path) else {}

    def names(self, role_dir, role, file, value):
        """Literal names, or an expression whose names are the lists of the role's defaults it
        uses (all of them, conditional ones included)."""
        if isinstance(value, str) and "{{" in value:
            defaults = self.defaults(role_dir)
            lists = [defaults[word] for word in _IDENTIFIER.findall(value)
                     if isinstance(defaults.get(word), list)
                     and all(isinstance(item, str) and "{" not in item for item in defaults[word])]
            if not lists:
                raise AnsibleFilterError(
                    f"caribix_deploy_packages: roles/{role}/tasks/{file}: caribix_packages' name {value!r} "
                    f"uses no list of package names from roles/{role}/defaults/main.yml")
            return {item for listed in lists for item in listed}
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not all(isinstance(item, str) and "{" not in item for item in values):
            raise AnsibleFilterError(
                f"caribix_deploy_packages: roles/{role}/tasks/{file}: caribix_packages' name must be "
                f"package names or an expression over lists of the role's defaults (got {value!r})")
        return set(values)

    def tasks(self, role_dir, role, file, seen):
        if file in seen:
            return set()
        seen.add(file)
        path = os.path.join(role_dir, "tasks", file)
        if not os.path.exists(path):
            raise AnsibleFilterError(f"caribix_deploy_packages: roles/{role}/tasks/{file} does not exist")
        return self.walk(_load(path), role_dir, role, file, seen)

    def walk(self, tasks, role_dir, role, file, seen):
        found = set()
        for task in tasks or []:
            if not isinstance(task, dict):
                continue
            packages = _key(task, "caribix_packages")
            if packages is not None:
                found |= self.names(role_dir, role, file, packages.get("name"))
            for section in ("block", "rescue", "always"):
                found |= self.walk(task.get(section), role_dir, role, file, seen)
            for include in ("include_tasks", "import_tasks"):
                target = _key(task, include)
                if target is not None:
                    target = target.get("file") if isinstance(target, dict) else target
                    if "{" in str(target):
                        # A templated file name: any of the role's task files.
                        for other in sorted(glob.glob(os.path.join(role_dir, "tasks", "*.yml"))):
                            found |= self.tasks(role_dir, role, os.path.basename(other), seen)
                    else:
                        found |= self.tasks(role_dir, role, target, seen)
            for include in ("include_role", "import_role"):
                target = _key(task, include)
                if target is not None:
                    found |= self.role(target["name"], target.get("tasks_from", "main"))
        return found


def _plays(path, seen):
    if path in seen:
        return []
    seen.add(path)
    plays = []
    for entry in _load(path):
        imported = _key(entry, "import_playbook")
        if imported is not None:
            plays += _plays(os.path.join(os.path.dirname(path), imported), seen)
        elif "hosts" in entry:
            plays.append(entry)
    return plays


def caribix_deploy_packages(playbook, roles_dir=None):
    """[{hosts, packages}] for each play of the playbook (imports followed) that installs Debian
    packages: the play's host pattern and every package its roles' caribix_packages tasks name
    (conditional ones included: what the island must hold to deploy it)."""
    roles_dir = roles_dir or os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(playbook))), "roles")
    scanner = _Scanner(roles_dir)
    needs = []
    for play in _plays(os.path.abspath(playbook), set()):
        found = set()
        for role in play.get("roles") or []:
            found |= scanner.role(role if isinstance(role, str) else role.get("role") or role["name"])
        for section in ("pre_tasks", "tasks", "post_tasks"):
            found |= scanner.walk(play.get(section), roles_dir, "(play)", playbook, set())
        if found:
            needs.append({"hosts": play["hosts"], "packages": sorted(found)})
    return needs


def _canonical(name):
    return re.sub(r"[-_.]+", "_", name).lower()


def caribix_wheelhouse_lacks(pins, directory):
    """The pins (name==version) no wheel in the directory provides."""
    wheels = {}
    for path in glob.glob(os.path.join(directory, "*.whl")):
        name, version = os.path.basename(path).split("-")[:2]
        wheels.setdefault(_canonical(name), set()).add(version)
    lacking = []
    for pin in pins:
        name, _, version = pin.partition("==")
        if version not in wheels.get(_canonical(name), set()):
            lacking.append(pin)
    return lacking


class FilterModule:
    def filters(self):
        return {"caribix_deploy_packages": caribix_deploy_packages,
                "caribix_wheelhouse_lacks": caribix_wheelhouse_lacks}
