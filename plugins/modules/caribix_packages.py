"""Documentation for the caribix_packages action plugin (plugins/action/)."""

DOCUMENTATION = r"""
---
module: caribix_packages
short_description: Debian packages present, asking dpkg once per host and run
description:
  - Asks C(dpkg-query) once per host and run which packages are installed
    (kept in the fact C(caribix_packages_installed)) and runs
    M(ansible.builtin.apt) only for the packages missing from that answer.
  - A package removed since the last run is missing from dpkg's answer, so
    it is installed again.
  - Supports check mode (apt's own) and diff.
options:
  name:
    description: A package name or a list of them.
    type: list
    elements: str
    required: true
  update_cache: {description: As in apt, only when something is missing., type: bool}
  cache_valid_time: {description: As in apt., type: int}
  install_recommends: {description: As in apt., type: bool}
author:
  - CaribIX network automation
"""

EXAMPLES = r"""
- name: Install the baseline packages
  caribix_packages:
    name: [chrony, openssh-server]
    update_cache: true
    cache_valid_time: 3600
"""

RETURN = r"""
missing:
  description: The packages dpkg did not report as installed (given to apt).
  type: list
  returned: always
"""
