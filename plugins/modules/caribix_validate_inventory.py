"""Documentation for the caribix_validate_inventory action plugin.

The work is done on the controller by plugins/action/; this file only
documents the task for ansible-doc and ansible-lint.
"""

DOCUMENTATION = r"""
---
module: caribix_validate_inventory
short_description: Check a CaribIX island's data before any host is touched
description:
  - Runs every check of C(caribix.validate) (schema, addresses, MACs,
    ports, ASNs and lab mode, vault references, inter-island links,
    overlaps with the other islands) on the variables Ansible merged
    for the island inventory in use.
  - Fails once with a numbered list of every problem; each names the
    file, the member or host, the field, what is wrong and what is
    expected.
  - Runs on the controller only.
options: {}
author:
  - CaribIX data-model engineering
"""

EXAMPLES = r"""
- name: Stop here if the island data is wrong
  caribix_validate_inventory:
  run_once: true
"""

RETURN = r"""
msg:
  description: The numbered list of every problem, or that the data is valid.
  returned: always
  type: str
"""
