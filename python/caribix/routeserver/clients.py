"""arouteserver's input from the island data: the route-server members
(clients.yml), the general settings (general.yml) and the bogons."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import netaddr
import yaml

from caribix.routeserver.policy import (
    AROUTESERVER_REJECT_NAMESPACE,
    ASPA_FILE,
    EUROIX_REJECT_CODES,
    EUROIX_REJECT_NAMESPACE,
    LIMIT_ACTIONS,
    REJECT_CODE_TOO_MANY_COMMUNITIES,
    RouteServerBuildError,
)

def member_where(member: dict[str, Any], index: int) -> str:
    return f"members[{index}] ({member.get('name', '?')}, AS{member.get('asn', '?')})"


def rs_members(members: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The members that peer with the route servers. The members come
    checked by caribix.validate (every playbook runs it before a build):
    their fields are trusted here, not checked a second time."""
    chosen = [member for member in members if member.get("route_server")]
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
