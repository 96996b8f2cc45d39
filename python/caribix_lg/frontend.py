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
import html
import json
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request

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
_RS_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
FAMILIES = ("ipv4", "ipv6")
FAMILY_LABEL = {"ipv4": "IPv4", "ipv6": "IPv6"}


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


def h(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


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

    # -- HTML ------------------------------------------------------------
    def page(
        self, title: str, body: str, status: int = 200, query: str = ""
    ) -> Response:
        text = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{h(title)} - {h(self.config['title'])}</title>
<link rel="stylesheet" href="/static/lg.css"></head>
<body><header><a class="home" href="/">{h(self.config['title'])}</a>
<form class="lookup" action="/lookup" method="get" role="search">
<label for="q">Prefix, address or ASN</label>
<input id="q" name="q" value="{h(query)}" placeholder="203.0.113.0/24 or AS64500" maxlength="64" required>
<button type="submit">Look up</button></form></header>
<main><h1>{h(title)}</h1>
{body}</main>
<footer>CaribIX looking glass {h(__version__)} - read-only view of the route servers, refreshed every {h(self.config['cache_ttl'])} s at most.</footer>
</body></html>"""
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
        return self.page(
            titles.get(status, "Error"),
            f'<p class="error" id="error">{h(message)}</p>',
            status,
        )

    @staticmethod
    def _unavailable(answers: dict) -> str:
        items = [
            f"<li><strong>{h(rs)}</strong>: {h(answer)}</li>"
            for rs, answer in answers.items()
            if isinstance(answer, BackendUnavailable)
        ]
        return (
            f'<div class="warning"><p>Some route servers did not answer:</p><ul>{"".join(items)}</ul></div>'
            if items
            else ""
        )

    def _state_badge(self, row) -> str:
        up = row["state"] == "up"
        text = row["bgp_state"] or row["state"]
        return f'<span class="state {"up" if up else "down"}">{h(text)}</span>'

    @staticmethod
    def _duration(row) -> str:
        if not row["duration"]:
            return h(row["since"])
        label = "up" if row["state"] == "up" else "down"
        return f'{label} {h(row["duration"])}<br><small>since {h(row["since"])}</small>'

    def _sessions_table(self, rows: list[dict], family: str) -> str:
        rows = [row for row in rows if row["family"] == family]
        if not rows:
            return f"<p>No {FAMILY_LABEL[family]} sessions.</p>"
        out = [
            f'<div class="scroll"><table class="sessions" id="sessions-{family}"><thead><tr>'
            "<th>Member</th><th>Route server</th><th>Neighbour</th><th>State</th><th>Uptime / since</th>"
            '<th class="n">Received</th><th class="n">Accepted</th><th class="n">Filtered</th><th class="n">Exported</th>'
            "</tr></thead><tbody>"
        ]
        for row in rows:
            link = f"/neighbors/{urllib.parse.quote(row['rs'])}/{urllib.parse.quote(row['protocol'])}"
            error = (
                f'<br><small>{h(row["last_error"])}</small>'
                if row["last_error"]
                else ""
            )
            filtered_class = ' class="n warn"' if row["filtered"] else ' class="n"'
            out.append(
                f'<tr data-asn="{h(row["asn"])}" data-rs="{h(row["rs"])}">'
                f'<td data-label="Member"><a href="{h(link)}">{h(row["member"])}</a><br><small>AS{h(row["asn"])}</small></td>'
                f'<td data-label="Route server">{h(row["rs"])}</td>'
                f'<td data-label="Neighbour">{h(row["neighbor_address"])}<br><small>{h(row["protocol"])}</small></td>'
                f'<td data-label="State">{self._state_badge(row)}{error}</td>'
                f'<td data-label="Uptime / since">{self._duration(row)}</td>'
                f'<td data-label="Received" class="n">{h(row["received"])}</td>'
                f'<td data-label="Accepted" class="n">{h(row["accepted"])}</td>'
                f'<td data-label="Filtered"{filtered_class}>{h(row["filtered"])}</td>'
                f'<td data-label="Exported" class="n">{h(row["exported"])}</td></tr>'
            )
        out.append("</tbody></table></div>")
        return "".join(out)

    @staticmethod
    def _communities(route) -> str:
        bgp = route.get("bgp", {})
        parts = [f"({a},{b})" for a, b in bgp.get("communities", [])]
        parts += [f"({a},{b},{c})" for a, b, c in bgp.get("large_communities", [])]
        return " ".join(parts)

    def _routes_table(
        self, routes: list[dict], filtered: bool, table_id: str, show_rs: str = ""
    ) -> str:
        if not routes:
            return f'<p id="{h(table_id)}-empty">None.</p>'
        reason_head = "<th>Why filtered</th>" if filtered else ""
        rs_head = "<th>Route server</th>" if show_rs else ""
        out = [
            f'<div class="scroll"><table class="routes" id="{h(table_id)}"><thead><tr>{rs_head}<th>Prefix</th>{reason_head}'
            "<th>Next hop</th><th>AS path</th><th>From</th><th>Communities</th></tr></thead><tbody>"
        ]
        for route in routes:
            bgp = route.get("bgp", {})
            reason_cell = ""
            if filtered:
                reasons = route.get("reject_reasons") or []
                text = (
                    "; ".join(
                        f'{reason["reason"]} (code {reason["code"]})'
                        for reason in reasons
                    )
                    or "no reason tag"
                )
                keys = " ".join(reason.get("key", "other") for reason in reasons)
                reason_cell = f'<td data-label="Why filtered" class="reason {h(keys)}">{h(text)}</td>'
            rs_cell = (
                f'<td data-label="Route server">{h(route.get("_rs", ""))}</td>'
                if show_rs
                else ""
            )
            out.append(
                f'<tr>{rs_cell}<td data-label="Prefix" class="prefix">{h(route.get("network"))}</td>{reason_cell}'
                f'<td data-label="Next hop">{h(bgp.get("next_hop") or route.get("gateway"))}</td>'
                f'<td data-label="AS path">{h(" ".join(str(asn) for asn in bgp.get("as_path", [])))}</td>'
                f'<td data-label="From">{h(route.get("from_protocol"))}</td>'
                f'<td data-label="Communities"><small>{h(self._communities(route))}</small></td></tr>'
            )
        out.append("</tbody></table></div>")
        return "".join(out)

    # -- pages ---------------------------------------------------------------
    def index(self, request):
        answers = self.get_all("/protocols/bgp")
        status = self.get_all("/status")
        rows = self.sessions(answers, status)
        cards = []
        for rs, answer in status.items():
            if isinstance(answer, BackendUnavailable):
                cards.append(
                    f'<li class="rs down"><strong>{h(rs)}</strong>: unreachable</li>'
                )
            else:
                info = answer.get("status", {})
                cards.append(
                    f'<li class="rs"><strong>{h(rs)}</strong>: BIRD {h(info.get("version"))}, router ID {h(info.get("router_id"))}, '
                    f'last reconfigured {h(info.get("last_reconfig"))}</li>'
                )
        body = [
            self._unavailable(answers),
            f'<ul class="servers">{"".join(cards)}</ul>',
        ]
        for family in FAMILIES:
            body.append(
                f"<h2>{FAMILY_LABEL[family]} sessions</h2>{self._sessions_table(rows, family)}"
            )
        return self.page("Route-server sessions", "".join(body))

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
        summary = "".join(
            self._sessions_table(rows, family)
            for family in FAMILIES
            if any(row["family"] == family for row in rows)
        )
        truncated = (
            '<p class="warning">Only the first routes are shown.</p>'
            if accepted.get("truncated") or filtered.get("truncated")
            else ""
        )
        body = (
            f'<p class="member" id="member">{h(first["member"])} (AS{h(first["asn"])}) on {h(rs)}, session {h(protocol)}</p>'
            f"{summary}{truncated}"
            f'<h2 id="filtered">Filtered routes ({len(filtered.get("routes", []))})</h2>'
            f'<p class="hint">Routes the route server received from you but does not pass on, and why.</p>'
            f'{self._routes_table(filtered.get("routes", []), True, "filtered-routes")}'
            f'<h2 id="accepted">Accepted routes ({len(accepted.get("routes", []))})</h2>'
            f'{self._routes_table(accepted.get("routes", []), False, "accepted-routes")}'
        )
        return self.page(f"{first['member']} on {rs}", body)

    def lookup(self, request):
        raw = request.query.get("q", "")
        kind, value = validate.lookup_query(raw)
        canonical = f"AS{value}" if kind == "asn" else str(value)
        answers = self.get_all("/lookup?" + urllib.parse.urlencode({"q": str(value)}))
        body = [self._unavailable(answers)]
        if kind == "asn":
            rows = [
                row
                for row in self.sessions(
                    self.get_all("/protocols/bgp"), self.get_all("/status")
                )
                if row["asn"] == value
            ]
            body.append(
                f"<h2>Sessions of {h(self.member_name(value))} (AS{value})</h2>"
            )
            body.append(
                "".join(self._sessions_table(rows, family) for family in FAMILIES)
                if rows
                else "<p>No sessions with this ASN.</p>"
            )
        accepted, filtered = [], []
        for rs, answer in answers.items():
            if isinstance(answer, BackendUnavailable):
                continue
            accepted += [{**route, "_rs": rs} for route in answer.get("accepted", [])]
            filtered += [{**route, "_rs": rs} for route in answer.get("filtered", [])]
        what = "originated by" if kind == "asn" else "for"
        body.append(f"<h2>Filtered routes {what} {h(canonical)} ({len(filtered)})</h2>")
        body.append(
            self._routes_table(filtered, True, "lookup-filtered", show_rs="yes")
        )
        body.append(f"<h2>Accepted routes {what} {h(canonical)} ({len(accepted)})</h2>")
        body.append(
            self._routes_table(accepted, False, "lookup-accepted", show_rs="yes")
        )
        return self.page(f"Lookup {canonical}", "".join(body), query=canonical)

    def stylesheet(self, request):
        return Response(
            200,
            STYLESHEET.encode(),
            "text/css; charset=utf-8",
            [("Cache-Control", "max-age=3600")],
        )

    def health(self, request):
        return Response(200, b"ok\n", "text/plain; charset=utf-8")


STYLESHEET = """
:root { --fg: #1b1f24; --muted: #5b6570; --line: #d8dee4; --accent: #00607a; --bad: #a4262c; --good: #1a7f37; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); }
header { background: var(--accent); color: #fff; padding: .6rem 1rem; display: flex; flex-wrap: wrap; gap: .6rem; align-items: center; }
header a.home { color: #fff; font-weight: 600; text-decoration: none; margin-right: auto; }
form.lookup { display: flex; gap: .4rem; flex-wrap: wrap; align-items: center; }
form.lookup label { position: absolute; left: -9999px; }
form.lookup input { font-size: 1rem; padding: .35rem .5rem; min-width: 14rem; border: 0; border-radius: 4px; }
form.lookup button { font-size: 1rem; padding: .35rem .8rem; border: 0; border-radius: 4px; background: #fff; color: var(--accent); }
main { padding: .5rem 1rem 2rem; max-width: 80rem; margin: 0 auto; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.15rem; margin-top: 1.6rem; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #f3f5f7; font-weight: 600; }
td.n, th.n { text-align: right; }
td.warn { color: var(--bad); font-weight: 600; }
small { color: var(--muted); }
.state { font-weight: 600; } .state.up { color: var(--good); } .state.down { color: var(--bad); }
td.reason { color: var(--bad); font-weight: 600; }
.prefix { font-family: ui-monospace, monospace; white-space: nowrap; }
.warning, .error { border-left: 4px solid var(--bad); background: #fff5f5; padding: .5rem .8rem; }
ul.servers { padding-left: 1.2rem; } li.rs.down { color: var(--bad); }
footer { color: var(--muted); font-size: .85rem; padding: 1rem; border-top: 1px solid var(--line); }
@media (max-width: 40rem) {
  table, thead, tbody, tr, td { display: block; width: 100%; }
  thead { position: absolute; left: -9999px; }
  tr { border: 1px solid var(--line); border-radius: 6px; margin-bottom: .7rem; padding: .3rem .2rem; }
  td { border: 0; padding: .2rem .5rem; text-align: left !important; }
  td::before { content: attr(data-label); display: block; font-size: .75rem; color: var(--muted); }
  form.lookup input { min-width: 0; flex: 1; }
}
"""


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
