"""Reject-reason decoding against arouteserver's own table and our layouts."""

import pytest
from pierky.arouteserver import reject_reasons as arouteserver_reject_reasons

from caribix import routeserver
from caribix_lg import reject

# What `arouteserver configure` proposes: its codes in 65520, Euro-IX in 1101.
CONFIGURE_LAYOUT = {65520: reject.AROUTESERVER, 1101: reject.EUROIX}


def test_table_matches_installed_arouteserver():
    # The route servers are built with arouteserver: its code table is the truth.
    for code, text in arouteserver_reject_reasons.REJECT_REASONS.items():
        assert reject.AROUTESERVER_REASONS[int(code)] == text


def test_caribix_route_server_own_code():
    # roles/route_server's extra check, tagged with the same layout.
    code = routeserver.REJECT_CODE_TOO_MANY_COMMUNITIES
    euroix = routeserver.EUROIX_REJECT_CODES[code]
    communities = [(64496, 65520, 0), (64496, 65520, code), (64496, 1101, euroix)]
    (reason,) = reject.reject_reasons(communities, 64496)
    assert reason.text == "Too many communities"
    (reason,) = reject.reject_reasons([(64496, 1101, euroix)], 64496, {1101: reject.EUROIX})
    assert reason.text == "Too many communities"


def test_default_is_the_caribix_route_server_layout():
    assert reject.DEFAULT_SCHEME == {
        routeserver.AROUTESERVER_REJECT_NAMESPACE: reject.AROUTESERVER,
        routeserver.EUROIX_REJECT_NAMESPACE: reject.EUROIX,
    }
    communities = [(64496, 65520, 0), (64496, 65520, 14), (64496, 1101, 13)]
    reasons = reject.reject_reasons(communities, 64496)
    assert [(r.source, r.code, r.text) for r in reasons] == [
        ("arouteserver", 14, "RPKI INVALID route")
    ]


@pytest.mark.parametrize("code,euroix", sorted(routeserver.EUROIX_REJECT_CODES.items()))
def test_every_mapped_code_means_the_same_in_both_tables(code, euroix):
    """The route server's arouteserver -> Euro-IX map, read by an IXP Manager
    or Alice-LG user: same reason, or the Euro-IX code that contains it."""
    same = {
        "Invalid AS_PATH length": "AS_PATH too long",
        "Prefix is bogon": "Bogon prefix",
        "Prefix is in global blacklist": "Bogon prefix",
        "Invalid NEXT_HOP": "NEXT_HOP is not the peer's address",
        "Invalid left-most ASN": "First ASN is not the peer's ASN",
        "Invalid ASN in AS_PATH": "Bogon ASN in AS_PATH",
        "Transit-free ASN in AS_PATH": "Transit-free ASN in AS_PATH",
        "Origin ASN not in IRRDB AS-SETs": "Origin ASN not in IRRDB AS-SETs",
        "IPv6 prefix not in global unicast space": "Bogon prefix",
        "Prefix not in IRRDB AS-SETs": "Prefix not in IRRDB AS-SETs",
        "RPKI INVALID route": "RPKI INVALID route",
        "Too many communities": "Too many communities",
    }
    assert same[reject.AROUTESERVER_REASONS[code]] == reject.EUROIX_REASONS[euroix]


def test_discard_marker_alone_gives_no_reason():
    assert reject.reject_reasons([(64496, 1101, 0)], 64496) == []


def test_other_asn_and_other_namespaces_are_ignored():
    communities = [(64500, 1101, 2), (64496, 1, 2), (64496, 1102, 64500)]
    assert reject.reject_reasons(communities, 64496) == []


def test_configure_layout_arouteserver_reason_wins_over_euroix():
    communities = [(64496, 65520, 0), (64496, 65520, 14), (64496, 1101, 13)]
    reasons = reject.reject_reasons(communities, 64496, CONFIGURE_LAYOUT)
    assert [(r.source, r.code, r.text) for r in reasons] == [
        ("arouteserver", 14, "RPKI INVALID route")
    ]


def test_euroix_only_route_server():
    reasons = reject.reject_reasons([(64496, 1101, 3)], 64496, {1101: reject.EUROIX})
    assert [(r.source, r.text, r.key) for r in reasons] == [
        ("euro-ix", "Bogon prefix", "bogon")
    ]


def test_unknown_codes_are_reported():
    (reason,) = reject.reject_reasons([(64496, 65520, 999)], 64496)
    assert reason.text == "Unknown reject code 999"
    assert reason.key == "other"
    assert reject.reject_reasons([(64496, 65520, 65535)], 64496)[0].text.startswith(
        "Unknown"
    )


def test_as_dict():
    (reason,) = reject.reject_reasons([(64496, 65520, 2)], 64496)
    assert reason.as_dict() == {
        "code": 2,
        "reason": "Prefix is bogon",
        "source": "arouteserver",
        "key": "bogon",
    }


def test_scheme_from_json_config():
    assert reject.parse_scheme({"1101": "arouteserver", "65520": "euro-ix"}) == {
        1101: "arouteserver",
        65520: "euro-ix",
    }
    with pytest.raises(ValueError, match="unknown code table"):
        reject.parse_scheme({"1101": "ixpm"})
