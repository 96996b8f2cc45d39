"""The little WSGI plumbing both apps share: routing, responses, limits."""

from __future__ import annotations

import ipaddress
import json
import logging
import re
from urllib.parse import parse_qs

from .ratelimit import RateLimiter
from .validate import InvalidInput

LOG = logging.getLogger("caribix_lg")

SECURITY_HEADERS = [
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
]
STATUS_TEXT = {
    200: "200 OK",
    400: "400 Bad Request",
    403: "403 Forbidden",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
    429: "429 Too Many Requests",
    500: "500 Internal Server Error",
    502: "502 Bad Gateway",
    503: "503 Service Unavailable",
}


class HTTPError(Exception):
    def __init__(self, status: int, message: str, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or []


class Request:
    def __init__(self, environ):
        self.environ = environ
        self.method = environ.get("REQUEST_METHOD", "GET")
        self.path = environ.get("PATH_INFO", "/") or "/"
        self.client = environ.get("REMOTE_ADDR", "")
        try:
            self.query = {
                key: values[0]
                for key, values in parse_qs(
                    environ.get("QUERY_STRING", ""), max_num_fields=8
                ).items()
            }
        except ValueError:
            raise HTTPError(400, "too many query parameters") from None


class Response:
    def __init__(self, status: int, body: bytes, content_type: str, headers=None):
        self.status = status
        self.body = body
        self.headers = [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
        ] + list(headers or [])

    @classmethod
    def json(cls, status: int, data, headers=None):
        return cls(
            status,
            json.dumps(data, indent=1, sort_keys=True).encode(),
            "application/json",
            headers,
        )

    @classmethod
    def html(cls, status: int, text: str, headers=None):
        return cls(status, text.encode(), "text/html; charset=utf-8", headers)


class Router:
    """Regex routes: ``add(r"/routes/protocol/(?P<protocol>[^/]+)", handler)``."""

    def __init__(self):
        self._routes = []

    def add(self, pattern: str, handler) -> None:
        self._routes.append((re.compile(pattern + r"\Z"), handler))

    def dispatch(self, request: Request):
        for pattern, handler in self._routes:
            match = pattern.match(request.path)
            if match:
                return handler(request, **match.groupdict())
        raise HTTPError(404, f"no such page: {request.path[:100]}")


class App:
    """A WSGI app: access list, rate limit, routing, error answers."""

    def __init__(
        self,
        router: Router,
        rate_limiter: RateLimiter | None = None,
        allowed_clients=None,
        error_renderer=None,
        extra_headers=None,
    ):
        self.router = router
        self.rate_limiter = rate_limiter
        self.allowed_clients = [
            ipaddress.ip_network(net) for net in (allowed_clients or [])
        ]
        self.error_renderer = error_renderer or (
            lambda status, message: Response.json(status, {"error": message})
        )
        self.extra_headers = list(extra_headers or [])

    def client_allowed(self, client: str) -> bool:
        if not self.allowed_clients:
            return True
        try:
            address = ipaddress.ip_address(client)
        except ValueError:
            return False
        if address.version == 6 and address.ipv4_mapped:
            address = address.ipv4_mapped
        return any(address in network for network in self.allowed_clients)

    def handle(self, request: Request) -> Response:
        if not self.client_allowed(request.client):
            raise HTTPError(403, "this client may not use this service")
        if request.method not in ("GET", "HEAD"):
            raise HTTPError(
                405, "read-only service: only GET and HEAD", [("Allow", "GET, HEAD")]
            )
        if self.rate_limiter:
            allowed, wait = self.rate_limiter.allow(request.client)
            if not allowed:
                raise HTTPError(
                    429,
                    "too many requests: slow down",
                    [("Retry-After", str(max(1, round(wait + 0.5))))],
                )
        return self.router.dispatch(request)

    def __call__(self, environ, start_response):
        try:
            request = Request(environ)
            response = self.handle(request)
        except HTTPError as error:
            response = self.error_renderer(error.status, error.message)
            response.headers.extend(error.headers)
        except InvalidInput as error:
            response = self.error_renderer(400, str(error))
        except Exception:  # noqa: BLE001 - never show a traceback to a client
            LOG.exception("request failed: %s", environ.get("PATH_INFO"))
            response = self.error_renderer(500, "internal error (logged on the server)")
        headers = response.headers + SECURITY_HEADERS + self.extra_headers
        start_response(
            STATUS_TEXT.get(response.status, f"{response.status} Error"), headers
        )
        if environ.get("REQUEST_METHOD") == "HEAD":
            return [b""]
        return [response.body]
