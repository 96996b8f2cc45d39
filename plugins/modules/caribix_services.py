"""Documentation for the caribix_services action plugin (plugins/action/)."""

DOCUMENTATION = r"""
---
module: caribix_services
short_description: systemd units running and enabled, asked about in one command
description:
  - Asks systemd about every unit in one C(systemctl show); reloads systemd
    when it reports a unit file changed on disk or a unit not loaded yet;
    then enables and starts only the units that are not.
  - Fails, naming them, when units do not exist on the host.
  - Supports check mode (reports what it would do).
options:
  name:
    description: A unit name or a list of them (C(.service) may be left out).
    type: list
    elements: str
    required: true
author:
  - CaribIX network automation
"""

EXAMPLES = r"""
- name: Keep chrony and the SSH daemon running
  caribix_services:
    name: [chrony, ssh]
"""

RETURN = r"""
daemon_reloaded: {description: Whether systemd was (or would be) reloaded., type: bool, returned: always}
enabled: {description: The units enabled (or that would be)., type: list, returned: always}
started: {description: The units started (or that would be)., type: list, returned: always}
"""
