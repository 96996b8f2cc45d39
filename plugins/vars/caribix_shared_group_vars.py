"""Load the repository's root ``group_vars/`` for every island inventory.

Ansible reads ``group_vars/`` only beside the inventory or the playbook.
Our shared defaults live once, at the repository root, and each island's
inventory overrides only what differs, so they must rank *below* the
island's own ``group_vars/``. Ansible merges vars plugins in the order it
discovered them, not the order they are enabled, so one plugin does both
reads in a fixed order: root ``group_vars/`` first, then the inventory's
own ``group_vars/`` and ``host_vars/`` (later wins). It runs at the
inventory stage only and replaces ``host_group_vars``: at the playbook
stage, ``group_vars/`` beside a playbook, or beside the current directory
for ad-hoc commands run from the root, would rank above the island.
"""

from __future__ import annotations

import os

from ansible.errors import AnsibleParserError
from ansible.plugins.vars.host_group_vars import VarsModule as HostGroupVars
from ansible.utils.vars import combine_vars

DOCUMENTATION = """
    name: caribix_shared_group_vars
    short_description: Load the repository root group_vars/ for every inventory
    description:
      - Reads C(group_vars/) at the root of the CaribIX repository (the
        directory holding this plugin's C(plugins/) folder), whatever
        inventory is used, then the inventory's own group_vars and
        host_vars, which override it.
    options:
      stage:
        default: inventory
        ini:
          - key: stage
            section: vars_caribix_shared_group_vars
        env:
          - name: ANSIBLE_VARS_PLUGIN_STAGE
    extends_documentation_fragment:
      - vars_plugin_staging
"""

REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Where the caribix package finds schemas/ when installed as a wheel (the EE).
os.environ.setdefault("CARIBIX_REPOSITORY", REPOSITORY_ROOT)


class VarsModule(HostGroupVars):
    """host_group_vars over the repository root, then over the inventory."""

    REQUIRES_ENABLED = True

    _checked: set[str] = set()

    def check_files(self, path):
        """Stop at a YAML error with its file and line (Ansible's own
        message names neither), and at a key given twice in a mapping
        (Ansible would keep the last one with a warning)."""
        if path in self._checked:
            return
        self._checked.add(path)
        from pathlib import Path

        from caribix.model import syntax_problems

        for root in (REPOSITORY_ROOT, path):
            problems = syntax_problems(Path(root))
            if problems:
                raise AnsibleParserError(
                    f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in the inventory's YAML files, nothing was changed:\n"
                    + "\n".join(f"{number:>3}. {problem}" for number, problem in enumerate(problems, start=1))
                )

    def get_vars(self, loader, path, entities, cache=True):
        self.check_files(path)
        # Only groups come from the root: host_vars stay with the island
        # that owns the host.
        groups = [entity for entity in entities if not hasattr(entity, "get_groups")]
        shared = super().get_vars(loader, REPOSITORY_ROOT, groups, cache=cache) if groups else {}
        own = super().get_vars(loader, path, entities, cache=cache)
        return combine_vars(shared, own)
