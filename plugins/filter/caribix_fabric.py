"""Ansible filters for the fabric roles: thin wrappers over caribix.fabric."""

from __future__ import annotations

from pathlib import Path

from ansible.errors import AnsibleFilterError

from caribix.fabric import FabricError, build_fabric, exchange_hosts_of, load_island, sflow_collector_of, switch_model, whitebox_config
from caribix.fabric_render import eos_stale_lines, render_switch


def caribix_fabric_switch_model(
    exchange, members, switch, switch_vars, inter_island_links=None, inventories_dir=None, vtep_addresses=None, sflow_collector=None,
    exchange_hosts=None,
):
    """The fabric model as one switch sees it (see caribix.fabric.build_fabric).

    ``switch_vars`` are the switch's host_vars (switch_platform,
    switch_ports, management_ipv4). Remote islands a link of this switch
    reaches are read from ``inventories_dir`` (their members' MACs for a
    bridged link, the far switch's address for the tunnel).
    ``exchange_hosts``: the island's own hosts on the peering LAN
    (:func:`caribix_exchange_hosts`).
    """
    try:
        remotes = {}
        for link in inter_island_links or []:
            if link.get("local_switch") != switch or not inventories_dir:
                continue
            island = str(link.get("remote_island"))
            if (Path(inventories_dir) / island).is_dir():
                remotes[island] = load_island(inventories_dir, island)
        own_links = [link for link in inter_island_links or [] if link.get("local_switch") == switch]
        fabric = build_fabric(
            exchange,
            members,
            {switch: dict(switch_vars)},
            own_links,
            remote_islands=remotes,
            vtep_addresses=dict(vtep_addresses or {}),
            partial=True,
            sflow_collector=sflow_collector or None,
            exchange_hosts=list(exchange_hosts or []),
        )
        return switch_model(fabric, switch)
    except FabricError as error:
        raise AnsibleFilterError(f"caribix_fabric_switch_model: {error}") from error


def caribix_exchange_hosts(hostvars, groups):
    """The exchange's own hosts with a peering port (caribix.fabric.exchange_hosts_of)."""
    return exchange_hosts_of(hostvars, {group: list(hosts) for group, hosts in groups.items() if group not in ("all", "ungrouped")})


def caribix_sflow_collector(hostvars, groups):
    """The island's sFlow collector address (caribix.fabric.sflow_collector_of)."""
    return sflow_collector_of(hostvars, dict(groups))


def caribix_fabric_whitebox(model, vxlan_port=4789):
    """Bridge state, nftables policy data and counter labels for a whitebox switch."""
    try:
        return whitebox_config(model, vxlan_port=int(vxlan_port))
    except FabricError as error:
        raise AnsibleFilterError(f"caribix_fabric_whitebox: {error}") from error


def caribix_fabric_render(model, platform):
    """A vendor switch configuration (eos, junos) rendered from the model."""
    try:
        return render_switch(model, platform)
    except FabricError as error:
        raise AnsibleFilterError(f"caribix_fabric_render: {error}") from error


def caribix_eos_stale_lines(running, intended, vlan_id):
    """``no`` lines for the peering VLAN's static MACs and IP source
    bindings that the switch has and the rendered config does not."""
    return eos_stale_lines(str(running), str(intended), int(vlan_id))


class FilterModule:
    def filters(self):
        return {
            "caribix_fabric_switch_model": caribix_fabric_switch_model,
            "caribix_exchange_hosts": caribix_exchange_hosts,
            "caribix_sflow_collector": caribix_sflow_collector,
            "caribix_fabric_whitebox": caribix_fabric_whitebox,
            "caribix_fabric_render": caribix_fabric_render,
            "caribix_eos_stale_lines": caribix_eos_stale_lines,
        }
