#!/usr/bin/python
# Read the files a role manages in one module run, so that the controller
# can tell which of the role's writes would change nothing and skip them
# (filter caribix_files_in_place): a role that writes its files in several
# tasks pays one remote run per host instead of one per task.
from __future__ import annotations

DOCUMENTATION = r"""
---
module: caribix_file_states
short_description: Report the content, owner, group and mode of the files matching some patterns
description:
  - Read-only; supports check mode. Regular files are reported with their text content (C(null) if it
    is not UTF-8 or larger than 1 MiB); directories with their attributes only.
options:
  patterns:
    description: Absolute paths or shell patterns (glob) of the files and directories to report.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Read the firewall's files in place
  caribix_file_states:
    patterns: [/etc/nftables.conf, /etc/nftables.d, /etc/nftables.d/*.nft]
  register: in_place
"""

RETURN = r"""
files:
  description: Path to its state (type, content, owner, group, mode as 4 octal digits).
  type: dict
  returned: always
"""

import glob
import grp
import os
import pwd
import stat

from ansible.module_utils.basic import AnsibleModule

LARGEST = 1 << 20


def name_of(lookup, number):
    try:
        return lookup(number)[0]
    except KeyError:
        return str(number)


def state_of(path):
    info = os.lstat(path)
    kind = "directory" if stat.S_ISDIR(info.st_mode) else "file" if stat.S_ISREG(info.st_mode) else "other"
    state = {"type": kind, "owner": name_of(pwd.getpwuid, info.st_uid), "group": name_of(grp.getgrgid, info.st_gid),
             "mode": "%04o" % stat.S_IMODE(info.st_mode)}
    if kind == "file":
        content = None
        if info.st_size <= LARGEST:
            with open(path, "rb") as handle:
                try:
                    content = handle.read().decode("utf-8")
                except UnicodeDecodeError:
                    pass
        state["content"] = content
    return state


def main():
    module = AnsibleModule(argument_spec={"patterns": {"type": "list", "elements": "str", "required": True}},
                           supports_check_mode=True)
    files = {}
    for pattern in module.params["patterns"]:
        if not os.path.isabs(pattern):
            module.fail_json(msg=f"{pattern}: patterns must be absolute")
        for path in glob.glob(pattern):
            files[path] = state_of(path)
    module.exit_json(changed=False, files=files)


if __name__ == "__main__":
    main()
