"""Parsing real birdc output (BIRD 2.0.12) captured in fixtures/birdc/."""

from pathlib import Path

import pytest

from caribix_lg import birdparse, reject
from caribix_lg.reject import reject_reasons

FIXTURES = Path(__file__).parent / "fixtures" / "birdc"
RS_ASN = 64496
# The rs_* captures predate the Euro-IX layout: arouteserver's codes in 1101.
CAPTURED_LAYOUT = {1101: reject.AROUTESERVER}


def fixture(name: str) -> str:
    return (FIXTURES / f"{name}.txt").read_text()


def by_network(routes):
    return {route["network"]: route for route in routes}


def test_status():
    status = birdparse.parse_status(fixture("rs_show_status"))
    assert status["version"] == "2.0.12"
    assert status["router_id"] == "192.0.2.131"
    assert status["hostname"] == "lg-rs1"
    assert status["last_reboot"] == "2026-11-26 04:39:36"
    assert status["last_reconfig"] == "2026-11-26 04:39:36"
    assert status["message"] == "Daemon is up and running"


def test_status_default_time_format():
    status = birdparse.parse_status(fixture("member_show_status"))
    assert status["router_id"] == "192.0.2.140"
    assert status["message"] == "Daemon is up and running"


def test_protocols_established_session_with_counts():
    protocols = birdparse.parse_protocols(fixture("rs_show_protocols_all"))
    session = protocols["AS64500_1"]
    assert session["bird_protocol"] == "BGP"
    assert session["state"] == "up"
    assert session["bgp_state"] == "Established"
    assert session["description"] == "Karukera Telecom"
    assert session["neighbor_address"] == "192.0.2.140"
    assert session["neighbor_as"] == 64500
    assert session["local_as"] == RS_ASN
    assert session["state_changed"] == "2026-11-26 04:39:45"
    assert list(session["channels"]) == ["ipv4"]
    channel = session["channels"]["ipv4"]
    assert channel["routes"] == {
        "imported": 1,
        "filtered": 2,
        "exported": 0,
        "preferred": 1,
    }
    assert channel["import_limit"] == 50
    assert channel["import_updates"] == {
        "received": 3,
        "rejected": 0,
        "filtered": 2,
        "ignored": 0,
        "accepted": 1,
    }
    assert session["routes"] == channel["routes"]


def test_protocols_ipv6_session():
    session = birdparse.parse_protocols(fixture("rs_show_protocols_all"))["AS64500_2"]
    assert session["neighbor_address"] == "2001:db8:3::140"
    assert list(session["channels"]) == ["ipv6"]
    assert session["channels"]["ipv6"]["routes"]["filtered"] == 2
    assert session["channels"]["ipv6"]["table"] == "master6"


def test_protocols_down_session_keeps_its_error():
    protocols = birdparse.parse_protocols(fixture("rs_show_protocols_all"))
    down = protocols["AS64501_1"]
    assert down["state"] == "start"
    assert down["bgp_state"] == "Connect"
    assert down["last_error"] == "Socket: No route to host"
    assert down["neighbor_as"] == 64501
    assert down["routes"]["imported"] == 0


def test_protocols_lists_every_protocol_and_kind():
    protocols = birdparse.parse_protocols(fixture("rs_show_protocols_all"))
    assert set(protocols) == {
        "device1",
        "rpki_roas4",
        "rpki_roas6",
        "AS64500_1",
        "AS64500_2",
        "AS64501_1",
        "AS64501_2",
    }
    assert protocols["rpki_roas4"]["bird_protocol"] == "Static"
    assert protocols["device1"]["bird_protocol"] == "Device"


def test_protocols_default_time_format():
    protocols = birdparse.parse_protocols(fixture("member_show_protocols_all"))
    assert protocols["lg_rs1_ipv4"]["state_changed"].count(":") == 2
    assert protocols["lg_rs1_ipv4"]["neighbor_as"] == RS_ASN
    assert protocols["announced4"]["channels"]["ipv4"]["routes"]["imported"] == 3


def test_accepted_ipv4_route():
    routes = birdparse.parse_routes(fixture("rs_routes_accepted_ipv4"))
    assert len(routes) == 1
    route = routes[0]
    assert route["network"] == "203.0.113.0/24"
    assert route["table"] == "master4"
    assert route["from_protocol"] == "AS64500_1"
    assert route["primary"] is True
    assert route["gateway"] == "192.0.2.140"
    assert route["interface"] == "eth0"
    assert route["type"] == ["BGP", "univ"]
    assert route["bgp"]["as_path"] == [64500]
    assert route["bgp"]["origin"] == "IGP"
    assert route["bgp"]["next_hop"] == "192.0.2.140"
    assert route["bgp"]["local_pref"] == 100
    assert route["bgp"]["large_communities"] == []
    assert reject_reasons(route["bgp"]["large_communities"], RS_ASN, CAPTURED_LAYOUT) == []


def test_accepted_ipv6_route_with_link_local_next_hop():
    (route,) = birdparse.parse_routes(fixture("rs_routes_accepted_ipv6"))
    assert route["network"] == "2001:db8:1000::/48"
    assert route["table"] == "master6"
    assert route["bgp"]["next_hop"] == "2001:db8:3::140"
    assert route["bgp"]["next_hop_link_local"].startswith("fe80::")


def test_filtered_ipv4_routes_and_their_reasons():
    routes = by_network(birdparse.parse_routes(fixture("rs_routes_filtered_ipv4")))
    assert set(routes) == {"198.51.100.0/24", "203.0.113.128/25"}
    rpki = routes["198.51.100.0/24"]
    assert rpki["bgp"]["large_communities"] == [
        [RS_ASN, 1101, 0],
        [RS_ASN, 1101, 14],
        [RS_ASN, 1102, 64500],
    ]
    assert [
        (r.code, r.text, r.key)
        for r in reject_reasons(rpki["bgp"]["large_communities"], RS_ASN, CAPTURED_LAYOUT)
    ] == [(14, "RPKI INVALID route", "rpki-invalid")]
    too_long = routes["203.0.113.128/25"]
    assert [
        r.text for r in reject_reasons(too_long["bgp"]["large_communities"], RS_ASN, CAPTURED_LAYOUT)
    ] == ["Invalid prefix length"]


def test_filtered_ipv6_routes_and_their_reasons():
    routes = by_network(birdparse.parse_routes(fixture("rs_routes_filtered_ipv6")))
    # The /56 does not fit BIRD's network column: it must still parse.
    assert set(routes) == {"2001:db8:1800::/48", "2001:db8:1000:100::/56"}
    not_in_irr = reject_reasons(
        routes["2001:db8:1800::/48"]["bgp"]["large_communities"], RS_ASN, CAPTURED_LAYOUT
    )
    assert [(r.code, r.text, r.key) for r in not_in_irr] == [
        (12, "Prefix not in IRRDB AS-SETs", "not-in-irr")
    ]
    too_long = reject_reasons(
        routes["2001:db8:1000:100::/56"]["bgp"]["large_communities"], RS_ASN
    )
    assert [r.code for r in too_long] == [13]


def test_arouteserver_configure_layout():
    # Captured before the fixture switched to roles/route_server's layout:
    # arouteserver's codes in 65520 and Euro-IX codes in 1101.
    routes = by_network(
        birdparse.parse_routes(fixture("configure_layout_routes_filtered_ipv4"))
    )
    communities = routes["198.51.100.0/24"]["bgp"]["large_communities"]
    assert communities == [[RS_ASN, 65520, 0], [RS_ASN, 65520, 14], [RS_ASN, 1101, 13]]
    layout = {65520: reject.AROUTESERVER, 1101: reject.EUROIX}
    assert [r.text for r in reject_reasons(communities, RS_ASN, layout)] == [
        "RPKI INVALID route"
    ]
    assert [
        r.text for r in reject_reasons(communities, RS_ASN, {1101: reject.EUROIX})
    ] == ["RPKI INVALID route"]


def test_routes_across_two_tables():
    routes = birdparse.parse_routes(fixture("rs_routes_filtered_origin_asn"))
    assert [(route["table"], route["network"]) for route in routes] == [
        ("master4", "198.51.100.0/24"),
        ("master4", "203.0.113.128/25"),
        ("master6", "2001:db8:1800::/48"),
        ("master6", "2001:db8:1000:100::/56"),
    ]


def test_several_routes_for_one_network():
    routes = birdparse.parse_routes(fixture("multipath_show_route_all"))
    assert [
        (route["network"], route["from_protocol"], route["primary"]) for route in routes
    ] == [
        ("198.51.100.0/24", "backup4", True),
        ("203.0.113.0/24", "primary4", True),
        ("203.0.113.0/24", "backup4", False),
    ]
    backup = routes[2]
    assert backup["bgp"]["communities"] == [[65535, 666]]
    assert backup["bgp"]["as_path"] == [64500]
    assert backup["kind"] == "blackhole"
    assert backup["preference"] == 100
    assert backup["age"] == "03:58:02.398"
    # Tagged the `arouteserver configure` way (65520).
    layout = {65520: reject.AROUTESERVER}
    assert [
        r.text
        for r in reject_reasons(backup["bgp"]["large_communities"], RS_ASN, layout)
    ] == ["Prefix is bogon"]


def test_static_routes_default_time_format():
    routes = birdparse.parse_routes(fixture("member_show_route_all"))
    assert len(routes) == 6
    assert {route["from_protocol"] for route in routes} == {"announced4", "announced6"}
    assert all(route["bgp"] == {} for route in routes)


@pytest.mark.parametrize(
    "name",
    [
        "rs_routes_noexport_ipv4",
        "rs_routes_export_down_protocol",
        "rs_routes_network_not_found",
    ],
)
def test_nothing_to_show_is_an_empty_list(name):
    assert birdparse.parse_routes(fixture(name)) == []


def test_restricted_mode_refusal_is_an_error():
    with pytest.raises(birdparse.BirdError, match="Access denied"):
        birdparse.parse_routes(fixture("rs_configure_denied"))


def test_long_attribute_values_wrapped_by_bird():
    text = (
        "Table master4:\n"
        "203.0.113.0/24       unicast [AS64500_1 2026-11-26 03:57:21] * (100) [AS64500i]\n"
        "\tvia 192.0.2.140 on eth0\n"
        "\tBGP.large_community: (64496, 65520, 0) (64496, 65520, 9)\n"
        "\t\t(64496, 1101, 10)\n"
    )
    (route,) = birdparse.parse_routes(text)
    assert route["bgp"]["large_communities"] == [
        [64496, 65520, 0],
        [64496, 65520, 9],
        [64496, 1101, 10],
    ]
