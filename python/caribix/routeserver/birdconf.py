"""What the build changes in arouteserver's BIRD config: the inlined
.local files, the Euro-IX reject tags, receive limits, lab ASNs, quieter
logging; and what it counts in the result (sessions, ROAs, limits)."""

from __future__ import annotations

import re
from typing import Any

import netaddr

from caribix.routeserver.clients import rs_members
from caribix.routeserver.policy import (
    AROUTESERVER_REJECT_NAMESPACE,
    EUROIX_PREFIX_TOO_LONG,
    EUROIX_PREFIX_TOO_SHORT,
    EUROIX_REJECT_CODES,
    EUROIX_REJECT_NAMESPACE,
    INVALID_ASN_RANGES,
    REJECT_CODE_TOO_MANY_COMMUNITIES,
    RouteServerBuildError,
)

# Marker for the .local includes; replaced by the files' content.
LOCAL_FILES_MARKER = "/caribix-inline-local-files"

def rtr_config(port: int) -> str:
    # stayrtr on the same host serves the snapshot's VRPs; ROAs only
    # change when a new snapshot is deployed (the role then reloads).
    # Retry every 5 s: BIRD 2.17 opens with RTR version 2, stayrtr 0.6
    # (Debian 13) answers version 1, and BIRD agrees on it only at a retry;
    # against a cache on localhost a short retry costs nothing.
    return (
        "protocol rpki RPKI_stayrtr {\n"
        "\troa4 { table RPKI4; };\n"
        "\troa6 { table RPKI6; };\n"
        f"\tremote 127.0.0.1 port {port};\n"
        "\tretry keep 5;\n"
        "\trefresh keep 600;\n"
        "\texpire keep 86400;\n"
        "}\n"
    )


def hook_config(max_communities: int) -> str:
    code = REJECT_CODE_TOO_MANY_COMMUNITIES
    ours, euroix = AROUTESERVER_REJECT_NAMESPACE, EUROIX_REJECT_NAMESPACE
    # This file is included before arouteserver's tag_and_reject() is
    # defined, so the reject communities are written out here, in the
    # same layout: RS:65520:0 (filtered), RS:65520:<code>, RS:1101:<Euro-IX>.
    return (
        "# CaribIX: reject routes carrying too many communities (arouteserver\n"
        f"# has no such check); tagged RS:{ours}:{code} and Euro-IX RS:{euroix}:{EUROIX_REJECT_CODES[code]}.\n"
        "function hook_pre_receive_from_client(int client_asn; ip client_ip; string client_id) -> bool {\n"
        f"\tif bgp_community.len > {max_communities} || bgp_large_community.len > {max_communities} "
        f"|| bgp_ext_community.len > {max_communities} then {{\n"
        f"\t\tbgp_large_community.add((rs_as, {ours}, 0));\n"
        f"\t\tbgp_large_community.add((rs_as, {ours}, {code}));\n"
        f"\t\tbgp_large_community.add((rs_as, {euroix}, {EUROIX_REJECT_CODES[code]}));\n"
        '\t\treject "too many communities - REJECTING ", net;\n'
        "\t}\n"
        "\treturn true;\n"
        "}\n"
    )


def split_prefix_length_reject(config: str) -> str:
    """Tag a prefix-length reject with Euro-IX 1 (too long) or 2 (too short).

    arouteserver has one code (13) for both; the Euro-IX table has two.
    The check reads `if ... !prefix_len_is_valid(MIN, MAX) then
    { tag_and_reject(13, ASN); reject ...; }`: the Euro-IX tag is added
    right before tag_and_reject.
    """
    pattern = re.compile(r"(!prefix_len_is_valid\((\d+), (\d+)\) then\s*\{ )(tag_and_reject\(13, )")
    euroix = EUROIX_REJECT_NAMESPACE

    def add_tag(m: re.Match) -> str:
        return (
            f"{m.group(1)}if net.len > {m.group(3)} then bgp_large_community.add((rs_as, {euroix}, {EUROIX_PREFIX_TOO_LONG})); "
            f"else bgp_large_community.add((rs_as, {euroix}, {EUROIX_PREFIX_TOO_SHORT})); {m.group(4)}"
        )

    config, count = pattern.subn(add_tag, config)
    if count == 0:
        raise RouteServerBuildError("arouteserver output: the prefix length check (reject code 13) was not found")
    return config


def add_receive_limits(config: str, factor: int, action: str) -> str:
    """Next to each `import limit N` (accepted routes), a `receive limit`
    of factor x N (every route received, filtered ones included)."""
    pattern = re.compile(r"^([ \t]*)import limit (\d+) action (\w+);$", re.M)

    def add(m: re.Match) -> str:
        return f"{m.group(0)}\n{m.group(1)}receive limit {int(m.group(2)) * factor} action {action};"

    return pattern.sub(add, config)


def inline_local_files(config: str, local_files: dict[str, str]) -> str:
    for name, content in local_files.items():
        include = f'include "{LOCAL_FILES_MARKER}/{name}.local";'
        if config.count(include) != 1:
            raise RouteServerBuildError(f"arouteserver output: expected one include of {name}.local")
        config = config.replace(include, f"# --- {name} (inlined by caribix.routeserver)\n{content}")
    if LOCAL_FILES_MARKER in config:
        raise RouteServerBuildError("arouteserver output: an unexpected .local include is left")
    return config


def _subtract_asns(ranges: tuple[tuple[int, int], ...], allowed: set[int]) -> list[tuple[int, int]]:
    result = []
    for low, high in ranges:
        start = low
        for asn in sorted(a for a in allowed if low <= a <= high):
            if asn > start:
                result.append((start, asn - 1))
            start = asn + 1
        if start <= high:
            result.append((start, high))
    return result


def relax_invalid_asns(config: str, allowed: set[int]) -> str:
    """Cut exactly the lab's ASNs out of the invalid-ASN set (lab mode)."""
    pattern = re.compile(r"(invalid_asns = \[)(.*?)(\];)", re.S)
    if len(pattern.findall(config)) != 1:
        raise RouteServerBuildError("arouteserver output: invalid_asns set not found exactly once")
    items = []
    for low, high in _subtract_asns(INVALID_ASN_RANGES, allowed):
        items.append(f"{low}" if low == high else f"{low}..{high}")
    body = "\n\t\t# lab mode: reserved/private ranges minus the lab's own ASNs\n\t\t" + ",\n\t\t".join(items) + "\n\t"
    return pattern.sub(lambda m: m.group(1) + body + m.group(3), config)


def lab_asns(members: list[dict[str, Any]], snapshot: dict[str, Any], extra: list[int]) -> set[int]:
    allowed = {m["asn"] for m in rs_members(members)} | set(extra)
    as_sets = {k.upper(): v for k, v in snapshot["irr"]["as_sets"].items()}
    for member in rs_members(members):
        allowed.update(as_sets.get(member["as_set"].upper(), []))
    return allowed


def quieten_logging(config: str) -> str:
    """Log protocol states and events to syslog only.

    arouteserver's header also writes every route and filter decision to
    /var/log/bird.log: at a few thousand routes that file is the main cost
    of a reload, and the looking glass shows filtered routes anyway.
    """
    replacements = {
        r'^log "[^"]+" all;\n': "",
        r"^debug protocols \{[^}]*\};": "debug protocols { states, events };",
    }
    for pattern, repl in replacements.items():
        config, count = re.subn(pattern, repl, config, count=1, flags=re.M)
        if count != 1:
            raise RouteServerBuildError(f"arouteserver output: logging line {pattern!r} not found")
    return config


def strip_build_timestamps(config: str) -> str:
    # arouteserver stamps the build time in comments; without stripping it
    # every run would change the file and the deploy would never be idempotent.
    config = re.sub(r"^#[^\n]*(?:Generated on|generated on)[^\n]*(?:\n|$)", "", config, flags=re.M)
    return config if config.endswith("\n") else config + "\n"


def count_unique_roas(vrps: dict[str, Any]) -> int:
    """What BIRD's ROA tables hold once stayrtr has sent the snapshot."""
    unique = set()
    for roa in vrps["roas"]:
        asn = roa["asn"]
        asn = int(str(asn).upper().removeprefix("AS"))
        net = netaddr.IPNetwork(roa["prefix"])
        unique.add((str(net.cidr), int(roa.get("maxLength", net.prefixlen)), asn))
    return len(unique)


def limit_metrics(config: str) -> str:
    """The node exporter textfile with each session's accepted-route limit.

    CaribixMaxPrefixReached compares it with the bird exporter's
    bird_protocol_prefix_import_count (same `name` label: the BGP protocol).
    """
    lines = [
        "# HELP caribix_route_server_import_limit Max-prefix of the session: accepted routes (BIRD import limit).",
        "# TYPE caribix_route_server_import_limit gauge",
    ]
    protocol = None
    # One pass over the 500k-line text: block heads and import limits only.
    for m in re.finditer(r"^(?:(protocol|filter|function|template) (\S+)(?: (\S+))?|[ \t]*import limit (\d+) action)", config, re.M):
        if m.group(1):
            protocol = m.group(3) if m.group(1) == "protocol" and m.group(2) == "bgp" else None
        elif protocol:
            lines.append(f'caribix_route_server_import_limit{{name="{protocol}"}} {m.group(4)}')
    return "\n".join(lines) + "\n"


def count_bgp_protocols(config: str) -> int:
    return len(re.findall(r"^protocol bgp ", config, re.M))
