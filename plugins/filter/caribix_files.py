"""Whether files and directories are already as a caribix_files run would leave them, from the
states caribix_file_states read: a task whose files are in place can be skipped without a module run."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError


def _mode(value):
    if value is None:
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value), 8)
    except ValueError as error:
        raise AnsibleFilterError(f"caribix_files_in_place: mode {value!r} is not octal") from error


def _attributes_match(state, item, owner, group, mode):
    wanted = {"owner": item.get("owner") or owner, "group": item.get("group") or group,
              "mode": _mode(item.get("mode") if item.get("mode") is not None else mode)}
    return all(value is None or (_mode(state["mode"]) if key == "mode" else state[key]) == value
               for key, value in wanted.items())


def caribix_files_in_place(states, files=(), directories=(), owner=None, group=None, mode=None):
    """True when every file has its content, owner, group and mode (the item's, else the defaults)
    and every directory exists with its attributes (mode 0755 unless given), as caribix_files does."""
    for item in directories:
        state = states.get(item["path"])
        if not state or state["type"] != "directory" or not _attributes_match(
                state, item, owner, group, item.get("mode") if item.get("mode") is not None else "0755"):
            return False
    for item in files:
        state = states.get(item["path"])
        if not state or state["type"] != "file" or state.get("content") != item["content"]:
            return False
        if not _attributes_match(state, item, owner, group, mode):
            return False
    return True


class FilterModule:
    def filters(self):
        return {"caribix_files_in_place": caribix_files_in_place}
