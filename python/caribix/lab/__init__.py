"""The island lab: containers, cables and the health summary (scripts/lab.sh).

Everything is derived from the island inventory as Ansible merges it
(``ansible-inventory -i inventories/<island> --list``): the hosts and their
addresses, the exchange, the members. Nothing here repeats island data.

The lab of an island is:

* one systemd container per inventory host (``caribix-lab-<host>``) on the
  island's management network (a Docker network with the island's
  ``exchange.management_lan.ipv4``, hosts at their ``management_ipv4``);
* one systemd container per member router (``caribix-lab-<island>-as<asn>``)
  on the same network, with an address from the upper half of the
  management LAN (Docker's ``--ip-range``: never a host's address);
* the peering LAN, made of cables, never of a Docker network: a veth pair
  per member, the member's ``eth1`` to the switch container's port named as
  the member's ``port`` (swpN), so every member frame crosses the switch's
  port security (roles/fabric_whitebox); and likewise a veth for each host
  with a ``peering_ipv4`` (route servers, monitoring), from the port its
  host_vars name (``peering_switch``/``peering_port``) to its ``eth1``, with
  its ``peering_mac``: the exchange's own hosts sit on filtered ports too.

CLI (root, on the controller; ``-`` reads the inventory JSON from stdin)::

    python -m caribix.lab plan INVENTORY.json ISLAND      # what the lab is (JSON)
    python -m caribix.lab cable INVENTORY.json ISLAND     # make/fix cables, idempotent
    python -m caribix.lab health INVENTORY.json ISLAND    # the health summary

Modules: ``plan`` (what the lab is), ``newcomer`` (the member-change
rerun's extra member), ``cabling`` (the veth cables), ``health`` (the
summary), ``cli``. The names below are the package's interface.
"""

from caribix.lab.cabling import Cabler, Runner, run_command
from caribix.lab.cli import main, with_extra_vars
from caribix.lab.health import (
    established,
    format_health,
    health,
    healthy,
    parse_bgp_protocols,
    parse_route_counts,
)
from caribix.lab.newcomer import NEWCOMER_ASNS, newcomer
from caribix.lab.plan import (
    LAB_SFLOW_SAMPLING_RATE,
    PEERING_IFNAME,
    PREFIX,
    PROMETHEUS_PORT,
    UNDERLAY_NETWORK,
    UNDERLAY_SUBNET,
    Lab,
    LabError,
    LabHost,
    LabMember,
    build_lab,
    host_container,
    member_container,
    member_ip_range,
    underlay_address,
    vtep_addresses,
)
