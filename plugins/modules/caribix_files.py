#!/usr/bin/python
# Write the small files of one service in one module run, instead of one
# copy task (two or three round trips to the host) per file: the member
# path and a no-op rerun pay per module run (docs/performance.md).
from __future__ import annotations

DOCUMENTATION = r"""
---
module: caribix_files
short_description: Write several small files of one service in one module run
description:
  - Writes each file whose content differs, atomically (a temporary file in
    the same directory, then a rename), and sets its owner, group and mode.
  - Optionally removes the files of a directory that match a pattern and are
    not in the list (the files of members that left).
  - Supports check mode and diff (one diff per file). Use no_log on a task
    whose files hold secrets.
options:
  directories:
    description:
      - Directories made (in the order given; missing parents as with C(mkdir -p)) and given their
        owner, group and mode before any file is written.
    type: list
    elements: dict
    default: []
    suboptions:
      path: {description: Absolute path., type: path, required: true}
      owner: {description: Owner (default the module's owner)., type: str}
      group: {description: Group (default the module's group)., type: str}
      mode: {description: Mode (default C(0755))., type: raw}
  files:
    description: The files, each a path and its full content.
    type: list
    elements: dict
    default: []
    suboptions:
      path: {description: Absolute path; its directory must exist., type: path, required: true}
      content: {description: The file's whole content., type: str, required: true}
      owner: {description: Owner (default the module's owner)., type: str}
      group: {description: Group (default the module's group)., type: str}
      mode: {description: Mode (default the module's mode)., type: raw}
      validate:
        description:
          - A command that checks the new content before it replaces the file (%s is the new file);
            a failure changes nothing. Not run in check mode.
        type: str
      diff:
        description: Whether --diff shows this file's content (false for a large file; a one-line note instead).
        type: bool
        default: true
  owner: {description: Default owner of the files., type: str}
  group: {description: Default group of the files., type: str}
  mode: {description: Default mode of the files., type: raw}
  prune_dir:
    description: Remove the regular files of this directory that match prune_patterns and are not in files.
    type: path
  prune_patterns:
    description: Shell patterns of the file names prune_dir may lose.
    type: list
    elements: str
    default: ["*"]
  prune_keep:
    description: Files of prune_dir kept besides those in files (a second task can prune what a first one wrote).
    type: list
    elements: path
    default: []
"""

EXAMPLES = r"""
- name: Write the scrape targets
  caribix_files:
    files:
      - {path: /etc/prometheus/file_sd/node.json, content: "{{ targets.node | to_nice_json }}\n"}
      - {path: /etc/prometheus/file_sd/bird.json, content: "{{ targets.bird | to_nice_json }}\n"}
    owner: root
    group: root
    mode: "0644"
"""

RETURN = r"""
directories:
  description: The directories made or whose attributes changed (or would, in check mode).
  type: list
  returned: always
written:
  description: The files whose content or attributes changed (or would change, in check mode).
  type: list
  returned: always
removed:
  description: The files removed by prune_dir (or that would be removed).
  type: list
  returned: always
"""

import fnmatch
import os
import shlex
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_text


def read(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def make_directory(module, item):
    """One directory in place with its attributes; True when it changed."""
    path = item["path"]
    changed = False
    if not os.path.isdir(path):
        if os.path.lexists(path):
            module.fail_json(msg=f"{path}: exists and is not a directory")
        changed = True
        if module.check_mode:
            return True
        # Missing parents are made as mkdir -p would (the umask's mode).
        os.makedirs(path)
    attributes = {
        "owner": item.get("owner") or module.params["owner"],
        "group": item.get("group") or module.params["group"],
        "mode": item.get("mode") if item.get("mode") is not None else "0755",
    }
    return module.set_fs_attributes_if_different(module.load_file_common_arguments(attributes, path=path), changed)


def write_one(module, item):
    path = item["path"]
    owner = item.get("owner") or module.params["owner"]
    group = item.get("group") or module.params["group"]
    mode = item.get("mode") if item.get("mode") is not None else module.params["mode"]
    wanted = to_bytes(item["content"], errors="surrogate_or_strict")
    directory = os.path.dirname(path)
    if not os.path.isdir(directory) and not module.check_mode:
        module.fail_json(msg=f"{path}: directory {directory} does not exist")
    current = read(path)
    diff = None
    changed = current != wanted
    if changed:
        if item.get("diff", True):
            diff = {
                "before_header": path, "after_header": path,
                "before": to_text(current or b"", errors="surrogate_or_replace"),
                "after": to_text(wanted, errors="surrogate_or_replace"),
            }
        else:
            diff = {"before_header": path, "after_header": path,
                    "before": "", "after": f"(content not shown: {len(wanted)} bytes)\n"}
        if not module.check_mode:
            handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.")
            with os.fdopen(handle, "wb") as out:
                out.write(wanted)
            if item.get("validate"):
                if "%s" not in item["validate"]:
                    os.unlink(temporary)
                    module.fail_json(msg=f"{path}: validate must contain %s (the new file)")
                rc, out, err = module.run_command(shlex.split(item["validate"] % shlex.quote(temporary)))
                if rc != 0:
                    os.unlink(temporary)
                    module.fail_json(msg=f"{path}: the new content failed validation ({item['validate']}): {err or out}",
                                     rc=rc, stdout=out, stderr=err)
            module.atomic_move(temporary, path)
    # A file that check mode did not write has no attributes to compare yet.
    if os.path.exists(path):
        changed = module.set_fs_attributes_if_different(
            module.load_file_common_arguments({"owner": owner, "group": group, "mode": mode}, path=path), changed)
    return changed, diff


def prune(module, wanted_paths):
    directory = module.params["prune_dir"]
    removed = []
    if not directory or not os.path.isdir(directory):
        return removed, []
    diffs = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if path in wanted_paths or not os.path.isfile(path) or os.path.islink(path):
            continue
        if not any(fnmatch.fnmatch(name, pattern) for pattern in module.params["prune_patterns"]):
            continue
        removed.append(path)
        diffs.append({"before_header": path, "after_header": path, "before": "state: present\n", "after": "state: absent\n"})
        if not module.check_mode:
            os.unlink(path)
    return removed, diffs


def main():
    module = AnsibleModule(
        argument_spec={
            "directories": {
                "type": "list", "elements": "dict", "default": [],
                "options": {"path": {"type": "path", "required": True}, "owner": {"type": "str"},
                            "group": {"type": "str"}, "mode": {"type": "raw"}},
            },
            "files": {
                "type": "list", "elements": "dict", "default": [],
                "options": {
                    "path": {"type": "path", "required": True},
                    "content": {"type": "str", "required": True},
                    "owner": {"type": "str"},
                    "group": {"type": "str"},
                    "mode": {"type": "raw"},
                    "validate": {"type": "str"},
                    "diff": {"type": "bool", "default": True},
                },
            },
            "owner": {"type": "str"},
            "group": {"type": "str"},
            "mode": {"type": "raw"},
            "prune_dir": {"type": "path"},
            "prune_patterns": {"type": "list", "elements": "str", "default": ["*"]},
            "prune_keep": {"type": "list", "elements": "path", "default": []},
        },
        supports_check_mode=True,
    )
    written, diffs = [], []
    paths = [item["path"] for item in module.params["files"]]
    duplicates = sorted({path for path in paths if paths.count(path) > 1})
    if duplicates:
        module.fail_json(msg=f"the same file is listed twice: {', '.join(duplicates)}")
    directories = []
    for item in module.params["directories"]:
        if make_directory(module, item):
            directories.append(item["path"])
            diffs.append({"before_header": item["path"], "after_header": item["path"],
                          "before": "", "after": "directory (made, or owner/group/mode set)\n"})
    for item in module.params["files"]:
        changed, diff = write_one(module, item)
        if changed:
            written.append(item["path"])
        if diff:
            diffs.append(diff)
    removed, removed_diffs = prune(module, set(paths) | set(module.params["prune_keep"]))
    module.exit_json(changed=bool(directories or written or removed), directories=directories, written=written,
                     removed=removed, diff=diffs + removed_diffs)


if __name__ == "__main__":
    main()
