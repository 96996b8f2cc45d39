"""Validate the island data from the variables Ansible has merged.

A thin wrapper: the checks live in caribix.validate (unit-tested). This
plugin gathers what they need - the ``all`` group's data-model variables,
each host's addresses, the groups, the vault keys - and fails once with
the numbered list of every problem. It runs on the controller only and
touches no host.
"""

from __future__ import annotations

import os
from pathlib import Path

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from caribix.model import POLICY_DEFAULTS, Island, load_siblings, placement_problems
from caribix.validate import definition, format_report, validate_island

# The repository these plugins belong to: where the caribix package finds
# schemas/ when it is installed as a wheel (the execution environment).
os.environ.setdefault("CARIBIX_REPOSITORY", str(Path(__file__).resolve().parents[2]))

# Variables of the data model read from the ``all`` group.
ISLAND_VARIABLES = (
    "caribix_lab_mode",
    "exchange",
    "members",
    "inter_island_links",
    "caribix_member_port_speeds",
    "caribix_max_prefix_ceiling",
    "caribix_member_extra_fields",
    # Decrypted in memory only: validation needs to see an empty password.
    "vault_bgp_passwords",
)
# A host's own data-model variables: those the schema describes.
HOST_VARIABLES = tuple(definition("host")["properties"])


def plain(value):
    """Ansible's tagged/lazy containers as plain Python values."""
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, bool) or value is None:
        return value
    for kind in (int, float, str):
        if isinstance(value, kind):
            return kind(value)
    return value


class ActionModule(ActionBase):
    """caribix_validate_inventory: fail with every data-model problem."""

    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        inventory_dir = task_vars.get("inventory_dir")
        if not inventory_dir:
            raise AnsibleActionFail("No inventory: run with -i inventories/<island>")
        inventory = Path(inventory_dir)
        if (inventory / "group_vars").is_symlink():
            # A generated inventory (Molecule's) linking an island's
            # group_vars: the island is the directory they live in.
            inventory = (inventory / "group_vars").resolve().parent
        if not (inventory / "group_vars" / "all" / "exchange.yml").is_file():
            # An inventory AWX imported (a script in /runner/inventory,
            # docs/awx.md): the island's directory in the project, by name.
            island_name = str((task_vars.get("exchange") or {}).get("island", ""))
            inventory = Path(__file__).resolve().parents[2] / "inventories" / island_name

        variables = dict(POLICY_DEFAULTS)
        for name in ISLAND_VARIABLES:
            if name in task_vars:
                variables[name] = plain(self._templar.template(task_vars[name]))
        groups = {str(group): [str(host) for host in hosts] for group, hosts in task_vars.get("groups", {}).items()}
        hostvars = task_vars.get("hostvars", {})
        hosts = {}
        for host in groups.get("all", []):
            host_vars = hostvars[host]
            hosts[host] = {name: plain(host_vars[name]) for name in HOST_VARIABLES if name in host_vars}

        # What merged variables cannot show: a data-model variable set in a
        # second file or for one host, a vault committed decrypted.
        island = Island(inventory=inventory, variables=variables, hosts=hosts, groups=groups, load_errors=placement_problems(inventory))
        passwords = task_vars.get("vault_bgp_passwords") or {}
        vault_keys = {str(key) for key in passwords} if hasattr(passwords, "keys") else set()
        errors = validate_island(island, load_siblings(inventory), vault_keys)

        result["changed"] = False
        report = format_report(errors, island.inventory.name)
        if errors:
            result["failed"] = True
        result["msg"] = report
        return result
