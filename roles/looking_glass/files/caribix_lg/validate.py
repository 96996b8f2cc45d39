"""Validation of everything a client sends to the looking glass.

Each function returns a canonical value or raises ``InvalidInput`` with a
message fit for a 400 answer. Only canonical values (an ``int``, an
``ipaddress`` object rendered back to text, a name matching a strict
pattern) are ever placed into a BIRD command, so no client text reaches
BIRD's parser.
"""

from __future__ import annotations

import ipaddress
import re

# BIRD symbol names: a letter or underscore, then letters, digits and
# underscores (BIRD also allows quoted names; we do not). 64 characters is
# far more than arouteserver's "AS<asn>_<n>" needs.
_PROTOCOL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_ASN = re.compile(r"(?:AS)?([1-9][0-9]{0,9})", re.IGNORECASE)
# Characters an IPv4/IPv6 address or prefix can contain: anything else
# (zone ids, spaces, brackets) is refused before ipaddress sees it.
_ADDRESS_CHARS = re.compile(r"[0-9A-Fa-f:./]{2,49}")
ASN_MAX = 4294967295


class InvalidInput(ValueError):
    """A client sent something the looking glass does not accept (HTTP 400)."""


def protocol_name(text: str) -> str:
    """A BIRD protocol name such as ``AS64500_1``."""
    if not isinstance(text, str) or not _PROTOCOL_NAME.fullmatch(text):
        raise InvalidInput(
            "invalid protocol name: expected letters, digits and '_' (at most 64, not starting with a digit)"
        )
    return text


def asn(text: str) -> int:
    """An AS number, ``64500`` or ``AS64500`` (1 to 4294967295)."""
    match = _ASN.fullmatch(text) if isinstance(text, str) else None
    if not match or int(match.group(1)) > ASN_MAX:
        raise InvalidInput(
            "invalid AS number: expected 1 to 4294967295, optionally written AS<number>"
        )
    return int(match.group(1))


def prefix(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """A prefix in CIDR notation with no host bits set (``203.0.113.0/24``)."""
    if (
        not isinstance(text, str)
        or "/" not in text
        or not _ADDRESS_CHARS.fullmatch(text)
    ):
        raise InvalidInput(
            "invalid prefix: expected an IPv4 or IPv6 prefix such as 203.0.113.0/24"
        )
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError as error:
        raise InvalidInput(f"invalid prefix: {error}") from None


def address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """A single IPv4 or IPv6 address (``203.0.113.7``)."""
    if not isinstance(text, str) or "/" in text or not _ADDRESS_CHARS.fullmatch(text):
        raise InvalidInput("invalid address: expected an IPv4 or IPv6 address")
    try:
        return ipaddress.ip_address(text)
    except ValueError as error:
        raise InvalidInput(f"invalid address: {error}") from None


def lookup_query(text: str) -> tuple[str, object]:
    """What a member typed in the lookup box: a prefix, an address or an ASN.

    Returns ``("prefix", network)``, ``("address", address)`` or
    ``("asn", number)``.
    """
    text = text.strip() if isinstance(text, str) else ""
    if not text:
        raise InvalidInput(
            "empty lookup: enter a prefix (203.0.113.0/24), an address or an AS number (AS64500)"
        )
    if _ASN.fullmatch(text):
        return "asn", asn(text)
    if not _ADDRESS_CHARS.fullmatch(text):
        raise InvalidInput(
            "invalid lookup: enter a prefix (203.0.113.0/24), an address or an AS number (AS64500)"
        )
    if "/" in text:
        return "prefix", prefix(text)
    try:
        return "address", address(text)
    except InvalidInput:
        raise InvalidInput(
            "invalid lookup: enter a prefix (203.0.113.0/24), an address or an AS number (AS64500)"
        ) from None


def covering_and_covered(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str:
    """The BIRD prefix-set text matching ``network``, its less and more specifics.

    Built from the ``ipaddress`` object, never from client text.
    """
    return f"[ {network.with_prefixlen}-, {network.with_prefixlen}+ ]"
