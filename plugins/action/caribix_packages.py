"""caribix_packages: Debian packages present, asking dpkg once per host and run.

``ansible.builtin.apt`` loads the whole package cache on the host for every
task, even when everything is installed: two to four seconds a role and host
on our two-core controller, in every no-op rerun (docs/performance.md). This
action asks ``dpkg-query`` once per host and run (one command, no module),
keeps the answer as a fact, and runs ``apt`` only for the packages missing
from it, with the task's apt options. A package removed by hand is missing
from dpkg's answer at the next run, so drift is still repaired.
"""

from __future__ import annotations

import shlex

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

# The fact that holds the installed packages (names dpkg reports as "ii").
FACT = "caribix_packages_installed"
# name, and the apt options passed on when something is missing.
ARGUMENT_SPEC = {
    "name": {"type": "list", "elements": "str", "required": True},
    "update_cache": {"type": "bool"},
    "cache_valid_time": {"type": "int"},
    "install_recommends": {"type": "bool"},
}
DPKG_QUERY = "dpkg-query -W -f='${db:Status-Abbrev} ${Package}\\n'"


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        # Ansible's own argument check: a wrong or unknown option fails the
        # task with Ansible's usual message.
        _, args = self.validate_argument_spec(ARGUMENT_SPEC)
        names = args.pop("name")
        args = {key: value for key, value in args.items() if value is not None}

        installed = task_vars.get(FACT)
        if installed is None:
            answer = self._low_level_execute_command(DPKG_QUERY)
            if answer.get("rc") not in (0, 1):  # 1: some package dpkg knows of is not installed
                raise AnsibleActionFail(f"caribix_packages: dpkg-query failed: {answer.get('stderr', '').strip()}")
            rows = (line.split() for line in answer.get("stdout", "").splitlines())
            installed = sorted(row[1] for row in rows if len(row) == 2 and row[0] == "ii")
        have = set(installed)
        missing = [name for name in names if name not in have]
        result.update(changed=False, missing=missing)
        if missing:
            apt = self._execute_module(
                module_name="ansible.builtin.apt",
                module_args={"name": missing, "state": "present", **args},
                task_vars=task_vars,
            )
            if apt.get("failed"):
                apt.setdefault("msg", f"apt could not install {' '.join(shlex.quote(n) for n in missing)}")
                return apt
            result["changed"] = bool(apt.get("changed"))
            for key in ("stdout", "stderr", "diff"):
                if key in apt:
                    result[key] = apt[key]
            if not self._play_context.check_mode:
                installed = sorted(set(installed) | set(missing))
        result["ansible_facts"] = {FACT: installed}
        return result
