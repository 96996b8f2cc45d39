"""The members' looking glass: HTML pages over the route servers' backends.

Pages: ``/`` (every session of every route server, IPv4 and IPv6 apart,
with state and prefix counts), ``/neighbors/<rs>/<protocol>`` (accepted
and filtered routes of one session, with the reason for each filtered
route), ``/lookup?q=`` (a prefix, an address or an ASN across all route
servers). Pages are plain HTML and CSS (no script), readable on a phone.
"""

from __future__ import annotations

import concurrent.futures
import datetime
import importlib.resources
import json
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request

import jinja2

from . import __version__, validate
from .cache import TTLCache
from .ratelimit import RateLimiter
from .web import App, HTTPError, Response, Router

DEFAULTS = {
    "title": "CaribIX looking glass",
    "route_servers": [],
    "members": [],
    "cache_ttl": 10,
    "backend_timeout": 8,
    "rate_limit": {"per_second": 2, "burst": 20},
    # TLS to the backends (https URLs): the CA that signed their
    # certificates, and this front end's own certificate and key for
    # backends that require a client certificate (mutual TLS).
    "ca_file": None,
    "client_cert": None,
    "client_key": None,
}


def communities(route: dict) -> str:
    """A route's standard and large communities as BIRD prints them."""
    bgp = route.get("bgp", {})
    parts = [f"({a},{b})" for a, b in bgp.get("communities", [])]
    parts += [f"({a},{b},{c})" for a, b, c in bgp.get("large_communities", [])]
    return " ".join(parts)


# The pages (templates/) and the stylesheet (static/), read from the
# package: the hosts import it from a zip.
PAGES = jinja2.Environment(
    loader=jinja2.PackageLoader("caribix_lg", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    # A missing value (a backend's null) shows as nothing, not "None".
    finalize=lambda value: "" if value is None else value,
)
PAGES.filters["communities"] = communities
STYLESHEET = importlib.resources.files("caribix_lg").joinpath("static/lg.css").read_bytes()
_RS_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
FAMILIES = ("ipv4", "ipv6")
FAMILY_LABEL = {"ipv4": "IPv4", "ipv6": "IPv6"}
PAGES.globals.update(families=FAMILIES, family_label=FAMILY_LABEL)


def duration(since: str, now: str) -> str:
    """``"2d 3h"``, ``"4h 12m"``, ``"37s"`` between two BIRD times
    (``timeformat ... iso long``); empty when BIRD prints another format."""
    try:
        start, end = (
            datetime.datetime.strptime(text.split(".")[0], "%Y-%m-%d %H:%M:%S")
            for text in (since, now)
        )
    except (AttributeError, ValueError):
        return ""
    seconds = max(0, int((end - start).total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {seconds}s" if minutes else f"{seconds}s"


class BackendUnavailable(RuntimeError):
    pass


class Frontend:
    def __init__(self, config: dict, fetch=None):
        self.config = {**DEFAULTS, **config}
        self.route_servers = {}
        for rs in self.config["route_servers"]:
            if not _RS_NAME.fullmatch(rs.get("name", "")) or not str(
                rs.get("url", "")
            ).startswith(("http://", "https://")):
                raise ValueError(
                    f"frontend config: route server needs a simple name and an http(s) url: {rs!r}"
                )
            self.route_servers[rs["name"]] = rs["url"].rstrip("/")
        if not self.route_servers:
            raise ValueError("frontend config: route_servers is empty")
        self.members = {
            int(member["asn"]): member["name"] for member in self.config["members"]
        }
        self.cache = TTLCache(self.config["cache_ttl"])
        self._fetch = fetch or self._http_get
        self._ssl = self._tls_context()
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(2, 2 * len(self.route_servers))
        )

    def _tls_context(self) -> ssl.SSLContext | None:
        """Verifies the backends' certificates (name or IP address of the
        URL) against ``ca_file``, and shows ours when one is configured.
        Unreadable files fail here, at start-up and in ``--check``."""
        ca_file, cert, key = (
            self.config[k] for k in ("ca_file", "client_cert", "client_key")
        )
        if key and not cert:
            raise ValueError("frontend config: client_key needs client_cert")
        if not (ca_file or cert):
            return None
        context = ssl.create_default_context(cafile=ca_file)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if cert:
            context.load_cert_chain(cert, key)
        return context

    # -- talking to the backends ---------------------------------------
    def _http_get(self, url: str) -> dict:
        request = urllib.request.Request(
            url, headers={"User-Agent": f"caribix-lg-frontend/{__version__}"}
        )
        try:
            with urllib.request.urlopen(
                request, timeout=self.config["backend_timeout"], context=self._ssl
            ) as answer:
                return json.loads(answer.read(16 * 1024 * 1024))
        except urllib.error.HTTPError as error:
            try:
                message = json.loads(error.read(65536)).get("error", "")
            except ValueError:
                message = ""
            if error.code == 404:
                raise HTTPError(
                    404, message or "not found on the route server"
                ) from None
            raise BackendUnavailable(f"HTTP {error.code} {message}".strip()) from None
        except (OSError, ValueError) as error:
            raise BackendUnavailable(str(getattr(error, "reason", error))) from None

    def get(self, rs: str, path: str) -> dict:
        url = self.route_servers[rs] + path
        value, _, _ = self.cache.get_or_compute(url, lambda: self._fetch(url))
        return value

    def get_all(self, path: str) -> dict[str, dict | BackendUnavailable]:
        """``path`` from every route server at once; failures are values."""

        def one(rs):
            try:
                return self.get(rs, path)
            except BackendUnavailable as error:
                return error

        futures = {rs: self._pool.submit(one, rs) for rs in self.route_servers}
        return {rs: future.result() for rs, future in futures.items()}

    # -- data shaping ------------------------------------------------------
    def member_name(self, asn, description="") -> str:
        try:
            return self.members.get(int(asn)) or description or f"AS{asn}"
        except (TypeError, ValueError):
            return description or "unknown"

    def sessions(self, answers: dict, statuses: dict | None = None) -> list[dict]:
        """One row per route server, BGP session and address family.

        ``statuses`` (the route servers' /status) gives each one's clock,
        from which the time in the current state is computed.
        """
        rows = []
        for rs, answer in answers.items():
            if isinstance(answer, BackendUnavailable):
                continue
            status = (statuses or {}).get(rs)
            now = (
                status.get("status", {}).get("current_server", "")
                if isinstance(status, dict)
                else ""
            )
            for name, protocol in sorted(answer.get("protocols", {}).items()):
                channels = protocol.get("channels") or {}
                for family in FAMILIES:
                    if family not in channels:
                        continue
                    counts = channels[family].get("routes", {})
                    rows.append(
                        {
                            "rs": rs,
                            "protocol": name,
                            "family": family,
                            "asn": protocol.get("neighbor_as"),
                            "member": self.member_name(
                                protocol.get("neighbor_as"), protocol.get("description")
                            ),
                            "neighbor_address": protocol.get("neighbor_address", ""),
                            "state": protocol.get("state", ""),
                            "bgp_state": protocol.get("bgp_state", ""),
                            "since": protocol.get("state_changed", ""),
                            "duration": duration(
                                protocol.get("state_changed", ""), now
                            ),
                            "last_error": protocol.get("last_error", ""),
                            "received": counts.get("imported", 0)
                            + counts.get("filtered", 0),
                            "accepted": counts.get("imported", 0),
                            "filtered": counts.get("filtered", 0),
                            "exported": counts.get("exported", 0),
                        }
                    )
        rows.sort(key=lambda row: (row["asn"] or 0, row["rs"], row["protocol"]))
        return rows

    # -- HTML (templates/, Jinja2 with autoescaping) ------------------------
    def render(self, template: str, title: str, status: int = 200, query: str = "", **context) -> Response:
        text = PAGES.get_template(template).render(
            title=title,
            query=query,
            site_title=self.config["title"],
            version=__version__,
            cache_ttl=self.config["cache_ttl"],
            **context,
        )
        return Response.html(
            status,
            text,
            [
                (
                    "Content-Security-Policy",
                    "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'",
                ),
                ("Cache-Control", "no-store"),
            ],
        )

    def error_page(self, status: int, message: str) -> Response:
        titles = {
            400: "Invalid request",
            404: "Not found",
            429: "Too many requests",
            403: "Forbidden",
        }
        return self.render("error.html", titles.get(status, "Error"), status, message=message)

    @staticmethod
    def _down(answers: dict) -> list[tuple[str, str]]:
        """The route servers that did not answer, and why."""
        return [(rs, str(answer)) for rs, answer in answers.items() if isinstance(answer, BackendUnavailable)]

    # -- pages ---------------------------------------------------------------
    def index(self, request):
        answers = self.get_all("/protocols/bgp")
        status = self.get_all("/status")
        servers = []
        for rs, answer in status.items():
            info = {} if isinstance(answer, BackendUnavailable) else answer.get("status", {})
            servers.append(
                {
                    "name": rs,
                    "unreachable": isinstance(answer, BackendUnavailable),
                    **{key: info.get(key) for key in ("version", "router_id", "last_reconfig")},
                }
            )
        return self.render(
            "index.html", "Route-server sessions", down=self._down(answers), servers=servers, rows=self.sessions(answers, status)
        )

    def neighbor(self, request, rs, protocol):
        if rs not in self.route_servers:
            raise HTTPError(404, f"no such route server: {rs[:64]}")
        protocol = validate.protocol_name(protocol)
        try:
            protocols = self.get(rs, "/protocols/bgp").get("protocols", {})
            if protocol not in protocols:
                raise HTTPError(404, f"no BGP session {protocol} on {rs}")
            accepted = self.get(rs, f"/routes/protocol/{protocol}")
            filtered = self.get(rs, f"/routes/filtered/{protocol}")
        except BackendUnavailable as error:
            raise HTTPError(502, f"{rs} did not answer: {error}") from None
        try:
            status = {rs: self.get(rs, "/status")}
        except BackendUnavailable:
            status = {}
        rows = self.sessions(
            {rs: {"protocols": {protocol: protocols[protocol]}}}, status
        )
        first = (
            rows[0]
            if rows
            else {
                "member": self.member_name(protocols[protocol].get("neighbor_as")),
                "asn": protocols[protocol].get("neighbor_as"),
            }
        )
        return self.render(
            "neighbor.html",
            f"{first['member']} on {rs}",
            member=first["member"],
            asn=first["asn"],
            rs=rs,
            protocol=protocol,
            rows=rows,
            truncated=bool(accepted.get("truncated") or filtered.get("truncated")),
            filtered=filtered.get("routes", []),
            accepted=accepted.get("routes", []),
        )

    def lookup(self, request):
        raw = request.query.get("q", "")
        kind, value = validate.lookup_query(raw)
        canonical = f"AS{value}" if kind == "asn" else str(value)
        answers = self.get_all("/lookup?" + urllib.parse.urlencode({"q": str(value)}))
        rows = []
        if kind == "asn":
            sessions = self.sessions(self.get_all("/protocols/bgp"), self.get_all("/status"))
            rows = [row for row in sessions if row["asn"] == value]
        accepted, filtered = [], []
        for rs, answer in answers.items():
            if isinstance(answer, BackendUnavailable):
                continue
            accepted += [{**route, "_rs": rs} for route in answer.get("accepted", [])]
            filtered += [{**route, "_rs": rs} for route in answer.get("filtered", [])]
        return self.render(
            "lookup.html",
            f"Lookup {canonical}",
            query=canonical,
            down=self._down(answers),
            kind=kind,
            asn=value,
            member=self.member_name(value) if kind == "asn" else "",
            rows=rows,
            accepted=accepted,
            filtered=filtered,
        )

    def stylesheet(self, request):
        return Response(
            200,
            STYLESHEET,
            "text/css; charset=utf-8",
            [("Cache-Control", "max-age=3600")],
        )

    def health(self, request):
        return Response(200, b"ok\n", "text/plain; charset=utf-8")


def make_app(config: dict, fetch=None) -> App:
    frontend = Frontend(config, fetch)
    router = Router()
    router.add(r"/", frontend.index)
    router.add(r"/neighbors/(?P<rs>[^/]*)/(?P<protocol>[^/]*)", frontend.neighbor)
    router.add(r"/lookup", frontend.lookup)
    router.add(r"/static/lg\.css", frontend.stylesheet)
    router.add(r"/healthz", frontend.health)
    limits = frontend.config["rate_limit"]
    app = App(
        router,
        RateLimiter(limits["per_second"], limits["burst"]),
        error_renderer=frontend.error_page,
    )
    app.frontend = frontend
    return app
