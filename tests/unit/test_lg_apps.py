"""The backend and front end WSGI apps over captured BIRD output.

The backend's birdc runner answers from fixtures/birdc/ (real BIRD 2.0.12
output); the front end talks to two such backends in-process, the way it
talks to the two route servers of an island over HTTP.
"""

import io
import json
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import waitress

from caribix_lg import backend, frontend, serve
from caribix_lg.birdc import BirdClient

FIXTURES = Path(__file__).parent / "fixtures" / "birdc"
ANSWERS = {
    "show status": "rs_show_status",
    "show protocols all": "rs_show_protocols_all",
    "show route all protocol AS64500_1": "rs_routes_accepted_ipv4",
    "show route all protocol AS64500_2": "rs_routes_accepted_ipv6",
    "show route all filtered protocol AS64500_1": "rs_routes_filtered_ipv4",
    "show route all filtered protocol AS64500_2": "rs_routes_filtered_ipv6",
    "show route all noexport AS64500_1": "rs_routes_noexport_ipv4",
    "show route all export AS64501_1": "rs_routes_export_down_protocol",
    "show route all filtered table master4 table master6 where bgp_path.last = 64500": "rs_routes_filtered_origin_asn",
    "show route all table master4 where net ~ [ 203.0.113.77/32-, 203.0.113.77/32+ ]": "rs_routes_lookup_address",
}


class FakeBirdc:
    """Stands in for the birdc binary: answers with captured output."""

    def __init__(self):
        self.calls = []

    def __call__(self, argv, **kwargs):
        assert argv[:4] == ["/usr/sbin/birdc", "-r", "-s", "/run/bird/bird.ctl"]
        command = " ".join(argv[4:])
        self.calls.append(command)

        class Result:
            stdout = (
                (FIXTURES / f"{ANSWERS[command]}.txt").read_text()
                if command in ANSWERS
                else "BIRD 2.0.12 ready.\nAccess restricted\n"
            )
            stderr = ""

        return Result()


def call(app, path, query="", client="192.0.2.150", method="GET"):
    captured = {}

    def start_response(status, headers):
        captured["status"] = int(status.split()[0])
        captured["headers"] = dict(headers)

    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "REMOTE_ADDR": client,
        "wsgi.input": io.BytesIO(),
    }
    body = b"".join(app(environ, start_response))
    return captured["status"], captured["headers"], body.decode()


@pytest.fixture()
def birdc_runner():
    return FakeBirdc()


# The captured birdc output (tests/unit/fixtures/birdc) predates the
# Euro-IX layout: arouteserver's codes in 1101, declared as such.
CAPTURED_LAYOUT = {"1101": "arouteserver"}


@pytest.fixture()
def backend_app(birdc_runner):
    config = {
        "route_server_asn": 64496,
        "reject_communities": CAPTURED_LAYOUT,
        "allowed_clients": ["192.0.2.150/32", "127.0.0.1/32"],
        "rate_limit": {"per_second": 100, "burst": 1000},
    }
    return backend.make_app(config, BirdClient(runner=birdc_runner, cache_ttl=60))


def test_backend_status_birdwatcher_shape(backend_app):
    status, headers, body = call(backend_app, "/status")
    data = json.loads(body)
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert data["status"]["router_id"] == "192.0.2.131"
    assert data["api"]["result_from_cache"] is False
    assert "cached_at" in data["api"]["cache_status"]


def test_backend_bgp_protocols_only(backend_app):
    data = json.loads(call(backend_app, "/protocols/bgp")[2])
    assert set(data["protocols"]) == {
        "AS64500_1",
        "AS64500_2",
        "AS64501_1",
        "AS64501_2",
    }
    assert data["protocols"]["AS64500_1"]["routes"]["filtered"] == 2


def test_backend_filtered_routes_carry_reasons(backend_app):
    data = json.loads(call(backend_app, "/routes/filtered/AS64500_1")[2])
    reasons = {
        route["network"]: [r["reason"] for r in route["reject_reasons"]]
        for route in data["routes"]
    }
    assert reasons == {
        "198.51.100.0/24": ["RPKI INVALID route"],
        "203.0.113.128/25": ["Invalid prefix length"],
    }


def test_backend_accepted_and_noexport(backend_app):
    accepted = json.loads(call(backend_app, "/routes/protocol/AS64500_2")[2])
    assert [route["network"] for route in accepted["routes"]] == ["2001:db8:1000::/48"]
    assert (
        json.loads(call(backend_app, "/routes/noexport/AS64500_1")[2])["routes"] == []
    )
    assert json.loads(call(backend_app, "/routes/export/AS64501_1")[2])["routes"] == []


def test_backend_count(backend_app):
    data = json.loads(call(backend_app, "/routes/count/protocol/AS64500_2")[2])
    assert data["routes"] == {
        "imported": 1,
        "filtered": 2,
        "exported": 0,
        "preferred": 1,
    }


def test_backend_lookup_by_asn_and_address(backend_app):
    data = json.loads(call(backend_app, "/lookup", "q=AS64500")[2])
    assert len(data["filtered"]) == 4
    assert all(route["reject_reasons"] for route in data["filtered"])
    data = json.loads(call(backend_app, "/lookup", "q=203.0.113.77")[2])
    assert [route["network"] for route in data["accepted"]] == ["203.0.113.0/24"]


@pytest.mark.parametrize(
    "path, query",
    [
        ("/routes/filtered/AS64500;configure", ""),
        ("/routes/protocol/1x", ""),
        ("/routes/prefix", "prefix=203.0.113.1/24"),
        ("/lookup", "q=rm+-rf"),
        ("/lookup", ""),
    ],
)
def test_backend_bad_input_is_400_and_never_reaches_bird(
    backend_app, birdc_runner, path, query
):
    status, _, body = call(backend_app, path, query)
    assert status == 400
    assert json.loads(body)["error"].startswith(("invalid", "empty"))
    assert not any(
        "configure" in command or "rm" in command for command in birdc_runner.calls
    )


def test_backend_unknown_protocol_is_404(backend_app):
    assert call(backend_app, "/routes/protocol/AS65551_1")[0] == 404


def test_backend_refuses_other_clients_and_methods(backend_app):
    assert call(backend_app, "/status", client="198.51.100.9")[0] == 403
    assert call(backend_app, "/status", method="POST")[0] == 405


def test_backend_caches_bird_answers(backend_app, birdc_runner):
    for _ in range(20):
        call(backend_app, "/protocols/bgp")
    assert birdc_runner.calls.count("show protocols all") == 1
    assert (
        json.loads(call(backend_app, "/protocols/bgp")[2])["api"]["result_from_cache"]
        is True
    )


def test_backend_rate_limit_per_client(birdc_runner):
    app = backend.make_app(
        {"route_server_asn": 64496, "rate_limit": {"per_second": 1, "burst": 3}},
        BirdClient(runner=birdc_runner),
    )
    codes = [call(app, "/version", client="192.0.2.150")[0] for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    assert call(app, "/version", client="192.0.2.151")[0] == 200


def test_backend_requires_route_server_asn():
    with pytest.raises(ValueError, match="route_server_asn"):
        backend.make_app({})


@pytest.fixture()
def frontend_app(backend_app):
    def fetch(url):
        base, _, rest = url.partition(":29184")
        path, _, query = rest.partition("?")
        status, _, body = call(backend_app, path, query)
        if status == 404:
            raise frontend.HTTPError(404, json.loads(body)["error"])
        if status != 200:
            raise frontend.BackendUnavailable(f"HTTP {status}")
        return json.loads(body)

    config = {
        "title": "CaribIX Test looking glass",
        "route_servers": [
            {"name": "lg-rs1", "url": "http://192.0.2.131:29184"},
            {"name": "lg-rs2", "url": "http://192.0.2.132:29184"},
        ],
        "members": [
            {"asn": 64500, "name": "Karukera Telecom"},
            {"asn": 64501, "name": "Basse-Terre Networks"},
        ],
        "rate_limit": {"per_second": 100, "burst": 1000},
    }
    return frontend.make_app(config, fetch=fetch)


def test_frontend_index_lists_sessions_per_family(frontend_app):
    status, headers, body = call(frontend_app, "/")
    assert status == 200
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    v4 = body.split('id="sessions-ipv4"')[1].split("</table>")[0]
    v6 = body.split('id="sessions-ipv6"')[1].split("</table>")[0]
    assert (
        v4.count("Karukera Telecom") == 2 and v6.count("Karukera Telecom") == 2
    )  # both route servers
    assert "192.0.2.140" in v4 and "2001:db8:3::140" in v6
    assert "Socket: No route to host" in v4


def test_frontend_neighbor_page_shows_reasons(frontend_app):
    status, _, body = call(frontend_app, "/neighbors/lg-rs1/AS64500_2")
    assert status == 200
    filtered = body.split('id="filtered-routes"')[1].split("</table>")[0]
    assert (
        "2001:db8:1800::/48" in filtered
        and "Prefix not in IRRDB AS-SETs (code 12)" in filtered
    )
    accepted = body.split('id="accepted-routes"')[1].split("</table>")[0]
    assert "2001:db8:1000::/48" in accepted


def test_frontend_lookup_asn(frontend_app):
    status, _, body = call(frontend_app, "/lookup", "q=as64500")
    assert status == 200
    assert "Sessions of Karukera Telecom (AS64500)" in body
    assert "RPKI INVALID route (code 14)" in body


@pytest.mark.parametrize(
    "path, query, status",
    [
        ("/lookup", "q=%3Cscript%3E", 400),
        ("/neighbors/lg-rs1/AS64500_1%27", "", 400),
        ("/neighbors/lg-rs9/AS64500_1", "", 404),
        ("/neighbors/lg-rs1/AS65551_1", "", 404),
        ("/nowhere", "", 404),
    ],
)
def test_frontend_errors_are_clear_pages(frontend_app, path, query, status):
    from urllib.parse import unquote

    code, headers, body = call(frontend_app, unquote(path), query)
    assert code == status
    assert 'id="error"' in body and "<script>" not in body


def test_frontend_escapes_backend_text(backend_app):
    hostile = {
        "protocols": {
            "AS64500_1": {
                "neighbor_as": 64500,
                "description": "<b>x</b>",
                "state": "up",
                "channels": {"ipv4": {"routes": {}}},
                "last_error": "<script>",
            }
        }
    }
    app = frontend.make_app(
        {"route_servers": [{"name": "rs", "url": "http://x"}]},
        fetch=lambda url: hostile if url.endswith("/protocols/bgp") else {"status": {}},
    )
    body = call(app, "/")[2]
    assert "<script>" not in body and "&lt;script&gt;" in body


def test_frontend_survives_one_route_server_down(backend_app):
    def fetch(url):
        if "192.0.2.132" in url:
            raise frontend.BackendUnavailable("connection refused")
        path, _, query = url.partition(":29184")[2].partition("?")
        return json.loads(call(backend_app, path, query)[2])

    app = frontend.make_app(
        {
            "route_servers": [
                {"name": "lg-rs1", "url": "http://192.0.2.131:29184"},
                {"name": "lg-rs2", "url": "http://192.0.2.132:29184"},
            ]
        },
        fetch=fetch,
    )
    status, _, body = call(app, "/")
    assert status == 200
    assert "lg-rs2</strong>: connection refused" in body
    assert "192.0.2.140" in body


def test_frontend_shows_uptime_from_the_route_servers_clock(frontend_app):
    # Fixtures: session up since 04:39:45, route-server clock at 04:40:20.
    body = call(frontend_app, "/")[2]
    assert "up 35s" in body and "since 2026-11-26 04:39:45" in body


@pytest.mark.parametrize(
    "since, now, expected",
    [
        ("2026-11-26 03:57:21", "2026-11-26 03:57:58", "37s"),
        ("2026-11-26 03:57:21", "2026-11-26 05:00:00", "1h 2m"),
        ("2026-11-20 03:57:21", "2026-11-26 05:00:00", "6d 1h"),
        ("2026-11-26 03:57:21.123", "2026-11-26 03:59:22.500", "2m 1s"),
        ("03:57:20.370", "03:58:00.000", ""),
    ],
)
def test_duration(since, now, expected):
    assert frontend.duration(since, now) == expected


# -- under the real production server (waitress), over real HTTP ----------


@pytest.fixture()
def running(request):
    servers = []

    def start(app):
        server = waitress.create_server(app, host="127.0.0.1", port=0, threads=4)
        threading.Thread(target=server.run, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.effective_port}"

    yield start
    for server in servers:
        server.close()


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_frontend_over_http_to_two_backends(running):
    runner = FakeBirdc()
    config = {"route_server_asn": 64496, "allowed_clients": ["127.0.0.1/32"], "reject_communities": CAPTURED_LAYOUT}
    rs1 = running(backend.make_app(config, BirdClient(runner=runner)))
    rs2 = running(backend.make_app(config, BirdClient(runner=runner)))
    lg = running(
        frontend.make_app(
            {
                "route_servers": [
                    {"name": "lg-rs1", "url": rs1},
                    {"name": "lg-rs2", "url": rs2},
                ],
                "members": [{"asn": 64500, "name": "Karukera Telecom"}],
            }
        )
    )
    status, body = get(lg + "/neighbors/lg-rs2/AS64500_1")
    assert status == 200
    assert "RPKI INVALID route (code 14)" in body
    status, body = get(lg + "/")
    assert (
        status == 200 and body.count('data-asn="64500"') == 4
    )  # 2 route servers x 2 families
    assert get(rs1 + "/routes/filtered/x;y")[0] == 400
    assert (
        json.loads(get(rs1 + "/routes/filtered/AS64500_2")[1])["routes"][0][
            "reject_reasons"
        ][0]["code"]
        == 12
    )


def test_config_check(tmp_path, capsys):
    good = tmp_path / "backend.json"
    good.write_text(
        json.dumps({"route_server_asn": 64496, "listen": ["127.0.0.1:29184"]})
    )
    assert serve.main(["backend", "--check", "--config", str(good)]) == 0
    bad = tmp_path / "frontend.json"
    bad.write_text(json.dumps({"route_servers": [{"name": "rs 1", "url": "ftp://x"}]}))
    assert serve.main(["frontend", "--check", "--config", str(bad)]) == 2
    assert "invalid configuration" in capsys.readouterr().err


def test_concurrent_burst_runs_birdc_once():
    """20 clients asking at once while birdc is slow: BIRD sees one birdc."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    runner = FakeBirdc()

    def slow_runner(argv, **kwargs):
        time.sleep(0.3)
        return runner(argv, **kwargs)

    config = {
        "route_server_asn": 64496,
        "rate_limit": {"per_second": 100, "burst": 1000},
    }
    app = backend.make_app(config, BirdClient(runner=slow_runner, cache_ttl=60))
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda _: call(app, "/protocols/bgp")[0], range(20)))
    assert answers == [200] * 20
    assert runner.calls == ["show protocols all"]


def test_at_most_max_parallel_birdc():
    import time
    from concurrent.futures import ThreadPoolExecutor

    running, peak = [0], [0]
    lock = threading.Lock()
    runner = FakeBirdc()

    def counting_runner(argv, **kwargs):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.1)
        with lock:
            running[0] -= 1
        return runner(argv, **kwargs)

    client = BirdClient(runner=counting_runner, max_parallel=2)
    commands = [["show", "route", "all", "protocol", f"AS6450{n}_1"] for n in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(client.run, commands))
    assert peak[0] == 2
