"""What every route-server build shares: the policy defaults, the BIRD
versions, the reject-code tables, and the error a bad input or a failed
build raises."""

from __future__ import annotations

import json
from typing import Any

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



def policy_with_defaults(policy: dict[str, Any] | None) -> dict[str, Any]:
    merged = json.loads(json.dumps(DEFAULT_POLICY))
    for key, value in (policy or {}).items():
        if key not in DEFAULT_POLICY and not key.startswith("blackhole_next_hop_"):
            raise RouteServerBuildError(
                f"route_server_policy.{key}: unknown setting (known: {', '.join(sorted(DEFAULT_POLICY))})"
            )
        merged[key] = value
    return merged
