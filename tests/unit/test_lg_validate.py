"""Input validation of the looking glass: examples and properties (hypothesis)."""

import ipaddress
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caribix_lg import birdc, validate
from caribix_lg.validate import InvalidInput

TABLES = {"ipv4": "master4", "ipv6": "master6"}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("64500", 64500),
        ("AS64500", 64500),
        ("as4200000000", 4200000000),
        ("4294967295", 4294967295),
    ],
)
def test_asn_accepted(text, expected):
    assert validate.asn(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "0",
        "AS0",
        "4294967296",
        "064500",
        "AS 64500",
        "64500;",
        "AS-KARUKERA",
        "1e5",
        " 1",
    ],
)
def test_asn_refused(text):
    with pytest.raises(InvalidInput, match="invalid AS number"):
        validate.asn(text)


@pytest.mark.parametrize(
    "text",
    ["203.0.113.0/24", "2001:db8:1000::/48", "0.0.0.0/0", "::/0", "198.51.100.7/32"],
)
def test_prefix_accepted(text):
    assert str(validate.prefix(text)) == text


@pytest.mark.parametrize(
    "text",
    [
        "203.0.113.1/24",
        "203.0.113.0/33",
        "203.0.113.0",
        "203.0.113.0/24 ",
        "fe80::1%eth0/64",
        "203.0.113.0/24;reboot",
        "010.0.0.0/8",
        "2001:db8::/129",
        "[2001:db8::]/32",
        "",
    ],
)
def test_prefix_refused(text):
    with pytest.raises(InvalidInput, match="invalid prefix"):
        validate.prefix(text)


@pytest.mark.parametrize("text", ["AS64500_1", "_x", "rs1_ipv4", "A" * 64])
def test_protocol_name_accepted(text):
    assert validate.protocol_name(text) == text


@pytest.mark.parametrize(
    "text", ["", "1abc", "AS64500-1", "a b", "a;configure", "A" * 65, '"x"', "x\n"]
)
def test_protocol_name_refused(text):
    with pytest.raises(InvalidInput, match="invalid protocol name"):
        validate.protocol_name(text)


def test_lookup_kinds():
    assert validate.lookup_query(" AS64500 ") == ("asn", 64500)
    assert validate.lookup_query("203.0.113.0/24") == (
        "prefix",
        ipaddress.ip_network("203.0.113.0/24"),
    )
    assert validate.lookup_query("2001:db8::1") == (
        "address",
        ipaddress.ip_address("2001:db8::1"),
    )
    for bad in ["", "   ", "karukera", "203.0.113.0/24 or 1=1", "AS64500 AS64501"]:
        with pytest.raises(InvalidInput):
            validate.lookup_query(bad)


# -- properties -----------------------------------------------------------------

SAFE_WORD = birdc._SAFE_WORD  # what a BIRD command word may contain


def _outcome(function, text):
    try:
        return function(text)
    except InvalidInput:
        return None


@settings(max_examples=400)
@given(st.text(max_size=80))
def test_any_text_is_either_refused_or_canonical(text):
    """Whatever a client sends: a clean 400, or a value whose text form is safe."""
    for function in (
        validate.asn,
        validate.prefix,
        validate.address,
        validate.protocol_name,
    ):
        value = _outcome(function, text)
        if value is not None:
            assert SAFE_WORD.fullmatch(str(value))
    try:
        kind, value = validate.lookup_query(text)
    except InvalidInput as error:
        assert str(error)
        return
    assert kind in ("asn", "prefix", "address")
    words = (
        birdc.origin_lookup_command(value, True, TABLES)
        if kind == "asn"
        else birdc.network_lookup_command(value, False, TABLES)
    )
    assert words[0] == "show"


@settings(max_examples=300)
@given(st.text(alphabet=string.printable, max_size=70))
def test_protocol_names_never_leave_the_pattern(text):
    name = _outcome(validate.protocol_name, text)
    if name is not None:
        assert name == text
        assert birdc.routes_command("filtered", name) == [
            "show",
            "route",
            "all",
            "filtered",
            "protocol",
            name,
        ]


@given(st.integers(min_value=1, max_value=validate.ASN_MAX), st.booleans())
def test_every_asn_round_trips(number, prefixed):
    assert validate.asn(f"AS{number}" if prefixed else str(number)) == number


@given(st.ip_addresses())
def test_every_address_and_its_networks_are_accepted(address):
    assert validate.address(str(address)) == address
    length = address.max_prefixlen // 2
    network = ipaddress.ip_network(f"{address}/{length}", strict=False)
    assert validate.prefix(network.with_prefixlen) == network
    words = birdc.network_lookup_command(network, True, TABLES)
    assert words[-3:] == [
        f"{network.with_prefixlen}-,",
        f"{network.with_prefixlen}+",
        "]",
    ]


@given(st.integers().filter(lambda n: n <= 0 or n > validate.ASN_MAX))
def test_out_of_range_asns_are_refused(number):
    with pytest.raises(InvalidInput):
        validate.asn(str(number))


def test_commands_outside_the_whitelist_are_refused():
    client = birdc.BirdClient(runner=lambda *a, **k: pytest.fail("must not run"))
    for words in (
        ["configure"],
        ["disable", "AS64500_1"],
        ["show", "route;", "configure"],
        ["show", "a b"],
    ):
        with pytest.raises(ValueError, match="read-only whitelist"):
            client.run(words)


def test_birdc_always_runs_restricted_without_a_shell():
    calls = []

    def runner(argv, **kwargs):
        calls.append((argv, kwargs))

        class Result:
            stdout = "BIRD 2.0.12 ready.\nAccess restricted\n"
            stderr = ""

        return Result()

    client = birdc.BirdClient(socket_path="/run/bird/bird.ctl", runner=runner)
    client.run(birdc.status_command())
    argv, kwargs = calls[0]
    assert argv == [
        "/usr/sbin/birdc",
        "-r",
        "-s",
        "/run/bird/bird.ctl",
        "show",
        "status",
    ]
    assert "shell" not in kwargs
