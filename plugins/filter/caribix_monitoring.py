"""Ansible filters for the monitoring role: thin wrappers over caribix.monitoring."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from caribix.monitoring import MonitoringDataError, monitoring_targets


def caribix_monitoring_targets(hostvars, groups, exchange, members, node_port=9100, bird_port=9324):
    """Scrape targets, probes, labels and the MAC map of one island (see caribix.monitoring)."""
    try:
        return monitoring_targets(hostvars, groups, exchange, members, node_port=int(node_port), bird_port=int(bird_port))
    except MonitoringDataError as error:
        raise AnsibleFilterError(f"caribix_monitoring_targets: {error}") from error


class FilterModule:
    def filters(self):
        return {"caribix_monitoring_targets": caribix_monitoring_targets}
