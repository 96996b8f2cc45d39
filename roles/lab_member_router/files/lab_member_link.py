#!/usr/bin/python3
"""Lab member router: bring its peering interface in line with the member data.

Runs INSIDE a lab member-router container (python3 standard library only:
the containers have no PyPI); the lab_member_router role copies it there.
It lives in the caribix package so the controller's unit tests exercise the
same code.

Desired state (JSON, rendered by the role from members.yml)::

    {"interface": "eth1", "mac": "02:ca:00:01:00:10", "mtu": 1500,
     "addresses": ["192.0.2.10/26", "2001:db8:1::10/64"],
     "loopback": ["198.51.100.1/32"],
     "on_link": ["192.0.2.128/26"]}

``addresses`` go on the peering interface, ``loopback`` on ``lo`` (one
address inside each valid announced prefix, so the data plane can be
tested end to end), ``on_link`` are routes to another island's peering LAN
carried by a bridged inter-island link (one broadcast domain, two subnets).

``plan`` prints the commands that would change something (JSON), ``apply``
runs them and checks that a second look finds nothing left: Ansible's check
mode and idempotence both rest on ``plan`` being exact.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from typing import Any


def _ip_json(*argv: str) -> Any:
    out = subprocess.run(["ip", "-j", *argv], check=True, capture_output=True, text=True).stdout
    return json.loads(out) if out.strip() else []


def current_state(interface: str) -> dict[str, Any]:
    """What the kernel has now: the interface, lo's addresses, on-link routes."""
    links = _ip_json("addr", "show")
    routes: list[dict[str, Any]] = []
    if any(link.get("ifname") == interface for link in links):
        routes = list(_ip_json("-4", "route", "show", "dev", interface)) + list(
            _ip_json("-6", "route", "show", "dev", interface)
        )
    return {"links": links, "routes": routes}


def _addresses(link: dict[str, Any]) -> set[str]:
    return {
        str(ipaddress.ip_interface(f"{a['local']}/{a['prefixlen']}"))
        for a in link.get("addr_info", [])
        if a.get("scope") != "link"
    }


def _route_dst(route: dict[str, Any]) -> str | None:
    dst = route.get("dst")
    if not dst or dst == "default":
        return None
    try:
        return str(ipaddress.ip_network(dst if "/" in dst else dst + ("/128" if ":" in dst else "/32"), strict=False))
    except ValueError:
        return None


def plan(desired: dict[str, Any], state: dict[str, Any]) -> tuple[list[list[str]], list[str]]:
    """Commands that bring ``state`` to ``desired``, and errors (nothing to do about)."""
    name = desired["interface"]
    links = {link.get("ifname"): link for link in state.get("links", [])}
    link = links.get(name)
    if link is None:
        return [], [f"interface {name} does not exist: the lab cables it (scripts/lab.sh up)"]
    commands: list[list[str]] = []
    mac = str(desired["mac"]).lower()
    mtu = int(desired.get("mtu", 1500))
    if str(link.get("address", "")).lower() != mac:
        # A MAC change needs the interface down for a moment.
        commands += [
            ["ip", "link", "set", "dev", name, "down"],
            ["ip", "link", "set", "dev", name, "address", mac],
        ]
    if int(link.get("mtu", 0)) != mtu:
        commands.append(["ip", "link", "set", "dev", name, "mtu", str(mtu)])
    if commands or "UP" not in link.get("flags", []):
        commands.append(["ip", "link", "set", "dev", name, "up"])

    have = _addresses(link)
    for address in desired.get("addresses", []):
        wanted = str(ipaddress.ip_interface(address))
        if wanted not in have:
            # nodad: no duplicate address detection delay on a lab cable.
            extra = ["nodad"] if ":" in wanted else []
            commands.append(["ip", "addr", "replace", wanted, "dev", name, *extra])
    lo_have = _addresses(links.get("lo", {}))
    for address in desired.get("loopback", []):
        wanted = str(ipaddress.ip_interface(address))
        if wanted not in lo_have:
            commands.append(["ip", "addr", "replace", wanted, "dev", "lo"])
    routes = {_route_dst(r) for r in state.get("routes", [])}
    for prefix in desired.get("on_link", []):
        wanted = str(ipaddress.ip_network(prefix))
        if wanted not in routes:
            family = "-6" if ":" in wanted else "-4"
            commands.append(["ip", family, "route", "replace", wanted, "dev", name])
    return commands, []


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] not in ("plan", "apply"):
        print("usage: caribix-lab-member-link plan|apply DESIRED.json", file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as handle:
        desired = json.load(handle)
    commands, errors = plan(desired, current_state(desired["interface"]))
    if errors:
        print(json.dumps({"commands": [], "errors": errors}))
        return 1
    if argv[0] == "plan":
        print(json.dumps({"commands": [" ".join(c) for c in commands], "errors": []}))
        return 0
    for command in commands:
        subprocess.run(command, check=True)
    leftover, errors = plan(desired, current_state(desired["interface"]))
    if leftover or errors:
        print(json.dumps({"commands": [" ".join(c) for c in leftover], "errors": errors or ["still differs after apply"]}))
        return 1
    print(json.dumps({"commands": [" ".join(c) for c in commands], "errors": []}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
