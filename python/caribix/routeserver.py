"""Build a route server's BIRD 2 configuration on the controller, offline.

arouteserver (pinned in requirements.txt) writes the filters; this module
turns one island's data into arouteserver's input and runs it so that
nothing needs the internet:

* ``general.yml`` from the exchange facts, the route server's host_vars and
  the shared policy (``group_vars/all/route_servers.yml``);
* ``clients.yml`` from the members with ``route_server: true``;
* ``bogons.yml``: arouteserver's own list minus exactly the documentation
  ranges the lab announces (lab mode only);
* arouteserver's cache directory, pre-seeded from the island's snapshot
  (``snapshots/<island>/``) so that no IRR or PeeringDB query happens.
  ``bgpq3_path`` points at a program that always fails: a cache miss stops
  the build instead of silently going online.

The output is post-processed: the ``.local`` includes (RTR session,
too-many-communities hook) are inlined so that one self-contained file can
be staged, checked with ``bird -p`` and rolled back; in lab mode the
invalid-ASN list is relaxed for exactly the lab's own ASNs.

The two route servers of an island get the same config but for their
``router id``: with ``--shared-cache DIR`` the first build is kept there
and the second route server's is that config with its own router id
(keyed by everything else that goes into a build: the input, the
snapshot, this code and arouteserver's version), so a member change
builds once, not twice.

Command line (used by roles/route_server)::

    python -m caribix.routeserver build --input input.json --output-dir DIR [--shared-cache DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import netaddr
import yaml

SNAPSHOT_PARTS = ("irr", "peeringdb", "rpki")
SNAPSHOT_FILES = {"irr": "irr.json", "peeringdb": "peeringdb.json", "rpki": "vrps.json"}

# The route servers run Debian 13's BIRD 2.17. arouteserver 1.27 knows
# the targets 2.16 and 2.19.2 of the 2.x line; 2.16 is the newest one not
# newer than 2.17 (and the first with ASPA). Older targets (2.0.11) write
# the filters in a form that 2.17 parses twenty times slower
# (docs/route-servers.md, "Scale").
BIRD_TARGET_VERSION = "2.16"
# The BIRD the route servers run: every parse check (unit tests, benchmark)
# uses it, not the controller's (caribix.birdcheck).
BIRD_HOST_VERSION = "2.17.6"

# Large-community namespaces (Euro-IX route-server large communities):
# RS:1101:<Euro-IX code> why a route was filtered, RS:1000:1-4 its RPKI
# origin validation state. arouteserver's own reject codes (its
# reject_reasons.py, 1-16, plus our 100) go to RS:65520:<code>, as
# `arouteserver configure` proposes: finer than Euro-IX's table, and
# (RS:65520:0) marks a route as filtered.
EUROIX_REJECT_NAMESPACE = 1101
AROUTESERVER_REJECT_NAMESPACE = 65520
# ours, for the too-many-communities check arouteserver does not have.
REJECT_CODE_TOO_MANY_COMMUNITIES = 100
# arouteserver reject code -> Euro-IX code. Codes without a Euro-IX
# counterpart (4 invalid AFI, 11 client blacklist, 15 never via route
# servers, 16 ASPA invalid) carry only their RS:65520 code. 13 (prefix
# length) is split into Euro-IX 1 (too long) / 2 (too short) by
# split_prefix_length_reject(). 3 is the IXP's own peering LAN (the
# global black list): a bogon on this exchange.
EUROIX_REJECT_CODES = {
    1: 5,  # AS_PATH too long
    2: 3,  # bogon prefix
    3: 3,  # the IXP's own LAN: bogon prefix
    5: 8,  # NEXT_HOP is not the peer's address
    6: 7,  # first ASN is not the peer's
    7: 4,  # bogon (reserved/private) ASN in AS_PATH
    8: 14,  # transit-free ASN in AS_PATH
    9: 10,  # origin ASN not in the AS-SET
    10: 3,  # IPv6 outside global unicast: bogon prefix
    12: 9,  # prefix not in the AS-SET
    14: 13,  # RPKI invalid
    REJECT_CODE_TOO_MANY_COMMUNITIES: 15,
}
EUROIX_PREFIX_TOO_LONG = 1
EUROIX_PREFIX_TOO_SHORT = 2
# BIRD `limit` actions (arouteserver's max_prefix.action values).
LIMIT_ACTIONS = ("block", "restart", "shutdown", "warning")

# The snapshot's ASPAs, as arouteserver reads them (rpki-client JSON).
ASPA_FILE = "rpki-aspas.json"

# Marker for the .local includes; replaced by the files' content.
_LOCAL_DIR_MARKER = "/caribix-inline-local-files"

# The reserved/private ASN ranges arouteserver's BIRD template rejects
# (as_path_contains_invalid_asn); in lab mode the lab's own ASNs are cut out.
INVALID_ASN_RANGES = (
    (0, 0),
    (23456, 23456),
    (64496, 64511),
    (64512, 65534),
    (65535, 65535),
    (65536, 65551),
    (65552, 131071),
    (4200000000, 4294967294),
    (4294967295, 4294967295),
)

DEFAULT_POLICY: dict[str, Any] = {
    "ipv4_pref_len": {"min": 8, "max": 24},
    "ipv6_pref_len": {"min": 16, "max": 48},
    "max_as_path_len": 32,
    "transit_free_asns": [174, 701, 1299, 2914, 3257, 3320, 3356, 5511, 6453, 6461, 6762, 6830, 7018, 12956],
    "rpki_reject_invalid": True,
    "irr_enforce_origin": True,
    "irr_enforce_prefix": True,
    # More specifics of a member's route objects are authorised (the
    # prefix length limits still stop them at /24 and /48): RFC 7999
    # blackholes (/32, /128) of authorised space need it.
    "irr_allow_longer_prefixes": True,
    # Informational communities saying whether origin/prefix are in the
    # AS-SET (what looking glasses show for accepted routes).
    "irr_tag_as_set": True,
    # The member's max-prefix counts ACCEPTED routes (BIRD `import limit`):
    # its filtered routes never push valid ones out. At the limit further
    # accepted routes are blocked (session stays up; CaribixMaxPrefixReached
    # alerts). A separate `receive limit`, max_prefix_receive_factor times
    # higher, counts every route received and protects the route server's
    # memory from a leak; the session is then restarted (BIRD's error wait
    # backs off the restarts).
    "max_prefix_action": "block",
    "max_prefix_receive_factor": 10,
    "max_prefix_receive_action": "restart",
    "max_prefix_peeringdb_increment": {"absolute": 100, "relative": 15},
    # AS path verification (ASPA) from the snapshot's `aspas`
    # (rpki-client JSON), compiled into the config: stayrtr 0.6.2 speaks
    # RTR version 1, which carries no ASPA. Invalid paths are rejected.
    "aspa_reject_invalid": True,
    # The trust anchors whose ROAs and ASPAs are used (rpki-client's `ta`).
    "rpki_trust_anchors": ["afrinic", "apnic", "arin", "lacnic", "ripe"],
    "max_communities": 100,
    "roles_strict": False,
    "blackhole_policy": "propagate-unchanged",
    "rtr_port": 8282,
    "lab_member_prefixes": [],
    "lab_extra_asns": [],
    "snapshot_max_age_hours": {
        "irr": {"warn": 24, "fail": 168},
        "peeringdb": {"warn": 168, "fail": 720},
        "rpki": {"warn": 24, "fail": 168},
    },
}


class RouteServerBuildError(Exception):
    """Bad input or a failed build; the message says what and where."""


@dataclass
class BuildResult:
    config: str
    expected_bgp_sessions: int
    expected_roas: int = 0
    warnings: list[str] = field(default_factory=list)
    snapshot_metrics: str = ""
    limit_metrics: str = ""
    clients: dict[str, Any] = field(default_factory=dict)
    general: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


# ---------------------------------------------------------------- snapshot


def load_snapshot(snapshot_dir: str | Path) -> dict[str, Any]:
    """Read the four files of ``snapshots/<island>/``; complain precisely."""
    snapshot_dir = Path(snapshot_dir)
    if not snapshot_dir.is_dir():
        raise RouteServerBuildError(f"{snapshot_dir}: snapshot directory missing")
    snapshot: dict[str, Any] = {}
    for part, name in SNAPSHOT_FILES.items():
        path = snapshot_dir / name
        try:
            snapshot[part] = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise RouteServerBuildError(f"{path}: missing snapshot part '{part}'") from exc
        except json.JSONDecodeError as exc:
            raise RouteServerBuildError(f"{path}: not valid JSON: {exc}") from exc
    meta_path = snapshot_dir / "metadata.yml"
    try:
        snapshot["metadata"] = yaml.safe_load(meta_path.read_text()) or {}
    except FileNotFoundError as exc:
        raise RouteServerBuildError(f"{meta_path}: missing (records when each part was fetched)") from exc
    _check_snapshot_shape(snapshot, snapshot_dir)
    return snapshot


def _check_snapshot_shape(snapshot: dict[str, Any], where: Path) -> None:
    irr = snapshot["irr"]
    if not isinstance(irr.get("as_sets"), dict) or not isinstance(irr.get("route_objects"), dict):
        raise RouteServerBuildError(f"{where}/irr.json: needs objects 'as_sets' and 'route_objects'")
    for name, asns in irr["as_sets"].items():
        if not isinstance(asns, list) or not all(isinstance(a, int) for a in asns):
            raise RouteServerBuildError(f"{where}/irr.json: as_sets.{name} must be a list of ASNs (integers)")
    for asn, prefixes in irr["route_objects"].items():
        for prefix in prefixes:
            try:
                netaddr.IPNetwork(prefix)
            except (netaddr.AddrFormatError, ValueError) as exc:
                raise RouteServerBuildError(f"{where}/irr.json: route_objects.{asn}: bad prefix {prefix!r}") from exc
    if not isinstance(snapshot["peeringdb"].get("networks"), dict):
        raise RouteServerBuildError(f"{where}/peeringdb.json: needs an object 'networks'")
    if not isinstance(snapshot["rpki"].get("roas"), list):
        raise RouteServerBuildError(f"{where}/vrps.json: needs a list 'roas' (rpki-client JSON format)")
    if not isinstance(snapshot["rpki"].get("aspas"), list):
        raise RouteServerBuildError(
            f"{where}/vrps.json: needs a list 'aspas' (rpki-client JSON format; [] when no ASPA object exists)"
        )
    parts = snapshot["metadata"].get("parts")
    if not isinstance(parts, dict):
        raise RouteServerBuildError(f"{where}/metadata.yml: needs a mapping 'parts'")
    for part in SNAPSHOT_PARTS:
        if "fetched_at" not in (parts.get(part) or {}):
            raise RouteServerBuildError(f"{where}/metadata.yml: parts.{part}.fetched_at missing")


def parse_timestamp(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        stamp = value
    else:
        try:
            stamp = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError as exc:
            raise RouteServerBuildError(f"not an ISO 8601 timestamp: {value!r}") from exc
    if stamp.tzinfo is None:
        raise RouteServerBuildError(f"timestamp without time zone: {value!r}")
    return stamp


# A part whose metadata says ``source: example`` is hand-written example
# data (the example islands, test fixtures): nothing was fetched, so its
# age means nothing. Only a lab island may build from it.
EXAMPLE_SOURCE = "example"


def refresh_command(island: str) -> str:
    return f"ansible-playbook -i inventories/{island} playbooks/refresh_snapshots.yml"


def is_example_part(metadata: dict[str, Any], part: str) -> bool:
    return (metadata["parts"][part] or {}).get("source") == EXAMPLE_SOURCE


def check_snapshot_age(
    metadata: dict[str, Any],
    max_age_hours: dict[str, dict[str, float]],
    now: dt.datetime | None = None,
    lab_mode: bool = False,
) -> list[str]:
    """Judge each part's age: return warnings (and notes), raise past ``fail``.

    Example parts are reported, not judged, on a lab island; a production
    island (lab mode off) refuses them. Fetched parts are always judged.
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    island = metadata.get("island", "<island>")
    warnings, failures = [], []
    for part in SNAPSHOT_PARTS:
        fetched = parse_timestamp(metadata["parts"][part]["fetched_at"])
        age_h = (now - fetched).total_seconds() / 3600
        limits = max_age_hours.get(part, {})
        if is_example_part(metadata, part):
            if lab_mode:
                warnings.append(
                    f"NOT JUDGED: snapshot part '{part}' is {age_h:.1f} h old (fetched {fetched.isoformat()}); "
                    f"its age is not judged because it is example data (metadata.yml: source: {EXAMPLE_SOURCE}) "
                    f"on a lab island (caribix_lab_mode: true)"
                )
            else:
                failures.append(
                    f"snapshot part '{part}' is example data (metadata.yml: source: {EXAMPLE_SOURCE}), "
                    f"not fetched, and island {island} is not in lab mode: fetch it with `{refresh_command(island)}`"
                )
        elif age_h < -1:
            failures.append(f"snapshot part '{part}' fetched in the future ({fetched.isoformat()})")
        elif "fail" in limits and age_h > limits["fail"]:
            failures.append(
                f"snapshot part '{part}' is {age_h:.1f} h old (fetched {fetched.isoformat()}), "
                f"over the {limits['fail']} h limit: refresh it with `{refresh_command(island)}`"
            )
        elif "warn" in limits and age_h > limits["warn"]:
            warnings.append(
                f"snapshot part '{part}' is {age_h:.1f} h old (fetched {fetched.isoformat()}), "
                f"over the {limits['warn']} h warning age: refresh it soon with `{refresh_command(island)}`"
            )
    if failures:
        raise RouteServerBuildError("\n".join(failures))
    return warnings


def snapshot_metrics(metadata: dict[str, Any]) -> str:
    """The node exporter textfile that tells monitoring when each part was fetched.

    ``example="true"`` marks hand-written example parts, whose age the
    CaribixSnapshotTooOld alert does not judge (as the build does not).
    """
    lines = [
        "# HELP caribix_snapshot_timestamp_seconds When the route server's snapshot part was fetched (Unix time).",
        "# TYPE caribix_snapshot_timestamp_seconds gauge",
    ]
    for part in SNAPSHOT_PARTS:
        stamp = parse_timestamp(metadata["parts"][part]["fetched_at"]).timestamp()
        example = "true" if is_example_part(metadata, part) else "false"
        lines.append(f'caribix_snapshot_timestamp_seconds{{part="{part}",example="{example}"}} {stamp:.0f}')
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- input


def _member_where(member: dict[str, Any], index: int) -> str:
    return f"members[{index}] ({member.get('name', '?')}, AS{member.get('asn', '?')})"


def rs_members(members: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The members that peer with the route servers, checked field by field."""
    chosen = []
    for index, member in enumerate(members):
        if not member.get("route_server"):
            continue
        where = _member_where(member, index)
        asn = member.get("asn")
        if not isinstance(asn, int) or not 0 < asn < 2**32:
            raise RouteServerBuildError(f"{where}: field 'asn' must be an integer 1..4294967295")
        if not member.get("ipv4") and not member.get("ipv6"):
            raise RouteServerBuildError(f"{where}: needs 'ipv4' and/or 'ipv6' to peer with the route servers")
        for fam in ("ipv4", "ipv6"):
            if member.get(fam):
                try:
                    addr = netaddr.IPAddress(member[fam])
                except (netaddr.AddrFormatError, ValueError) as exc:
                    raise RouteServerBuildError(f"{where}: field '{fam}' is not an address: {member[fam]!r}") from exc
                if addr.version != int(fam[-1]):
                    raise RouteServerBuildError(f"{where}: field '{fam}' holds an IPv{addr.version} address")
        as_set = member.get("as_set")
        if not as_set or not isinstance(as_set, str):
            raise RouteServerBuildError(f"{where}: field 'as_set' is required for IRR filtering")
        limits = member.get("max_prefix") or {}
        for fam, value in limits.items():
            if fam not in ("ipv4", "ipv6") or not isinstance(value, int) or value < 1:
                raise RouteServerBuildError(f"{where}: max_prefix.{fam} must be a positive integer")
        chosen.append(member)
    if not chosen:
        raise RouteServerBuildError("members: no member has route_server: true")
    return chosen


def is_aut_num(name: str) -> bool:
    """An aut-num used as an AS-SET ("AS64500"): the build expands it to
    itself, without the snapshot's as_sets (seed_cache)."""
    return re.fullmatch(r"AS\d+", name) is not None


def secret_file_name(member: dict[str, Any]) -> str:
    return f"AS{member['asn']}-{member['bgp_password_vault_key']}.conf"


def clients_config(members: list[dict[str, Any]], secrets_dir: str) -> dict[str, Any]:
    clients = []
    for member in rs_members(members):
        ips = [member[fam] for fam in ("ipv4", "ipv6") if member.get(fam)]
        cfg: dict[str, Any] = {
            "filtering": {
                "irrdb": {"as_sets": [member["as_set"]]},
            }
        }
        limits = member.get("max_prefix") or {}
        if limits:
            max_prefix: dict[str, Any] = {}
            if "ipv4" in limits:
                max_prefix["limit_ipv4"] = limits["ipv4"]
            if "ipv6" in limits:
                max_prefix["limit_ipv6"] = limits["ipv6"]
            cfg["filtering"]["max_prefix"] = max_prefix
        if member.get("bgp_password_vault_key"):
            # The password stays out of the main config (and its diff):
            # BIRD includes a root-only file the role writes from the vault.
            cfg["custom_options"] = {
                "bird": {
                    "any": {
                        "protocol": {
                            "config_lines": [f'include "{secrets_dir}/{secret_file_name(member)}";'],
                        }
                    }
                }
            }
        clients.append(
            {
                "asn": member["asn"],
                "ip": ips if len(ips) > 1 else ips[0],
                "description": member.get("name", f"AS{member['asn']}"),
                "cfg": cfg,
            }
        )
    return {"clients": clients}


def general_config(exchange: dict[str, Any], router_id: str, policy: dict[str, Any], aspa_file: str = ASPA_FILE) -> dict[str, Any]:
    for key in ("max_prefix_action", "max_prefix_receive_action"):
        if policy[key] not in LIMIT_ACTIONS:
            raise RouteServerBuildError(f"route_server_policy.{key}: {policy[key]!r} is not one of {', '.join(LIMIT_ACTIONS)}")
    factor = policy["max_prefix_receive_factor"]
    if not isinstance(factor, int) or factor < 2:
        raise RouteServerBuildError("route_server_policy.max_prefix_receive_factor: an integer >= 2 (receive limit = factor x max-prefix)")
    rs_as = exchange.get("route_server_asn")
    if not isinstance(rs_as, int):
        raise RouteServerBuildError("exchange.route_server_asn: must be an integer")
    lan = exchange.get("peering_lan") or {}
    own_lans = []
    for fam in ("ipv4", "ipv6"):
        if lan.get(fam):
            net = netaddr.IPNetwork(lan[fam])
            own_lans.append(
                {
                    "prefix": str(net.network),
                    "length": net.prefixlen,
                    "le": 32 if net.version == 4 else 128,
                    "comment": f"{exchange.get('shortname', 'IXP')} peering LAN",
                }
            )
    rs = "rs_as"
    communities: dict[str, Any] = {
        "reject_cause": {"lrg": f"{rs}:{AROUTESERVER_REJECT_NAMESPACE}:dyn_val"},
        "reject_cause_map": {
            code: {"lrg": f"{rs}:{EUROIX_REJECT_NAMESPACE}:{euroix}"}
            for code, euroix in EUROIX_REJECT_CODES.items()
            if code != REJECT_CODE_TOO_MANY_COMMUNITIES  # ours: hook_config()
        },
        "do_not_announce_to_any": {"lrg": f"{rs}:0:0"},
        "do_not_announce_to_peer": {"lrg": f"{rs}:0:peer_as"},
        "announce_to_peer": {"lrg": f"{rs}:1:peer_as"},
        "prepend_once_to_peer": {"lrg": f"{rs}:101:peer_as"},
        "prepend_twice_to_peer": {"lrg": f"{rs}:102:peer_as"},
        "prepend_thrice_to_peer": {"lrg": f"{rs}:103:peer_as"},
        # Euro-IX RPKI origin validation state.
        "rpki_bgp_origin_validation_valid": {"lrg": f"{rs}:1000:1"},
        "rpki_bgp_origin_validation_unknown": {"lrg": f"{rs}:1000:2"},
        "rpki_bgp_origin_validation_not_performed": {"lrg": f"{rs}:1000:3"},
        "rpki_bgp_origin_validation_invalid": {"lrg": f"{rs}:1000:4"},
        # No Euro-IX code exists for these: arouteserver configure's values.
        "rpki_aspa_verification_valid": {"lrg": f"{rs}:1001:1"},
        "rpki_aspa_verification_unknown": {"lrg": f"{rs}:1001:2"},
        "rpki_aspa_verification_not_performed": {"lrg": f"{rs}:1001:3"},
        "rpki_aspa_verification_invalid": {"lrg": f"{rs}:1001:4"},
        "prefix_present_in_as_set": {"lrg": f"{rs}:64512:11"},
        "prefix_not_present_in_as_set": {"lrg": f"{rs}:64512:10"},
        "origin_present_in_as_set": {"lrg": f"{rs}:64512:21"},
        "origin_not_present_in_as_set": {"lrg": f"{rs}:64512:20"},
    }
    blackhole: dict[str, Any] = {"announce_to_client": True, "add_noexport": True}
    if policy["blackhole_policy"]:
        blackhole["policy_ipv4"] = policy["blackhole_policy"]
        blackhole["policy_ipv6"] = policy["blackhole_policy"]
        if policy["blackhole_policy"] == "rewrite-next-hop":
            for fam in ("ipv4", "ipv6"):
                key = f"blackhole_next_hop_{fam}"
                if not policy.get(key):
                    raise RouteServerBuildError(f"route_server_policy.{key}: required by blackhole_policy rewrite-next-hop")
                blackhole[f"rewrite_next_hop_{fam}"] = policy[key]
    return {
        "cfg": {
            "rs_as": rs_as,
            "router_id": router_id,
            "prepend_rs_as": False,
            "path_hiding": True,
            "passive": True,
            "filtering": {
                "next_hop": {"policy": "strict"},
                "ipv4_pref_len": policy["ipv4_pref_len"],
                "ipv6_pref_len": policy["ipv6_pref_len"],
                "global_black_list_pref": own_lans,
                "max_as_path_len": policy["max_as_path_len"],
                "reject_invalid_as_in_as_path": True,
                "transit_free": {"action": "reject", "asns": ", ".join(str(a) for a in policy["transit_free_asns"])},
                "never_via_route_servers": {"peering_db": True},
                "irrdb": {
                    "enforce_origin_in_as_set": policy["irr_enforce_origin"],
                    "enforce_prefix_in_as_set": policy["irr_enforce_prefix"],
                    "allow_longer_prefixes": policy["irr_allow_longer_prefixes"],
                    "tag_as_set": policy["irr_tag_as_set"],
                    "peering_db": False,
                },
                "rpki_bgp_origin_validation": {"enabled": True, "reject_invalid": policy["rpki_reject_invalid"]},
                "rpki_aspa_verification": {"enabled": True, "reject_invalid": policy["aspa_reject_invalid"]},
                "max_prefix": {
                    "action": policy["max_prefix_action"],
                    # BIRD `import limit`: accepted routes only (the
                    # receive limit is added by add_receive_limits()).
                    "count_rejected_routes": False,
                    "peering_db": {"enabled": True, "increment": policy["max_prefix_peeringdb_increment"]},
                },
                "roles": {"enabled": True, "strict_mode": policy["roles_strict"]},
                "reject_policy": {"policy": "tag_and_reject"},
            },
            "rpki_roas": {"source": "rtr"},
            "rpki_aspas": {
                "source": "json",
                "json_url": [aspa_file],
                "allowed_trust_anchors": policy["rpki_trust_anchors"],
                # The snapshot's age is judged by check_snapshot_age().
                "ignore_cache_files_older_than": 10 * 365 * 86400,
            },
            "blackhole_filtering": blackhole,
            "graceful_shutdown": {"enabled": True, "local_pref": 0},
            "rfc1997_wellknown_communities": {"policy": "pass"},
            "communities": communities,
        }
    }


def bogons_config(lab_member_prefixes: list[str]) -> dict[str, Any]:
    """arouteserver's bogon list minus exactly the ranges the lab announces."""
    import pierky.arouteserver as ars

    distrib = Path(ars.__file__).parent / "config.d" / "bogons.yml"
    bogons = yaml.safe_load(distrib.read_text())["bogons"]
    carve = netaddr.IPSet(lab_member_prefixes)
    result = []
    for entry in bogons:
        net = netaddr.IPNetwork(f"{entry['prefix']}/{entry['length']}")
        if entry.get("exact") or not carve or not (netaddr.IPSet([net]) & carve):
            result.append(entry)
            continue
        for rest in (netaddr.IPSet([net]) - carve).iter_cidrs():
            result.append(
                {
                    "prefix": str(rest.network),
                    "length": rest.prefixlen,
                    "comment": f"{entry.get('comment', '')} (minus lab member prefixes)".strip(),
                }
            )
    return {"bogons": result}


# ---------------------------------------------------------------- cache


def _cache_entry(data: Any, now: int) -> str:
    return json.dumps({"ts": now, "data": data})


@functools.lru_cache(maxsize=None)
def _network(prefix: str) -> netaddr.IPNetwork:
    """A route object's prefix, parsed once per build process (a prefix
    is in every bundle that holds its origin)."""
    return netaddr.IPNetwork(prefix)


def _prefix_entry(prefix: str, longer: bool) -> dict[str, Any]:
    """One route object as arouteserver caches bgpq4's answer (-R for longer)."""
    net = _network(prefix)
    if longer:
        return {"prefix": str(net.network), "length": net.prefixlen, "exact": False, "ge": net.prefixlen,
                "le": 32 if net.version == 4 else 128}
    return {"prefix": str(net.network), "length": net.prefixlen, "exact": True, "ge": None, "le": None}


def _bundle_name(object_names: list[str]) -> str:
    from pierky.arouteserver.irrdb import AS_SET_Bundle

    return AS_SET_Bundle(object_names).name


def seed_cache(
    cache_dir: Path,
    members: list[dict[str, Any]],
    snapshot: dict[str, Any],
    now: int | None = None,
    longer_prefixes: bool = True,
) -> None:
    """Write arouteserver's cache files from the snapshot (no network use).

    arouteserver asks for two IRR bundles per client: ``AS<asn>`` and the
    client's AS-SET; for each, the origin ASNs and the IPv4/IPv6 route
    objects of those ASNs (what bgpq4 -A returns). PeeringDB: one file per
    ASN plus the never-via-route-servers list.
    """
    now = now if now is not None else int(time.time())
    cache_dir.mkdir(parents=True, exist_ok=True)
    as_sets_by_name = {}
    for key, value in snapshot["irr"]["as_sets"].items():
        as_sets_by_name.setdefault(key.upper(), value)
    routes = snapshot["irr"]["route_objects"]
    networks = snapshot["peeringdb"]["networks"]
    for index, member in enumerate(rs_members(members)):
        bundles = {f"AS{member['asn']}": [member["asn"]]}
        name = member["as_set"].upper()
        if is_aut_num(name):
            bundles[name] = [int(name[2:])]
        elif name in as_sets_by_name:
            bundles[name] = as_sets_by_name[name]
        else:
            raise RouteServerBuildError(
                f"{_member_where(member, index)}: AS-SET {member['as_set']} is not in the IRR snapshot "
                "(refresh it with playbooks/refresh_snapshots.yml)"
            )
        for object_name, asns in bundles.items():
            bundle = _bundle_name([object_name])
            (cache_dir / f"{bundle}-as_set.json").write_text(_cache_entry(sorted(set(asns)), now))
            for version in (4, 6):
                prefixes = sorted(
                    {p for asn in asns for p in routes.get(str(asn), []) if _network(p).version == version},
                    key=lambda p: (_network(p).value, _network(p).prefixlen),
                )
                suffix = "_and_more_specific" if longer_prefixes else ""
                (cache_dir / f"{bundle}-r_set-ipv{version}{suffix}.json").write_text(
                    _cache_entry([_prefix_entry(p, longer_prefixes) for p in prefixes], now)
                )
        net = networks.get(str(member["asn"]))
        # None is arouteserver's cached "PeeringDB has no record": no lookup.
        pdb = None
        if net:
            pdb = [
                {
                    "asn": member["asn"],
                    "info_prefixes4": net.get("info_prefixes4"),
                    "info_prefixes6": net.get("info_prefixes6"),
                    "irr_as_set": net.get("irr_as_set"),
                }
            ]
        (cache_dir / f"peeringdb_net_{member['asn']}.json").write_text(_cache_entry(pdb, now))
    never = [{"asn": int(asn)} for asn, net in sorted(networks.items()) if net.get("info_never_via_route_servers")]
    (cache_dir / "peeringdb_neverviarouteservers.json").write_text(_cache_entry(never, now))


# ---------------------------------------------------------------- local files


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
        include = f'include "{_LOCAL_DIR_MARKER}/{name}.local";'
        if config.count(include) != 1:
            raise RouteServerBuildError(f"arouteserver output: expected one include of {name}.local")
        config = config.replace(include, f"# --- {name} (inlined by caribix.routeserver)\n{content}")
    if _LOCAL_DIR_MARKER in config:
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


# ---------------------------------------------------------------- build


def policy_with_defaults(policy: dict[str, Any] | None) -> dict[str, Any]:
    merged = json.loads(json.dumps(DEFAULT_POLICY))
    for key, value in (policy or {}).items():
        if key not in DEFAULT_POLICY and not key.startswith("blackhole_next_hop_"):
            raise RouteServerBuildError(
                f"route_server_policy.{key}: unknown setting (known: {', '.join(sorted(DEFAULT_POLICY))})"
            )
        merged[key] = value
    return merged


def write_inputs(workdir: Path, general: dict, clients: dict, bogons: dict, cache_dir: Path) -> Path:
    import pierky.arouteserver as ars

    package = Path(ars.__file__).parent
    program_cfg = {
        "cfg_dir": str(workdir),
        "logging_config_file": str(package / "config.d" / "log.ini"),
        "cfg_general": "general.yml",
        "cfg_clients": "clients.yml",
        "cfg_bogons": "bogons.yml",
        "templates_dir": str(package / "templates"),
        "cache_dir": str(cache_dir),
        # A cache miss must fail the build, never go online.
        "bgpq3_path": shutil.which("false") or "/bin/false",
        "bgpq3_timeout": 5,
        "check_new_release": False,
        "threads": 1,
        # The snapshot's age is checked by this module; the cache is fresh.
        "cache_expiry": 864000,
    }
    for name, data in (
        ("arouteserver.yml", program_cfg),
        ("general.yml", general),
        ("clients.yml", clients),
        ("bogons.yml", bogons),
    ):
        (workdir / name).write_text(yaml.safe_dump(data, sort_keys=False))
    return workdir / "arouteserver.yml"


def run_arouteserver(
    program_cfg: Path, output: Path, extra_args: list[str] | None = None, module: str = "caribix.arouteserver_run"
) -> None:
    """arouteserver's `bird` command; `module` pierky.arouteserver.cli is
    arouteserver's own entry point, caribix.arouteserver_run the same
    with its speed-ups (same output)."""
    cmd = [
        sys.executable,
        "-m",
        module,
        "bird",
        "--cfg",
        str(program_cfg),
        "--target-version",
        BIRD_TARGET_VERSION,
        "-o",
        str(output),
    ] + (extra_args or [])
    env = dict(os.environ, PEERINGDB_API_KEY="", HOME=str(program_cfg.parent))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, cwd=program_cfg.parent)
    if proc.returncode != 0:
        raise RouteServerBuildError(f"arouteserver failed (exit {proc.returncode}):\n{proc.stderr.strip()}")


_ROUTER_ID_LINE = re.compile(r"^router id [0-9.]+;$", re.M)
SHARED_BUILDS_KEPT = 6


def shared_build_key(data: dict[str, Any], snapshot_dir: str | Path) -> str:
    """What a build depends on, but the router id: the input, the snapshot
    files, this code and arouteserver's."""
    import pierky.arouteserver as ars
    from pierky.arouteserver.version import __version__ as ars_version

    digest = hashlib.sha256()
    digest.update(json.dumps({k: v for k, v in data.items() if k != "router_id"}, sort_keys=True).encode())
    for path in sorted(Path(snapshot_dir).iterdir()):
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    for source in (Path(__file__), Path(__file__).with_name("arouteserver_run.py")):
        digest.update(source.read_bytes())
    digest.update(f"{ars_version} {Path(ars.__file__).parent} {BIRD_TARGET_VERSION}".encode())
    return digest.hexdigest()


def _load_shared_build(shared_cache: Path, key: str) -> dict[str, Any] | None:
    try:
        return json.loads((shared_cache / f"{key}.json").read_text())
    except (OSError, ValueError):
        return None


def _store_shared_build(shared_cache: Path, key: str, entry: dict[str, Any]) -> None:
    shared_cache.mkdir(parents=True, exist_ok=True)
    temporary = shared_cache / f".{key}.{os.getpid()}.tmp"
    temporary.write_text(json.dumps(entry))
    temporary.replace(shared_cache / f"{key}.json")
    # Only the last few builds: each is a whole config.
    entries = sorted(shared_cache.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[SHARED_BUILDS_KEPT:]:
        old.unlink(missing_ok=True)


def build(
    data: dict[str, Any],
    snapshot_dir: str | Path,
    workdir: str | Path,
    now: dt.datetime | None = None,
    shared_cache: str | Path | None = None,
) -> BuildResult:
    """Build one route server's bird.conf.

    ``data`` keys: exchange, members, router_id, lab_mode (bool),
    graceful_shutdown (bool: drain this route server), secrets_dir,
    policy (overrides of DEFAULT_POLICY). ``shared_cache``: a directory
    where a build for another router id with the same input is reused
    (module docstring).
    """
    for key in ("exchange", "members", "router_id"):
        if key not in data:
            raise RouteServerBuildError(f"build input: '{key}' missing")
    try:
        router_id = str(netaddr.IPAddress(data["router_id"], version=4))
    except (netaddr.AddrFormatError, ValueError) as exc:
        raise RouteServerBuildError(f"router_id: not an IPv4 address: {data['router_id']!r}") from exc
    policy = policy_with_defaults(data.get("policy"))
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    started = time.monotonic()

    snapshot = load_snapshot(snapshot_dir)
    lab_mode = bool(data.get("lab_mode"))
    warnings = check_snapshot_age(snapshot["metadata"], policy["snapshot_max_age_hours"], now, lab_mode=lab_mode)
    members = data["members"]
    # arouteserver reads the ASPAs from a file in rpki-client's format;
    # only the `aspas` are needed (ROAs reach BIRD over RTR).
    # The path is relative to the build directory (arouteserver's working
    # directory): general.yml stays the same from build to build.
    (workdir / ASPA_FILE).write_text(json.dumps({"roas": [], "aspas": snapshot["rpki"]["aspas"]}))
    general = general_config(data["exchange"], router_id, policy, ASPA_FILE)
    clients = clients_config(members, data.get("secrets_dir", "/etc/bird/route-server-secrets"))
    bogons = bogons_config(policy["lab_member_prefixes"] if lab_mode else [])

    cache_dir = workdir / "cache"
    shutil.rmtree(cache_dir, ignore_errors=True)
    program_cfg = write_inputs(workdir, general, clients, bogons, cache_dir)
    key = shared_build_key(data, snapshot_dir) if shared_cache else ""
    shared = _load_shared_build(Path(shared_cache), key) if shared_cache else None
    fetched = ", ".join(f"{p} {snapshot['metadata']['parts'][p]['fetched_at']}" for p in SNAPSHOT_PARTS)
    header = (
        f"# Built by caribix.routeserver for {data['exchange'].get('shortname', '?')} route server {router_id}\n"
        f"# from the members data and snapshot {Path(snapshot_dir).name} "
        f"({fetched}).\n"
        + ("# GRACEFUL SHUTDOWN of this route server is ON (routes sent with 65535:0).\n" if data.get("graceful_shutdown") else "")
    )
    if shared:
        # The other route server's build: only its router id line differs.
        body, count = _ROUTER_ID_LINE.subn(f"router id {router_id};", shared["body"], count=1)
        if count == 1:
            timings["shared_build"] = 1
            return BuildResult(
                config=header + body,
                expected_bgp_sessions=shared["expected_bgp_sessions"],
                expected_roas=count_unique_roas(snapshot["rpki"]),
                warnings=warnings,
                snapshot_metrics=snapshot_metrics(snapshot["metadata"]),
                limit_metrics=shared["limit_metrics"],
                clients=clients,
                general=general,
                timings=timings,
            )
    seed_cache(cache_dir, members, snapshot, longer_prefixes=policy["irr_allow_longer_prefixes"])
    timings["prepare_s"] = time.monotonic() - started

    args = [
        "--local-files-dir",
        _LOCAL_DIR_MARKER,
        "--use-local-files",
        "header",
        "--use-hooks",
        "pre_receive_from_client",
    ]
    if data.get("graceful_shutdown"):
        args.append("--perform-graceful-shutdown")
    raw_output = workdir / "arouteserver-output.conf"
    started = time.monotonic()
    run_arouteserver(program_cfg, raw_output, args)
    timings["arouteserver_s"] = time.monotonic() - started

    config = raw_output.read_text()
    config = inline_local_files(
        config,
        {"rpki_rtr_config": rtr_config(policy["rtr_port"]), "header": hook_config(policy["max_communities"])},
    )
    config = quieten_logging(config)
    config = split_prefix_length_reject(config)
    config = add_receive_limits(config, policy["max_prefix_receive_factor"], policy["max_prefix_receive_action"])
    if lab_mode:
        config = relax_invalid_asns(config, lab_asns(members, snapshot, policy["lab_extra_asns"]))
    expected = sum(1 for m in rs_members(members) for fam in ("ipv4", "ipv6") if m.get(fam))
    found = count_bgp_protocols(config)
    if found != expected:
        raise RouteServerBuildError(f"sanity check: {found} BGP sessions in the config, {expected} expected")
    body = _strip_build_timestamps(config)
    limits = limit_metrics(body)
    if shared_cache and len(_ROUTER_ID_LINE.findall(body)) == 1:
        _store_shared_build(Path(shared_cache), key, {"body": body, "expected_bgp_sessions": expected, "limit_metrics": limits})
    return BuildResult(
        config=header + body,
        expected_bgp_sessions=expected,
        expected_roas=count_unique_roas(snapshot["rpki"]),
        warnings=warnings,
        snapshot_metrics=snapshot_metrics(snapshot["metadata"]),
        limit_metrics=limits,
        clients=clients,
        general=general,
        timings=timings,
    )


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


def _strip_build_timestamps(config: str) -> str:
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


# ---------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m caribix.routeserver", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("build", help="build bird.conf for one route server")
    cmd.add_argument("--input", required=True, help="JSON file ('-': stdin): exchange, members, router_id, lab_mode, policy")
    cmd.add_argument("--snapshot-dir", required=True)
    cmd.add_argument("--output-dir", required=True)
    cmd.add_argument("--shared-cache", help="directory where the other route server's build of the same input is reused")
    args = parser.parse_args(argv)

    raw = sys.stdin.read() if args.input == "-" else Path(args.input).read_text()
    data = json.loads(raw)
    out = Path(args.output_dir)
    try:
        with tempfile.TemporaryDirectory(prefix="caribix-rs-") as tmp:
            result = build(data, args.snapshot_dir, tmp, shared_cache=args.shared_cache)
            out.mkdir(parents=True, exist_ok=True)
            for name in ("general.yml", "clients.yml", "bogons.yml"):
                shutil.copy(Path(tmp) / name, out / name)
    except RouteServerBuildError as exc:
        print(json.dumps({"failed": True, "msg": str(exc)}))
        return 1
    (out / "bird.conf").write_text(result.config)
    print(
        json.dumps(
            {
                "failed": False,
                "config": str(out / "bird.conf"),
                "expected_bgp_sessions": result.expected_bgp_sessions,
                "expected_roas": result.expected_roas,
                "warnings": result.warnings,
                "snapshot_metrics": result.snapshot_metrics,
                "limit_metrics": result.limit_metrics,
                "timings": result.timings,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
