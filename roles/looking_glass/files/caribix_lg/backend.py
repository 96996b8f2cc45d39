"""The backend on each route server: birdwatcher-compatible JSON from BIRD.

Endpoints (GET): /status, /version, /protocols, /protocols/bgp,
/routes/protocol/<p>, /routes/filtered/<p>, /routes/noexport/<p>,
/routes/export/<p>, /routes/count/protocol/<p>, /routes/prefix?prefix=<net>,
and /lookup?q=<prefix|address|ASN> (accepted and filtered routes at once,
for the CaribIX front end). Filtered routes carry ``reject_reasons``
decoded from the route server's large communities.
"""

from __future__ import annotations

import datetime

from . import __version__, birdc, birdparse, validate
from .ratelimit import RateLimiter
from .reject import DEFAULT_SCHEME, parse_scheme, reject_reasons
from .web import App, HTTPError, Response, Router

DEFAULTS = {
    "socket": "/run/bird/bird.ctl",
    "birdc": "/usr/sbin/birdc",
    "cache_ttl": 15,
    "birdc_timeout": 20,
    "max_parallel_birdc": 2,
    "rate_limit": {"per_second": 5, "burst": 30},
    "allowed_clients": [],
    "tables": {"ipv4": "master4", "ipv6": "master6"},
    "route_server_asn": None,
    # Large-community namespace (RS_ASN:<namespace>:<code>) -> code table.
    "reject_communities": {
        str(namespace): table for namespace, table in DEFAULT_SCHEME.items()
    },
    "max_routes": 5000,
}


def _iso(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).isoformat()


class Backend:
    def __init__(self, config: dict, client: birdc.BirdClient | None = None):
        self.config = {**DEFAULTS, **config}
        if not isinstance(self.config["route_server_asn"], int):
            raise ValueError(
                "backend config: route_server_asn (an integer) is required to decode reject reasons"
            )
        self.reject_scheme = parse_scheme(self.config["reject_communities"])
        self.client = client or birdc.BirdClient(
            socket_path=self.config["socket"],
            birdc=self.config["birdc"],
            timeout=self.config["birdc_timeout"],
            cache_ttl=self.config["cache_ttl"],
            max_parallel=self.config["max_parallel_birdc"],
        )

    # -- plumbing -----------------------------------------------------
    def _answer(self, words, parse):
        try:
            output, from_cache, cached_at = self.client.run(words)
        except birdc.BirdUnavailable as error:
            raise HTTPError(503, str(error)) from None
        try:
            parsed = parse(output)
        except birdparse.BirdError as error:
            raise HTTPError(502, f"BIRD answered: {error}") from None
        api = {
            "Version": __version__,
            "backend": "caribix-lg",
            "result_from_cache": from_cache,
            "cache_status": {
                "cached_at": {
                    "date": _iso(cached_at),
                    "timezone_type": "UTC",
                    "timezone": "UTC",
                }
            },
        }
        return parsed, {"api": api, "ttl": _iso(cached_at + self.config["cache_ttl"])}

    def _protocols(self):
        return self._answer(birdc.protocols_command(), birdparse.parse_protocols)

    def _known_protocol(self, protocol: str) -> str:
        protocol = validate.protocol_name(protocol)
        protocols, _ = self._protocols()
        if protocol not in protocols:
            raise HTTPError(404, f"no such protocol: {protocol}")
        return protocol

    def _routes(self, words, annotate: bool):
        routes, envelope = self._answer(words, birdparse.parse_routes)
        limit = self.config["max_routes"]
        envelope["routes_total"] = len(routes)
        envelope["truncated"] = len(routes) > limit
        routes = routes[:limit]
        if annotate:
            for route in routes:
                reasons = reject_reasons(
                    route["bgp"].get("large_communities", []),
                    self.config["route_server_asn"],
                    self.reject_scheme,
                )
                route["reject_reasons"] = [reason.as_dict() for reason in reasons]
        envelope["routes"] = routes
        return envelope

    # -- endpoints ----------------------------------------------------
    def status(self, request):
        status, envelope = self._answer(birdc.status_command(), birdparse.parse_status)
        status["backend"] = "caribix-lg"
        return Response.json(200, {**envelope, "status": status})

    def version(self, request):
        return Response.json(200, {"version": __version__, "backend": "caribix-lg"})

    def protocols(self, request, bgp_only=False):
        protocols, envelope = self._protocols()
        if bgp_only:
            protocols = {
                name: data
                for name, data in protocols.items()
                if data["bird_protocol"] == "BGP"
            }
        return Response.json(200, {**envelope, "protocols": protocols})

    def routes(self, request, kind, protocol):
        protocol = self._known_protocol(protocol)
        words = birdc.routes_command(kind, protocol)
        return Response.json(200, self._routes(words, annotate=(kind == "filtered")))

    def routes_count(self, request, protocol):
        protocol = self._known_protocol(protocol)
        protocols, envelope = self._protocols()
        return Response.json(
            200,
            {**envelope, "protocol": protocol, "routes": protocols[protocol]["routes"]},
        )

    def routes_prefix(self, request):
        network = validate.prefix(request.query.get("prefix", ""))
        words = birdc.network_lookup_command(network, False, self.config["tables"])
        return Response.json(200, self._routes(words, annotate=False))

    def lookup(self, request):
        kind, value = validate.lookup_query(request.query.get("q", ""))
        answer = {"query": {"kind": kind, "value": str(value)}}
        for filtered in (False, True):
            if kind == "asn":
                words = birdc.origin_lookup_command(
                    value, filtered, self.config["tables"]
                )
            else:
                words = birdc.network_lookup_command(
                    value, filtered, self.config["tables"]
                )
            result = self._routes(words, annotate=filtered)
            answer["filtered" if filtered else "accepted"] = result["routes"]
            answer.update({key: result[key] for key in ("api", "ttl")})
        return Response.json(200, answer)


def make_app(config: dict, client: birdc.BirdClient | None = None) -> App:
    backend = Backend(config, client)
    router = Router()
    router.add(r"/status", backend.status)
    router.add(r"/version", backend.version)
    router.add(r"/protocols", backend.protocols)
    router.add(
        r"/protocols/bgp", lambda request: backend.protocols(request, bgp_only=True)
    )
    for kind, path in (
        ("protocol", "protocol"),
        ("filtered", "filtered"),
        ("noexport", "noexport"),
        ("export", "export"),
    ):
        router.add(
            rf"/routes/{path}/(?P<protocol>[^/]*)",
            lambda request, protocol, kind=kind: backend.routes(
                request, kind, protocol
            ),
        )
    router.add(r"/routes/count/protocol/(?P<protocol>[^/]*)", backend.routes_count)
    router.add(r"/routes/prefix", backend.routes_prefix)
    router.add(r"/lookup", backend.lookup)
    limits = backend.config["rate_limit"]
    return App(
        router,
        RateLimiter(limits["per_second"], limits["burst"]),
        allowed_clients=backend.config["allowed_clients"],
    )
