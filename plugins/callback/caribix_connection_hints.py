"""Say what to do when Ansible cannot reach or become root on a host.

SSH and sudo failures reach the engineer as raw ssh/sudo output, often
folded into a long message. This callback recognises the usual causes and
prints one line per failure naming the host, its address and user, and
the remedy (docs/production.md, "When a host cannot be reached"):

    HINT gp-rs1 (192.0.2.195): <what is wrong>: <what to do>

It only prints; the run fails as it would without it.
"""

from __future__ import annotations

import re

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: caribix_connection_hints
    type: aggregate
    short_description: Name the host and the remedy for SSH and sudo failures
    description:
      - Recognises unreachable hosts, unknown or changed SSH host keys, refused
        keys and refused sudo, and prints what to do.
    requirements:
      - enabled in ansible.cfg (callbacks_enabled)
"""

# (pattern in the failure text, what is wrong, what to do), first match wins.
HINTS: tuple[tuple[str, str, str], ...] = (
    (
        r"REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for .* has changed",
        "its SSH host key is not the one recorded in the island's known_hosts",
        "if the server was reinstalled, verify its new key out of band and replace its line in "
        "inventories/<island>/known_hosts.txt (caribix_ssh_known_hosts_file); otherwise stop: someone may be "
        "impersonating it",
    ),
    (
        r"Host key verification failed|No \S+ host key is known|host key is not known",
        "its SSH host key is not in the island's known_hosts",
        "add its key, verified out of band, to inventories/<island>/known_hosts.txt (caribix_ssh_known_hosts_file; "
        "docs/production.md)",
    ),
    (
        r"Permission denied \(publickey|Too many authentication failures|no mutual signature",
        "the deploy user refused our SSH key",
        "install your public key for the deploy user on the host (caribix_deploy_user), or load the right "
        "key into ssh-agent / set ansible_ssh_private_key_file",
    ),
    (
        r"Missing sudo password|a password is required|is not in the sudoers file|not allowed to execute|"
        r"Incorrect sudo password|sudo: a terminal is required",
        "the deploy user may not use sudo",
        "give the deploy user passwordless sudo on the host (docs/production.md), or run with --ask-become-pass",
    ),
    (
        r"Connection refused|Connection timed out|timed out|No route to host|Could not resolve hostname|"
        r"Network is unreachable|Connection closed by|kex_exchange_identification",
        "it cannot be reached over SSH",
        "check that it is up and sshd runs, its management address (host_vars/<host>.yml: management_ipv4 "
        "or management_dns_name), the firewall between you, and the bastion (caribix_ssh_bastion)",
    ),
)


def hint_for(text: str) -> tuple[str, str] | None:
    """The (problem, remedy) pair for a failure's text, if one is known."""
    for pattern, problem, remedy in HINTS:
        if re.search(pattern, text):
            return problem, remedy
    return None


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "caribix_connection_hints"
    CALLBACK_NEEDS_ENABLED = True

    def _hint(self, result, unreachable: bool) -> None:
        outcome = result._result
        text = " ".join(str(outcome.get(key, "")) for key in ("msg", "module_stderr", "stderr", "module_stdout"))
        found = hint_for(text)
        if found is None:
            return
        problem, remedy = found
        # Sudo trouble shows as a failed task, and so does a host that
        # wait_for_connection could not reach; the rest only as unreachable.
        if not unreachable and problem != "the deploy user may not use sudo" and "Failed to connect to the host" not in text:
            return
        # ssh names the address it tried ("connect to host A port P", "for A"):
        # the inventory's ansible_host is a template not rendered here.
        address = re.search(r"connect to host (\S+) port (\d+)|Host key for (\S+) has changed|host (\S+) port", text)
        at = next((group for group in address.groups() if group), "") if address else ""
        name = result._host.get_name()
        where = f" ({at})" if at and at != name else ""
        self._display.display(f"HINT {name}{where}: {problem}: {remedy}", color="bright red", stderr=True)

    def v2_runner_on_unreachable(self, result):
        self._hint(result, unreachable=True)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if not ignore_errors:
            self._hint(result, unreachable=False)
