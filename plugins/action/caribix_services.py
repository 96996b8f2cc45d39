"""caribix_services: systemd units running and enabled, in one or two commands.

``ansible.builtin.systemd_service`` is a module run per unit (its Python on
the host, a round trip each), and with ``daemon_reload: true`` it reloads
systemd every time. A no-op rerun pays that for every service of every
host (docs/performance.md). This action asks systemd about all of a role's
units in one ``systemctl show`` and acts only on what is off: a reload when
systemd says a unit file changed on disk (``NeedDaemonReload``) or a unit is
not loaded yet, then ``enable`` and ``start`` for the units that need them.
A unit systemd gave up on (failed, often at its start limit after crashing
with the package's defaults, before our configuration was written) has its
failure reset first, so that it starts with the configuration now in place.
"""

from __future__ import annotations

import re
import shlex

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

PROPERTIES = "Id,LoadState,ActiveState,UnitFileState,NeedDaemonReload"
# Unit-file states that need no `systemctl enable` (started by another unit,
# or made at boot).
ENABLED = {"enabled", "enabled-runtime", "static", "indirect", "generated", "alias", "transient", "linked", "linked-runtime"}
RUNNING = {"active", "activating", "reloading"}


ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def parse_show(text: str, count: int) -> list[dict[str, str]]:
    """`systemctl show` of ``count`` units: one property block per unit, in
    the order asked (carriage returns and colour codes of a terminal
    dropped)."""
    text = ANSI.sub("", text.replace("\r", "")).strip()
    states = [dict(line.split("=", 1) for line in block.splitlines() if "=" in line) for block in text.split("\n\n")]
    if len(states) != count:
        raise AnsibleActionFail(f"caribix_services: systemctl show answered {len(states)} units for {count}: {text!r}")
    return states


def needs(units: list[str], states: list[dict[str, str]]) -> dict:
    """What the units need: a daemon reload, and which are missing, to
    enable, failed (to reset before the start), to start."""
    missing = [u for u, s in zip(units, states) if s.get("LoadState") != "loaded"]
    return {
        "reload": any(s.get("NeedDaemonReload") == "yes" or s.get("LoadState") == "not-found" for s in states),
        "missing": missing,
        "enable": [u for u, s in zip(units, states) if u not in missing and s.get("UnitFileState") not in ENABLED],
        "failed": [u for u, s in zip(units, states) if u not in missing and s.get("ActiveState") == "failed"],
        "start": [u for u, s in zip(units, states) if u not in missing and s.get("ActiveState") not in RUNNING],
    }


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def _systemctl(self, arguments: str) -> dict:
        # Plain text whatever the connection: over SSH with a terminal
        # (sudo may need one) systemctl would add colours and a pager.
        answer = self._low_level_execute_command(f"env SYSTEMD_COLORS=0 SYSTEMD_PAGER=cat systemctl --no-pager {arguments}")
        if answer.get("rc") != 0:
            raise AnsibleActionFail(f"caribix_services: systemctl {arguments} failed: {(answer.get('stderr') or answer.get('stdout') or '').strip()}")
        return answer

    def _states(self, units: list[str]) -> list[dict[str, str]]:
        answer = self._systemctl(f"show --property={PROPERTIES} " + " ".join(shlex.quote(u) for u in units))
        return parse_show(answer.get("stdout", ""), len(units))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        # Ansible's own argument check: a wrong or unknown option fails the
        # task with Ansible's usual message.
        _, args = self.validate_argument_spec({"name": {"type": "list", "elements": "str", "required": True}})
        units = args["name"]
        check = self._play_context.check_mode
        wanted = needs(units, self._states(units))
        reloaded = wanted["reload"]
        if reloaded and not check:
            self._systemctl("daemon-reload")
            wanted = needs(units, self._states(units))
        if wanted["missing"] and not check:
            raise AnsibleActionFail(f"caribix_services: no such unit on this host: {', '.join(wanted['missing'])}")
        enable, start = wanted["enable"], wanted["start"]
        if not check:
            if enable:
                self._systemctl("enable " + " ".join(shlex.quote(u) for u in enable))
            if wanted["failed"]:
                self._systemctl("reset-failed " + " ".join(shlex.quote(u) for u in wanted["failed"]))
            if start:
                names = " ".join(shlex.quote(u) for u in start)
                try:
                    self._systemctl("start " + names)
                except AnsibleActionFail as error:
                    raise AnsibleActionFail(f"{error} (the units' own messages: journalctl -u on the host: {names})") from error
        result.update(changed=bool(reloaded or enable or start), daemon_reloaded=reloaded, enabled=enable, started=start)
        return result
