"""Ansible filter for the looking glass's IX-F URL: a thin wrapper over
caribix.ixf (the same export as caribix-ixf-export)."""

from __future__ import annotations

import os
from pathlib import Path

from ansible.errors import AnsibleFilterError

from caribix.ixf import build_export, export_text, schema_errors
from caribix.model import Island

# The repository these plugins belong to: where the caribix package finds
# schemas/ when it is installed as a wheel (the execution environment).
os.environ.setdefault("CARIBIX_REPOSITORY", str(Path(__file__).resolve().parents[2]))

HOST_VARIABLES = ("peering_ipv4", "peering_ipv6")


def caribix_ixf_export(exchange, members, hostvars, groups, previous=""):
    """The island's IX-F Member Export as JSON text; ``previous`` (the
    published file) is returned unchanged when only the timestamp would
    differ, so a second run changes nothing."""
    wanted = ("route_servers", "peering_switches")
    island = Island(
        inventory=Path("."),
        variables={"exchange": exchange, "members": list(members or [])},
        hosts={host: {name: hostvars[host][name] for name in HOST_VARIABLES if name in hostvars[host]} for group in wanted for host in groups.get(group, [])},
        groups={group: list(groups.get(group, [])) for group in wanted},
    )
    try:
        document = build_export(island)
    except (KeyError, TypeError, ValueError) as error:
        raise AnsibleFilterError(f"caribix_ixf_export: the island data is incomplete ({error!r}); run playbooks/validate.yml") from error
    problems = schema_errors(document)
    if problems:
        raise AnsibleFilterError("caribix_ixf_export: the export does not match the IX-F 1.0 schema: " + "; ".join(problems))
    return export_text(document, previous or None)


class FilterModule:
    def filters(self):
        return {"caribix_ixf_export": caribix_ixf_export}
