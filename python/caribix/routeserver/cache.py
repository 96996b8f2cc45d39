"""arouteserver's cache, seeded from the snapshot so that no IRR or
PeeringDB query happens (a miss fails the build)."""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path
from typing import Any

import netaddr

from caribix.routeserver.clients import is_aut_num, member_where, rs_members
from caribix.routeserver.policy import RouteServerBuildError

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
                f"{member_where(member, index)}: AS-SET {member['as_set']} is not in the IRR snapshot "
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
