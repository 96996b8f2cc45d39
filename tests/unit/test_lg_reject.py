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
    communities = [(64496, 1101, 0), (64496, 1101, code), (64496, 1102, 64500)]
    (reason,) = reject.reject_reasons(communities, 64496)
    assert reason.text == "Too many communities"


def test_default_is_the_caribix_route_server_layout():
    communities = [(64496, 1101, 0), (64496, 1101, 14), (64496, 1102, 64500)]
    reasons = reject.reject_reasons(communities, 64496)
    assert [(r.source, r.code, r.text) for r in reasons] == [
        ("arouteserver", 14, "RPKI INVALID route")
    ]


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
    (reason,) = reject.reject_reasons([(64496, 1101, 999)], 64496)
    assert reason.text == "Unknown reject code 999"
    assert reason.key == "other"
    assert reject.reject_reasons([(64496, 1101, 65535)], 64496)[0].text.startswith(
        "Unknown"
    )


def test_as_dict():
    (reason,) = reject.reject_reasons([(64496, 1101, 2)], 64496)
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
