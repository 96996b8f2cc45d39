"""Why a route server filtered a route, decoded from its BGP large communities.

With arouteserver's ``reject_policy: tag_and_reject`` and ``import keep
filtered on``, a rejected route stays in BIRD, tagged
``(RS_ASN, N, 0)`` ("treat as discarded") and ``(RS_ASN, N, <code>)``
(why), where ``N`` is what the route-server config chose for
``communities.reject_cause``:

- CaribIX's route servers (roles/route_server, docs/route-servers.md) use
  the layout ``arouteserver configure`` proposes: ``N = 65520`` with
  arouteserver's codes (plus code 100 for their own too-many-communities
  check), and the Euro-IX ``(RS_ASN, 1101, <Euro-IX code>)`` via
  reject_cause_map where Euro-IX has a code;
- IXP Manager's route servers tag Euro-IX codes only.

So which code table a namespace uses is configuration (``scheme``:
``{namespace: "arouteserver" | "euro-ix"}``), never guessed. The tables
follow arouteserver 1.27.0 (``pierky/arouteserver/reject_reasons.py``;
65535 is what its templates use for any other reason) and IXP Manager's
Euro-IX definitions (``community-filtering-definitions``).
"""

from __future__ import annotations

from dataclasses import dataclass

AROUTESERVER = "arouteserver"
EUROIX = "euro-ix"

AROUTESERVER_REASONS = {
    1: "Invalid AS_PATH length",
    2: "Prefix is bogon",
    3: "Prefix is in global blacklist",
    4: "Invalid AFI",
    5: "Invalid NEXT_HOP",
    6: "Invalid left-most ASN",
    7: "Invalid ASN in AS_PATH",
    8: "Transit-free ASN in AS_PATH",
    9: "Origin ASN not in IRRDB AS-SETs",
    10: "IPv6 prefix not in global unicast space",
    11: "Prefix is in client blacklist",
    12: "Prefix not in IRRDB AS-SETs",
    13: "Invalid prefix length",
    14: "RPKI INVALID route",
    15: "Never via route-servers ASN in AS_PATH",
    16: "ASPA INVALID AS_PATH",
    # CaribIX's own check (caribix.routeserver.REJECT_CODE_TOO_MANY_COMMUNITIES).
    100: "Too many communities",
    65535: "Unknown (see the route server's log)",
}

EUROIX_REASONS = {
    1: "Prefix length too long",
    2: "Prefix length too short",
    3: "Bogon prefix",
    4: "Bogon ASN in AS_PATH",
    5: "AS_PATH too long",
    6: "AS_PATH too short",
    7: "First ASN is not the peer's ASN",
    8: "NEXT_HOP is not the peer's address",
    9: "Prefix not in IRRDB AS-SETs",
    10: "Origin ASN not in IRRDB AS-SETs",
    11: "Prefix not registered for the origin ASN",
    12: "RPKI UNKNOWN route",
    13: "RPKI INVALID route",
    14: "Transit-free ASN in AS_PATH",
    15: "Too many communities",
}

TABLES = {AROUTESERVER: AROUTESERVER_REASONS, EUROIX: EUROIX_REASONS}

# What roles/route_server writes (docs/route-servers.md).
DEFAULT_SCHEME = {65520: AROUTESERVER, 1101: EUROIX}

# Short machine names, stable across both tables, for the API and CSS.
REASON_KEYS = {
    "Prefix is bogon": "bogon",
    "Bogon prefix": "bogon",
    "IPv6 prefix not in global unicast space": "bogon",
    "RPKI INVALID route": "rpki-invalid",
    "Prefix not in IRRDB AS-SETs": "not-in-irr",
    "Origin ASN not in IRRDB AS-SETs": "origin-not-in-irr",
    "Invalid prefix length": "prefix-length",
    "Prefix length too long": "prefix-length",
    "Prefix length too short": "prefix-length",
}


@dataclass(frozen=True)
class RejectReason:
    code: int
    text: str
    source: str  # "arouteserver" or "euro-ix"

    @property
    def key(self) -> str:
        return REASON_KEYS.get(self.text, "other")

    def as_dict(self) -> dict:
        return {
            "code": self.code,
            "reason": self.text,
            "source": self.source,
            "key": self.key,
        }


def parse_scheme(scheme: dict) -> dict[int, str]:
    """``{"1101": "arouteserver"}`` (JSON keys are strings) to ``{1101: ...}``."""
    parsed = {}
    for namespace, table in scheme.items():
        if table not in TABLES:
            raise ValueError(
                f"reject scheme: namespace {namespace}: unknown code table {table!r} (use {sorted(TABLES)})"
            )
        parsed[int(namespace)] = table
    return parsed


def reject_reasons(
    large_communities, rs_asn: int, scheme: dict[int, str] | None = None
) -> list[RejectReason]:
    """The reasons a route was filtered, from its large communities.

    ``large_communities`` is an iterable of ``(global, data1, data2)``;
    only the route server's own (``global == rs_asn``) in a namespace of
    ``scheme`` count. arouteserver-table reasons come before Euro-IX ones
    (a route tagged both ways says the same thing twice). Unknown codes
    are reported, not dropped.
    """
    scheme = DEFAULT_SCHEME if scheme is None else scheme
    found = {AROUTESERVER: [], EUROIX: []}
    for community in large_communities:
        global_admin, namespace, code = (int(part) for part in community)
        table = scheme.get(namespace)
        if global_admin != rs_asn or table is None or code == 0:
            # Code 0 only marks the route as discarded; the next one says why.
            continue
        text = TABLES[table].get(code, f"Unknown reject code {code}")
        reason = RejectReason(code, text, table)
        if reason not in found[table]:
            found[table].append(reason)
    return found[AROUTESERVER] or found[EUROIX]
