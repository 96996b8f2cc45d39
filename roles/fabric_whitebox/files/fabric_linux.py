#!/usr/bin/python3
"""Linux whitebox switch agent: bridge/port/FDB reconciliation and metrics.

This file runs ON the switch (Debian, python3 standard library only: the
switch has no PyPI) and is copied there by the fabric_whitebox role; it
lives in the caribix package so the controller's unit tests exercise the
same code.

``apply`` turns the desired state (JSON rendered by Ansible from the fabric
model) into ``ip``/``bridge`` commands: only the commands that change
something, so running it twice does nothing the second time, and
``plan`` prints them without running (Ansible's check mode and its
idempotence both rest on that). ``sync`` is what the role runs: the
port-security policy loaded when asked to or when its table is missing,
then ``apply``, and one JSON line saying what it did (``--dry-run``: what
it would do). ``metrics`` turns nftables' named counters
into node_exporter textfile metrics and, with ``--tunnels``, says whether
each inter-island tunnel's far end answers over the underlay.

Desired state::

    {"bridges": [{"name": "br-gp-peering", "mtu": 1500, "ports": [
        {"name": "swp1", "macs": ["02:ca:00:01:00:10"]},
        {"name": "swp7", "macs": [...], "vxlan": {"id": 10203, "local": "..",
         "remote": "..", "port": 4789}}]}],
     "standalone": [{"name": "swp8", "mtu": 1500, "vxlan": {...}}]}

``standalone`` ports exist (a tunnel of an unbridged link) but belong to
no bridge: they carry nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

METRIC = "caribix_port_security_dropped_packets_total"
METRIC_BYTES = "caribix_port_security_dropped_bytes_total"
METRIC_LAST_RUN = "caribix_port_security_exporter_last_run_timestamp_seconds"
METRIC_PORT_ATTACHED = "caribix_fabric_port_attached"
METRIC_LINK_UP = "caribix_fabric_inter_island_link_up"
# A link is down when three echo requests in a row, 0.2 s apart, get no
# answer within a second: one lost packet is not a cut cable.
PING = ["ping", "-n", "-q", "-c", "3", "-i", "0.2", "-W", "1"]
# Per bridge port: no learning (static MACs only), no flooding of unknown
# unicast; broadcast and multicast still flood (ARP and ND need them; the
# nftables policy limits what remains).
PORT_FLAGS = {"learning": False, "flood": False, "mcast_flood": True}
# IEEE 802.1 link-local frames (01:80:c2:00:00:0X) other than STP, pause
# and LACP (which the kernel never lets through this mask) take the
# forwarding path, so the nftables policy sees, counts and drops them;
# otherwise the kernel hands LLDP & co. to the switch itself unseen.
GROUP_FWD_MASK = 0xFFF8
BRIDGE_OPTIONS = ["stp_state", "0", "mcast_snooping", "0", "group_fwd_mask", hex(GROUP_FWD_MASK)]


def _run_json(argv: list[str]) -> Any:
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    return json.loads(out) if out.strip() else []


def current_state() -> dict[str, Any]:
    links = _run_json(["ip", "-d", "-j", "link", "show"])
    fdb = _run_json(["bridge", "-j", "fdb", "show"])
    return {"links": links, "fdb": fdb}


def _vxlan_args(vxlan: dict[str, Any]) -> list[str]:
    return [
        "type",
        "vxlan",
        "id",
        str(vxlan["id"]),
        "local",
        str(vxlan["local"]),
        "remote",
        str(vxlan["remote"]),
        "dstport",
        str(vxlan.get("port", 4789)),
        # The far switch enforces its own port security; MACs behind the
        # tunnel are static entries on this side, never learned.
        "nolearning",
    ]


def _vxlan_matches(link: dict[str, Any], vxlan: dict[str, Any]) -> bool:
    info = link.get("linkinfo", {})
    data = info.get("info_data", {})
    return (
        info.get("info_kind") == "vxlan"
        and int(data.get("id", -1)) == int(vxlan["id"])
        and str(data.get("local")) == str(vxlan["local"])
        and str(data.get("remote")) == str(vxlan["remote"])
        and int(data.get("port", -1)) == int(vxlan.get("port", 4789))
    )


def _is_up(link: dict[str, Any]) -> bool:
    return "UP" in link.get("flags", [])


def plan(desired: dict[str, Any], state: dict[str, Any]) -> tuple[list[list[str]], list[str]]:
    """Commands that bring ``state`` to ``desired``, and warnings.

    A port that does not exist (no cable in the lab, a missing optic) is a
    warning, not an error: the rest of the fabric still comes up, and the
    port joins when the agent runs again.
    """
    links = {link["ifname"]: link for link in state.get("links", [])}
    commands: list[list[str]] = []
    warnings: list[str] = []

    def ensure_tunnel(name: str, vxlan: dict[str, Any]) -> bool:
        """Create or fix a VXLAN device; True when it is (re)created."""
        link = links.get(name)
        if link is not None and _vxlan_matches(link, vxlan):
            return False
        if link is not None:
            commands.append(["ip", "link", "del", "dev", name])
        commands.append(["ip", "link", "add", name] + _vxlan_args(vxlan))
        return True

    def ensure_mtu_up(name: str, mtu: int, fresh: bool) -> None:
        link = links.get(name, {})
        if fresh or link.get("mtu") != mtu:
            commands.append(["ip", "link", "set", "dev", name, "mtu", str(mtu)])
        if fresh or not _is_up(link):
            commands.append(["ip", "link", "set", "dev", name, "up"])

    wanted_fdb: set[tuple[str, str]] = set()
    bridge_names = set()
    for bridge in desired.get("bridges", []):
        name, mtu = bridge["name"], int(bridge["mtu"])
        bridge_names.add(name)
        link = links.get(name)
        fresh = link is None
        if fresh:
            commands.append(["ip", "link", "add", name, "type", "bridge"] + BRIDGE_OPTIONS)
        else:
            data = link.get("linkinfo", {}).get("info_data", {})
            # No STP: members are routers, BPDUs are dropped by policy.
            # No multicast snooping: ND's solicited-node multicast must
            # reach every port without MLD state.
            if (
                int(data.get("stp_state", 0)) != 0
                or int(data.get("mcast_snooping", 0)) != 0
                or int(str(data.get("group_fwd_mask", 0)), 0) != GROUP_FWD_MASK
            ):
                commands.append(["ip", "link", "set", "dev", name, "type", "bridge"] + BRIDGE_OPTIONS)
        ensure_mtu_up(name, mtu, fresh)

        wanted_ports = set()
        for port in bridge.get("ports", []):
            pname = port["name"]
            wanted_ports.add(pname)
            created = False
            if port.get("vxlan"):
                created = ensure_tunnel(pname, port["vxlan"])
            elif pname not in links:
                warnings.append(f"port {pname} does not exist: not attached to {name}")
                continue
            plink = {} if created else links.get(pname, {})
            ensure_mtu_up(pname, mtu, created)
            attached = not created and plink.get("master") == name
            if not attached:
                commands.append(["ip", "link", "set", "dev", pname, "master", name])
            slave = plink.get("linkinfo", {}).get("info_slave_data", {}) if attached else {}
            if any(bool(slave.get(flag, not want)) != want for flag, want in PORT_FLAGS.items()):
                commands.append(
                    ["bridge", "link", "set", "dev", pname]
                    + [item for flag, want in PORT_FLAGS.items() for item in (flag, "on" if want else "off")]
                )
            for mac in port.get("macs", []):
                wanted_fdb.add((mac.lower(), pname))

        for link in state.get("links", []):
            if link.get("master") == name and link["ifname"] not in wanted_ports:
                commands.append(["ip", "link", "set", "dev", link["ifname"], "nomaster"])

    for port in desired.get("standalone", []):
        pname = port["name"]
        created = ensure_tunnel(pname, port["vxlan"])
        link = {} if created else links.get(pname, {})
        if link.get("master"):
            commands.append(["ip", "link", "set", "dev", pname, "nomaster"])
        ensure_mtu_up(pname, int(port.get("mtu", 1500)), created)

    # Static FDB entries on our bridges: add the missing, remove the rest
    # (stale members, anything learned before learning was turned off).
    # Entries the kernel owns (permanent: the ports' own addresses) stay.
    present: set[tuple[str, str]] = set()
    for entry in state.get("fdb", []):
        if entry.get("master") not in bridge_names or entry.get("state") == "permanent":
            continue
        key = (entry["mac"].lower(), entry["ifname"])
        if key in wanted_fdb and entry.get("state") == "static":
            present.add(key)
        elif key not in wanted_fdb:
            commands.append(["bridge", "fdb", "del", entry["mac"], "dev", entry["ifname"], "master"])
    for mac, pname in sorted(wanted_fdb - present):
        commands.append(["bridge", "fdb", "replace", mac, "dev", pname, "master", "static"])
    return commands, warnings


def render_metrics(nft_json: dict[str, Any], counter_map: dict[str, dict[str, str]], now: float) -> str:
    """node_exporter textfile lines from ``nft -j list counters`` output."""
    values: dict[str, tuple[int, int]] = {}
    for item in nft_json.get("nftables", []):
        counter = item.get("counter")
        if counter and counter.get("name") in counter_map:
            values[counter["name"]] = (int(counter.get("packets", 0)), int(counter.get("bytes", 0)))
    lines = [
        f"# HELP {METRIC} Frames dropped by the peering-LAN port-security policy, per port and reason.",
        f"# TYPE {METRIC} counter",
    ]
    byte_lines = [
        f"# HELP {METRIC_BYTES} Bytes dropped by the peering-LAN port-security policy, per port and reason.",
        f"# TYPE {METRIC_BYTES} counter",
    ]
    for name in sorted(counter_map):
        labels = counter_map[name]
        packets, nbytes = values.get(name, (0, 0))
        text = ",".join(f'{key}="{_escape(labels[key])}"' for key in ("switch", "port", "member", "reason"))
        lines.append(f"{METRIC}{{{text}}} {packets}")
        byte_lines.append(f"{METRIC_BYTES}{{{text}}} {nbytes}")
    missing = len(set(counter_map) - set(values))
    tail = [
        f"# HELP {METRIC_LAST_RUN} When the port-security counters were last exported (0 counters missing means the ruleset is loaded).",
        f"# TYPE {METRIC_LAST_RUN} gauge",
        f'{METRIC_LAST_RUN}{{missing_counters="{missing}"}} {now:.3f}',
    ]
    return "\n".join(lines + byte_lines + tail) + "\n"


def probe_tunnels(tunnels: list[dict[str, str]]) -> list[bool]:
    """Whether each tunnel's remote endpoint answers from the local one,
    all probed at once (a cut link costs its timeout once, not per link)."""
    probes = [
        subprocess.Popen(PING + ["-I", tunnel["local_vtep"], tunnel["remote_vtep"]],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for tunnel in tunnels
    ]
    return [probe.wait() == 0 for probe in probes]


def render_tunnel_metrics(tunnels: list[dict[str, str]], up: list[bool]) -> str:
    """node_exporter textfile lines: 1 per tunnel whose far end answers, else 0."""
    lines = [
        f"# HELP {METRIC_LINK_UP} Whether the far end of an inter-island link's tunnel answers over the underlay.",
        f"# TYPE {METRIC_LINK_UP} gauge",
    ]
    for tunnel, answered in zip(tunnels, up):
        text = ",".join(f'{key}="{_escape(tunnel[key])}"'
                        for key in ("switch", "link", "port", "remote_island", "remote_switch"))
        lines.append(f"{METRIC_LINK_UP}{{{text}}} {int(answered)}")
    return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def write_atomically(path: str, text: str) -> None:
    """node_exporter must never read a half-written file."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".caribix-fabric.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def sync(desired: dict[str, Any], policy: str, table: str, load_policy: bool, dry_run: bool) -> int:
    """Policy first (a port never forwards before its filter is in place),
    then the bridge; one JSON report on stdout."""
    table_loaded = subprocess.run(["nft", "list", "table", "bridge", table], capture_output=True).returncode == 0
    report: dict[str, Any] = {"policy_loaded": load_policy or not table_loaded, "table_was_loaded": table_loaded}
    if report["policy_loaded"] and not dry_run:
        subprocess.run(["nft", "-f", policy], check=True)
    commands, warnings = plan(desired, current_state())
    report["commands"] = [" ".join(c) for c in commands]
    report["warnings"] = warnings
    report["changed"] = report["policy_loaded"] or bool(commands)
    if not dry_run:
        for command in commands:
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        leftover, _ = plan(desired, current_state())
        if leftover:
            report["error"] = "still differs after apply: " + "; ".join(" ".join(c) for c in leftover)
    print(json.dumps(report))
    return 1 if "error" in report else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("plan", "apply"):
        cmd = sub.add_parser(name, help=f"{name} the bridge/port/FDB state")
        cmd.add_argument("desired", help="desired state JSON")
    syn = sub.add_parser("sync", help="load the policy if needed, then apply; JSON report")
    syn.add_argument("desired", help="desired state JSON")
    syn.add_argument("--policy", required=True, help="the nftables port-security policy file")
    syn.add_argument("--table", default="caribix_fabric")
    syn.add_argument("--load-policy", action="store_true", help="load the policy even if its table is loaded")
    syn.add_argument("--dry-run", action="store_true", help="change nothing: report what would be done")
    met = sub.add_parser("metrics", help="export nftables counters for node_exporter")
    met.add_argument("counter_map", help="JSON: counter name -> {switch, port, member, reason}")
    met.add_argument("output", help="the .prom file to write")
    met.add_argument("--table", default="caribix_fabric")
    met.add_argument("--tunnels", help="JSON: the inter-island tunnels to probe (their links and endpoints)")
    args = parser.parse_args(argv)

    if args.command == "metrics":
        with open(args.counter_map, encoding="utf-8") as handle:
            counter_map = json.load(handle)
        try:
            nft_json = _run_json(["nft", "-j", "list", "counters", "table", "bridge", args.table])
        except subprocess.CalledProcessError:
            nft_json = {}  # no table loaded: every counter reads as missing
        text = render_metrics(nft_json or {}, counter_map, time.time())
        if args.tunnels:
            with open(args.tunnels, encoding="utf-8") as handle:
                tunnels = json.load(handle)
            text += render_tunnel_metrics(tunnels, probe_tunnels(tunnels))
        write_atomically(args.output, text)
        return 0

    with open(args.desired, encoding="utf-8") as handle:
        desired = json.load(handle)
    if args.command == "sync":
        return sync(desired, args.policy, args.table, args.load_policy, args.dry_run)
    commands, warnings = plan(desired, current_state())
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.command == "plan":
        print(json.dumps({"commands": [" ".join(c) for c in commands], "warnings": warnings}))
        return 0
    for command in commands:
        print("+ " + " ".join(command))
        subprocess.run(command, check=True)
    # A second look must find nothing to do, or the plan is wrong.
    leftover, _ = plan(desired, current_state())
    if leftover:
        print("error: still differs after apply: " + "; ".join(" ".join(c) for c in leftover), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
