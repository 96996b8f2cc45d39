"""Looking glass end to end: real BIRD route servers, a real member, the
backend on each route server and the front end behind nginx on lg-lg1.

Backend answers are fetched from lg-lg1 (the only host allowed to ask);
the front end is fetched from the controller and from the member's host.
The browser test is tests/browser/test_lg_browser.py (same verify run).
"""

import json
import ssl
import time
import urllib.error
import urllib.request

import pytest

# Every test runs once, from the looking-glass host; other hosts are
# reached through docker exec (fast) with get_host().
testinfra_hosts = ["docker://lg-lg1"]

RS_HOSTS = ["lg-rs1", "lg-rs2"]
RS_ADDRESS = {"lg-rs1": "192.0.2.131", "lg-rs2": "192.0.2.132"}
LG_URL = "https://192.0.2.150"

# Run on a host: GET each URL given, print [[status, body], ...] as JSON
# (no curl in the image; one process for several requests).
FETCH = (
    "import json,ssl,sys,urllib.request,urllib.error\n"
    "context = ssl._create_unverified_context()\n"
    "answers = []\n"
    "for url in sys.argv[1:]:\n"
    "    try:\n"
    "        answer = urllib.request.urlopen(url, timeout=20, context=context)\n"
    "        answers.append([answer.status, answer.read().decode()])\n"
    "    except urllib.error.HTTPError as error:\n"
    "        answers.append([error.code, error.read().decode()])\n"
    "print(json.dumps(answers))\n"
)


def remote_get_many(host, *urls):
    return json.loads(
        host.check_output("python3 -c %s " + " ".join(["%s"] * len(urls)), FETCH, *urls)
    )


def remote_get(host, url):
    return tuple(remote_get_many(host, url)[0])


def backend_json(host, rs, path):
    status, body = remote_get(host, f"http://{RS_ADDRESS[rs]}:29184{path}")
    assert status == 200, body
    return json.loads(body)


def wait_for(check, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(3)


@pytest.fixture(scope="module")
def lg(host):
    return host


def get_host(host, name):
    return host.get_host(f"docker://{name}")


def controller_get(path):
    context = ssl._create_unverified_context()
    try:
        with urllib.request.urlopen(
            LG_URL + path, timeout=20, context=context
        ) as answer:
            return answer.status, answer.read().decode(), dict(answer.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), dict(error.headers)


@pytest.mark.parametrize("rs", RS_HOSTS)
def test_backend_runs_unprivileged_with_bird_socket_access(host, rs):
    rs_host = get_host(host, rs)
    service = rs_host.service("caribix-lg-backend")
    assert service.is_running and service.is_enabled
    user = rs_host.check_output("ps -o user= -C python3 -C python")
    assert "caribix-lg" in user.split()
    assert "bird" in rs_host.user("caribix-lg").groups
    assert rs_host.socket(f"tcp://{RS_ADDRESS[rs]}:29184").is_listening


@pytest.mark.parametrize("rs", RS_HOSTS)
def test_bird_refuses_changes_in_restricted_mode(host, rs):
    rs_host = get_host(host, rs)
    # The service user can open the socket (group bird)...
    status = rs_host.run("sudo -u caribix-lg birdc -r show status")
    assert "Daemon is up and running" in status.stdout
    # ...and -r makes BIRD refuse anything but show.
    for command in ("configure", "disable AS64500_1", "restart all"):
        refused = rs_host.run(f"sudo -u caribix-lg birdc -r {command}")
        assert "Access denied" in refused.stdout, command


@pytest.mark.parametrize("rs", RS_HOSTS)
def test_backend_shows_member_sessions(host, lg, rs):
    def established():
        protocols = backend_json(lg, rs, "/protocols/bgp")["protocols"]
        sessions = {
            name: p for name, p in protocols.items() if p.get("neighbor_as") == 64500
        }
        assert len(sessions) == 2
        assert all(p["bgp_state"] == "Established" for p in sessions.values())
        return sessions

    sessions = wait_for(established)
    families = {tuple(p["channels"]) for p in sessions.values()}
    assert families == {("ipv4",), ("ipv6",)}
    v4 = next(p for p in sessions.values() if "ipv4" in p["channels"])
    assert v4["channels"]["ipv4"]["routes"]["imported"] == 1
    assert v4["channels"]["ipv4"]["routes"]["filtered"] == 2


@pytest.mark.parametrize("rs", RS_HOSTS)
def test_backend_accepted_and_filtered_routes_with_reasons(host, lg, rs):
    accepted = backend_json(lg, rs, "/routes/protocol/AS64500_1")["routes"]
    assert [route["network"] for route in accepted] == ["203.0.113.0/24"]
    reasons = {}
    for protocol in ("AS64500_1", "AS64500_2"):
        for route in backend_json(lg, rs, f"/routes/filtered/{protocol}")["routes"]:
            reasons[route["network"]] = [
                reason["reason"] for reason in route["reject_reasons"]
            ]
    assert reasons == {
        "198.51.100.0/24": ["RPKI INVALID route"],
        "203.0.113.128/25": ["Invalid prefix length"],
        "2001:db8:1800::/48": ["Prefix not in IRRDB AS-SETs"],
        "2001:db8:1000:100::/56": ["Invalid prefix length"],
    }


def test_backend_caches_bird_answers(lg):
    first, second = remote_get_many(
        lg, "http://192.0.2.131:29184/status", "http://192.0.2.131:29184/status"
    )
    assert (
        json.loads(second[1])["api"]["cache_status"]
        == json.loads(first[1])["api"]["cache_status"]
    )
    assert json.loads(second[1])["api"]["result_from_cache"] is True


def test_backend_refuses_bad_input_and_other_clients(host, lg):
    status, body = remote_get(
        lg, "http://192.0.2.131:29184/routes/filtered/AS64500_1;configure"
    )
    assert status == 400 and "invalid protocol name" in body
    status, body = remote_get(lg, "http://192.0.2.131:29184/routes/protocol/AS65551_9")
    assert status == 404
    member = get_host(host, "lg-member")
    status, body = remote_get(member, "http://192.0.2.131:29184/status")
    assert status == 403


def test_frontend_https_with_security_headers():
    status, body, headers = controller_get("/")
    assert status == 200
    assert "Karukera Telecom" in body and "lg-rs2" in body
    assert headers["Strict-Transport-Security"].startswith("max-age=")
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert headers["Server"] == "nginx"


def test_frontend_neighbor_page_explains_filtered_routes():
    status, body, _ = controller_get("/neighbors/lg-rs2/AS64500_2")
    assert status == 200
    filtered = body.split('id="filtered-routes"')[1].split("</table>")[0]
    assert "2001:db8:1800::/48" in filtered
    assert "Prefix not in IRRDB AS-SETs (code 12)" in filtered


@pytest.mark.parametrize(
    "path",
    [
        "/lookup?q=1.2.3.4/33",
        "/lookup?q=AS99999999999",
        "/lookup?q=%3Bconfigure",
        "/neighbors/lg-rs1/AS64500_1%3Bconfigure",
    ],
)
def test_frontend_bad_input_is_400(path):
    status, body, _ = controller_get(path)
    assert status == 400
    assert 'id="error"' in body


def test_frontend_rate_limits_a_client(host):
    # From the member's host, so the controller's own tests keep their budget.
    member = get_host(host, "lg-member")
    script = (
        "import ssl,urllib.request,urllib.error\n"
        "context = ssl._create_unverified_context()\n"
        "codes = []\n"
        "for _ in range(60):\n"
        "    try:\n"
        "        codes.append(urllib.request.urlopen('https://192.0.2.150/healthz', timeout=10, context=context).status)\n"
        "    except urllib.error.HTTPError as error:\n"
        "        codes.append(error.code)\n"
        "print(codes.count(200), codes.count(429))\n"
    )
    ok, limited = map(int, member.check_output("python3 -c %s", script).split())
    # A burst of 20 passes (less if this client asked recently), then 429.
    assert ok >= 10 and limited > 0 and ok + limited == 60
