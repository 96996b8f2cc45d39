"""Parse what ``birdc`` prints (BIRD 2.0.x) into plain dicts.

Shapes follow birdwatcher's JSON (field names such as ``neighbor_address``,
``routes.imported``, ``bgp.large_communities``) so that its consumers can
read our backend. Captured samples live in tests/unit/fixtures/birdc/.
"""

from __future__ import annotations

import re

# birdc's greeting and the answer to the "restrict" it sends with -r.
_BANNERS = re.compile(r"^(BIRD [0-9][^ ]* ready\.|Access restricted)$")
# Answers meaning "nothing to show", not failures.
EMPTY_ANSWERS = ("Network not found", "No valid tables")

_TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?|\S+"
_PROTOCOL_LINE = re.compile(
    rf"^(?P<name>\S+)\s+(?P<proto>\S+)\s+(?P<table>\S+)\s+(?P<state>\S+)\s+(?P<since>{_TIME})(?:\s+(?P<info>.*?))?\s*$"
)
_ROUTE_LINE = re.compile(
    r"^(?P<network>\S+)?\s+(?P<kind>\S+)\s+"
    rf"\[(?P<protocol>\S+)\s+(?P<since>{_TIME})(?:\s+from\s+(?P<from>\S+))?\]\s+"
    r"(?P<primary>\*\s+)?\((?P<preference>\d+)(?:/(?P<metric>[^)]*))?\)"
    r"(?:\s+\[(?P<as_info>[^\]]*)\])?\s*$"
)
_ROUTE_COUNTS = re.compile(r"(\d+) (imported|filtered|exported|preferred)")
_VIA = re.compile(r"^via (?P<gateway>\S+)(?: on (?P<interface>\S+))?")
_STANDARD_COMMUNITY = re.compile(r"\((\d+),(\d+)\)")
_LARGE_COMMUNITY = re.compile(r"\((\d+), (\d+), (\d+)\)")
_EXTENDED_COMMUNITY = re.compile(r"\(([^)]*)\)")


class BirdError(RuntimeError):
    """BIRD answered with an error (syntax error, access denied...)."""


def content_lines(text: str) -> list[str]:
    """birdc's output without its banners and trailing blanks."""
    lines = [line.rstrip("\n") for line in text.splitlines()]
    return [line for line in lines if not _BANNERS.match(line.strip())]


def _only_message(lines: list[str]) -> str | None:
    meaningful = [line.strip() for line in lines if line.strip()]
    return meaningful[0] if len(meaningful) == 1 else None


def check_error(lines: list[str]) -> None:
    message = _only_message(lines)
    if message and (
        message.startswith("syntax error")
        or message in ("Access denied",)
        or message.startswith("Unknown command")
    ):
        raise BirdError(message)


def parse_status(text: str) -> dict:
    """``show status`` into birdwatcher's ``status`` object."""
    status = {
        "version": None,
        "router_id": None,
        "hostname": None,
        "current_server": None,
        "last_reboot": None,
        "last_reconfig": None,
        "message": None,
    }
    lines = content_lines(text)
    check_error(lines)
    prefixes = (
        ("Router ID is ", "router_id"),
        ("Hostname is ", "hostname"),
        ("Current server time is ", "current_server"),
        ("Last reboot on ", "last_reboot"),
        ("Last reconfiguration on ", "last_reconfig"),
    )
    for line in lines:
        line = line.strip()
        if not line:
            continue
        for start, key in prefixes:
            if line.startswith(start):
                status[key] = line[len(start) :]
                break
        else:
            if line.startswith("BIRD ") and status["version"] is None:
                status["version"] = line[len("BIRD ") :]
            else:
                status["message"] = line
    return status


def _int_or_none(text: str):
    text = text.strip()
    return int(text) if text.isdigit() else None


def parse_protocols(text: str) -> dict[str, dict]:
    """``show protocols [all]`` into ``{name: protocol}``.

    Each protocol has birdwatcher's fields (``bird_protocol``, ``state``,
    ``state_changed``, ``neighbor_address``, ``neighbor_as``,
    ``description``, ``routes``) plus ``channels`` per address family,
    each with its own ``routes`` counts: a session may carry IPv4 and IPv6.
    """
    protocols: dict[str, dict] = {}
    current = None
    channel = None
    lines = content_lines(text)
    check_error(lines)
    for line in lines:
        if not line.strip() or line.startswith("Name ") and "Proto" in line:
            continue
        if not line[0].isspace():
            match = _PROTOCOL_LINE.match(line)
            if not match:
                continue
            current = {
                "protocol": match["name"],
                "bird_protocol": match["proto"],
                "table": match["table"],
                "state": match["state"],
                "state_changed": match["since"],
                "info": (match["info"] or "").strip(),
                "description": "",
                "channels": {},
                "routes": {"imported": 0, "filtered": 0, "exported": 0, "preferred": 0},
            }
            # Info is "<BGP state>  <last error>" for BGP protocols.
            info = current["info"].split(None, 1)
            if match["proto"] == "BGP" and info:
                current["bgp_state"] = info[0]
                if len(info) > 1:
                    current["last_error"] = info[1].strip()
            protocols[match["name"]] = current
            channel = None
            continue
        if current is None:
            continue
        stripped = line.strip()
        key, _, value = stripped.partition(":")
        value = value.strip()
        if stripped.startswith("Channel "):
            channel = {
                "name": stripped.split()[1],
                "routes": {"imported": 0, "filtered": 0, "exported": 0, "preferred": 0},
            }
            current["channels"][channel["name"]] = channel
        elif channel is not None and key in (
            "State",
            "Table",
            "Preference",
            "Input filter",
            "Output filter",
            "Import limit",
            "Receive limit",
            "Export limit",
        ):
            channel[key.lower().replace(" ", "_")] = (
                _int_or_none(value)
                if key.endswith("limit") or key == "Preference"
                else value
            )
        elif channel is not None and key == "Routes":
            for count, kind in _ROUTE_COUNTS.findall(value):
                channel["routes"][kind] = int(count)
                current["routes"][kind] += int(count)
        elif channel is not None and key == "Import updates":
            numbers = [_int_or_none(part) for part in value.split()]
            if len(numbers) == 5:
                channel["import_updates"] = dict(
                    zip(
                        ("received", "rejected", "filtered", "ignored", "accepted"),
                        numbers,
                    )
                )
        elif key == "Description":
            current["description"] = value
        elif key == "BGP state":
            current["bgp_state"] = value
        elif key == "Neighbor address":
            current["neighbor_address"] = value
        elif key == "Neighbor AS":
            current["neighbor_as"] = _int_or_none(value)
        elif key == "Local AS":
            current["local_as"] = _int_or_none(value)
        elif key == "Neighbor ID":
            current["neighbor_id"] = value
        elif key == "Last error":
            current["last_error"] = value
    return protocols


def _parse_attribute(route: dict, name: str, value: str) -> None:
    bgp = route["bgp"]
    if name == "BGP.origin":
        bgp["origin"] = value
    elif name == "BGP.as_path":
        # AS_SETs print as {a b}: keep the numbers, in order.
        bgp["as_path"] = [int(number) for number in re.findall(r"\d+", value)]
    elif name == "BGP.next_hop":
        hops = value.split()
        bgp["next_hop"] = hops[0] if hops else ""
        if len(hops) > 1:
            bgp["next_hop_link_local"] = hops[1]
    elif name == "BGP.local_pref":
        bgp["local_pref"] = _int_or_none(value)
    elif name == "BGP.med":
        bgp["med"] = _int_or_none(value)
    elif name == "BGP.community":
        bgp["communities"] = [
            [int(a), int(b)] for a, b in _STANDARD_COMMUNITY.findall(value)
        ]
    elif name == "BGP.large_community":
        bgp["large_communities"] = [
            [int(a), int(b), int(c)] for a, b, c in _LARGE_COMMUNITY.findall(value)
        ]
    elif name == "BGP.ext_community":
        bgp["ext_communities"] = [
            [part.strip() for part in item.split(",")]
            for item in _EXTENDED_COMMUNITY.findall(value)
        ]
    else:
        route["attributes"][name] = value


def parse_routes(text: str) -> list[dict]:
    """``show route all ...`` into a list of routes (birdwatcher's shape).

    Handles several routes per network (continuation lines without the
    network), IPv6 networks too long for the column, attribute values
    wrapped onto lines indented with two tabs, and the answers BIRD gives
    when there is nothing to show.
    """
    routes: list[dict] = []
    lines = content_lines(text)
    check_error(lines)
    if _only_message(lines) in EMPTY_ANSWERS:
        return []
    table = None
    network = None
    route = None
    attribute = None
    for line in lines:
        if not line.strip():
            continue
        if line.startswith("Table ") and line.rstrip().endswith(":"):
            table = line.strip()[len("Table ") : -1]
            continue
        if line.startswith("\t\t") and route is not None and attribute:
            # Continuation of a long attribute value.
            _parse_attribute(route, attribute[0], attribute[1] + " " + line.strip())
            attribute = (attribute[0], attribute[1] + " " + line.strip())
            continue
        if line.startswith("\t"):
            if route is None:
                continue
            stripped = line.strip()
            via = _VIA.match(stripped)
            if via:
                route["gateway"] = via["gateway"]
                route["interface"] = via["interface"] or ""
                continue
            if stripped.startswith("dev "):
                route["interface"] = stripped.split()[1]
                continue
            name, _, value = stripped.partition(":")
            value = value.strip()
            if name == "Type":
                route["type"] = value.split()
                continue
            attribute = (name, value)
            _parse_attribute(route, name, value)
            continue
        match = _ROUTE_LINE.match(line)
        if not match:
            continue
        if match["network"]:
            network = match["network"]
        attribute = None
        route = {
            "network": network,
            "table": table,
            "kind": match["kind"],
            "from_protocol": match["protocol"],
            "age": match["since"],
            "learnt_from": match["from"] or "",
            "primary": bool(match["primary"]),
            "preference": int(match["preference"]),
            "metric": _int_or_none(match["metric"] or ""),
            "as_info": match["as_info"] or "",
            "gateway": "",
            "interface": "",
            "type": [],
            "bgp": {},
            "attributes": {},
        }
        routes.append(route)
    return routes
