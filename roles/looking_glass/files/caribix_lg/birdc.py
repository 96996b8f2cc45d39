"""Read-only access to BIRD: ``birdc -r`` with a whitelist of show commands.

Why both the whitelist and ``-r``: membership in group ``bird`` (needed
to open /run/bird/bird.ctl, mode 0660) grants the *full* control socket,
configure and disable included; BIRD 2.0.12 has no server-side read-only
socket (``cli ... { restrict; }`` arrived in 2.14). ``birdc -r`` makes
BIRD itself refuse every non-show command for the session ("Access
denied"), so even a bug in this code could not reconfigure the route
server. Commands are built here from validated values only and run with
an argument list, never through a shell.
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
import threading

from . import validate
from .cache import TTLCache

# Every word of a command must look like this: BIRD keywords, protocol
# names, numbers, prefixes and the few filter operators we build.
_SAFE_WORD = re.compile(r"[A-Za-z0-9_.:/~=+,\[\]-]{1,64}")


class BirdUnavailable(RuntimeError):
    """birdc could not talk to BIRD (socket missing, daemon down, timeout)."""


def _checked(words: list[str]) -> list[str]:
    if words[:1] != ["show"] or not all(_SAFE_WORD.fullmatch(word) for word in words):
        raise ValueError(
            f"refusing a BIRD command outside the read-only whitelist: {words!r}"
        )
    return words


def status_command() -> list[str]:
    return _checked(["show", "status"])


def protocols_command() -> list[str]:
    return _checked(["show", "protocols", "all"])


def routes_command(kind: str, protocol: str) -> list[str]:
    """``kind``: ``protocol`` (accepted), ``filtered``, ``noexport``, ``export``."""
    protocol = validate.protocol_name(protocol)
    words = {
        "protocol": ["show", "route", "all", "protocol", protocol],
        "filtered": ["show", "route", "all", "filtered", "protocol", protocol],
        "noexport": ["show", "route", "all", "noexport", protocol],
        "export": ["show", "route", "all", "export", protocol],
    }[kind]
    return _checked(words)


def network_lookup_command(
    network, filtered: bool, tables: dict[str, str]
) -> list[str]:
    """Routes for ``network`` (an ``ipaddress`` network or address), its
    less-specifics and more-specifics, in the table of its family."""
    if isinstance(network, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        network = ipaddress.ip_network(network)
    elif not isinstance(network, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        raise ValueError("network must come from caribix_lg.validate")
    table = tables[f"ipv{network.version}"]
    words = (
        ["show", "route", "all"]
        + (["filtered"] if filtered else [])
        + ["table", table, "where", "net", "~"]
    )
    words += validate.covering_and_covered(network).split()
    return _checked(words)


def origin_lookup_command(
    origin_asn: int, filtered: bool, tables: dict[str, str]
) -> list[str]:
    """Routes whose origin is ``origin_asn``, in both master tables."""
    if not isinstance(origin_asn, int) or not 0 < origin_asn <= validate.ASN_MAX:
        raise ValueError("origin ASN must come from caribix_lg.validate")
    words = ["show", "route", "all"] + (["filtered"] if filtered else [])
    for family in ("ipv4", "ipv6"):
        words += ["table", tables[family]]
    words += ["where", "bgp_path.last", "=", str(origin_asn)]
    return _checked(words)


class BirdClient:
    """Runs whitelisted commands through ``birdc -r``, cached and throttled."""

    def __init__(
        self,
        socket_path: str = "/run/bird/bird.ctl",
        birdc: str = "/usr/sbin/birdc",
        timeout: float = 20.0,
        cache_ttl: float = 15.0,
        max_parallel: int = 2,
        runner=None,
    ):
        self.socket_path = socket_path
        self.birdc = birdc
        self.timeout = timeout
        self.cache = TTLCache(cache_ttl)
        # However many clients ask at once, BIRD sees at most this many birdc.
        self._parallel = threading.BoundedSemaphore(max_parallel)
        self._runner = runner or subprocess.run

    def argv(self, words: list[str]) -> list[str]:
        return [self.birdc, "-r", "-s", self.socket_path] + _checked(list(words))

    def run(self, words: list[str]):
        """``(output, from_cache, cached_at)`` for one whitelisted command."""
        argv = self.argv(words)
        return self.cache.get_or_compute(
            " ".join(argv[4:]), lambda: self._execute(argv)
        )

    def _execute(self, argv: list[str]) -> str:
        with self._parallel:
            try:
                result = self._runner(
                    argv,
                    capture_output=True,
                    text=True,
                    timeout=self.timeout,
                    check=False,
                    stdin=subprocess.DEVNULL,
                )
            except (OSError, subprocess.TimeoutExpired) as error:
                raise BirdUnavailable(f"birdc failed: {error}") from None
        output = result.stdout
        if "Unable to connect to server control socket" in output + result.stderr:
            raise BirdUnavailable(
                "BIRD is not running or its control socket is not reachable"
            )
        return output
