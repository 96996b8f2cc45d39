"""Looking glass end to end: the route servers the route_server role built
(arouteserver, BIRD, stayrtr), a real member, the backend on each route
server and the front end behind nginx on lg-lg1.

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
# Management addresses (the backend channel) and peering addresses (BGP).
RS_ADDRESS = {"lg-rs1": "192.0.2.131", "lg-rs2": "192.0.2.132"}
RS_PEERING = {"lg-rs1": "192.0.2.162", "lg-rs2": "192.0.2.163"}
RS_ASN = 64496
ADDRESS = {**RS_ADDRESS, "lg-lg1": "192.0.2.150"}
LG_URL = "https://192.0.2.150"
# The backend channel's files the role installs on every host.
TLS_DIR = "/etc/caribix-lg/backend-tls"

# Run on a host: GET each URL given, print [[status, body], ...] as JSON
# (no curl in the image; one process for several requests); a failed
# connection or TLS handshake is ["error", "why"]. The first argument
# says how to talk TLS: "insecure" (the lab's self-signed front end),
# "mtls" (the island CA and this host's certificate, as the front end
# does), "nocert" (the island CA, no client certificate).
FETCH = (
    "import json,ssl,sys,urllib.request,urllib.error\n"
    f"tls = {TLS_DIR!r}\n"
    "mode = sys.argv[1]\n"
    "if mode == 'insecure':\n"
    "    context = ssl._create_unverified_context()\n"
    "else:\n"
    "    context = ssl.create_default_context(cafile=tls + '/ca.crt')\n"
    "    if mode == 'mtls':\n"
    "        context.load_cert_chain(tls + '/host.crt', tls + '/host.key')\n"
    "answers = []\n"
    "for url in sys.argv[2:]:\n"
    "    try:\n"
    "        answer = urllib.request.urlopen(url, timeout=20, context=context)\n"
    "        answers.append([answer.status, answer.read().decode()])\n"
    "    except urllib.error.HTTPError as error:\n"
    "        answers.append([error.code, error.read().decode()])\n"
    "    except OSError as error:\n"
    "        answers.append(['error', str(getattr(error, 'reason', error))])\n"
    "print(json.dumps(answers))\n"
)


def remote_get_many(host, *urls, mode="mtls"):
    return json.loads(
        host.check_output("python3 -c %s %s " + " ".join(["%s"] * len(urls)), FETCH, mode, *urls)
    )


def remote_get(host, url, mode="mtls"):
    return tuple(remote_get_many(host, url, mode=mode)[0])


def backend_url(rs, path):
    return f"https://{RS_ADDRESS[rs]}:29184{path}"


def backend_json(host, rs, path):
    status, body = remote_get(host, backend_url(rs, path))
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
def test_backend_runs_unprivileged_on_localhost_behind_nginx(host, rs):
    rs_host = get_host(host, rs)
    service = rs_host.service("caribix-lg-backend")
    assert service.is_running and service.is_enabled
    user = rs_host.check_output("ps -o user= -C python3 -C python")
    assert "caribix-lg" in user.split()
    assert "bird" in rs_host.user("caribix-lg").groups
    # The backend on localhost only; nginx (mutual TLS) on the management address.
    assert rs_host.socket("tcp://127.0.0.1:29185").is_listening
    assert not rs_host.socket("tcp://0.0.0.0:29185").is_listening
    assert not rs_host.socket(f"tcp://{RS_ADDRESS[rs]}:29185").is_listening
    assert rs_host.socket(f"tcp://{RS_ADDRESS[rs]}:29184").is_listening
    assert rs_host.service("nginx").is_running
    # Debian's default site (port 80 everywhere) is gone.
    assert not rs_host.socket("tcp://0.0.0.0:80").is_listening


@pytest.mark.parametrize(
    "name, group, key_group", [("lg-rs1", "route_servers", "root"), ("lg-lg1", "looking_glass", "caribix-lg")]
)
def test_channel_files_from_the_island_data(host, name, group, key_group):
    target = get_host(host, name)
    key = target.file(f"{TLS_DIR}/host.key")
    assert (key.user, key.group, key.mode) == ("root", key_group, 0o640)
    assert target.file(TLS_DIR).mode == 0o750
    certificate = target.check_output(
        f"openssl x509 -in {TLS_DIR}/host.crt -noout -subject -nameopt RFC2253 -ext subjectAltName,extendedKeyUsage"
    )
    assert f"subject=CN={name}\n" in certificate
    assert f"DNS:{name}, IP Address:{ADDRESS[name]}" in certificate
    assert ("TLS Web Server Authentication" if group == "route_servers" else "TLS Web Client Authentication") in certificate
    assert target.run(f"openssl verify -CAfile {TLS_DIR}/ca.crt {TLS_DIR}/host.crt").rc == 0


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
    v6 = next(p for p in sessions.values() if "ipv6" in p["channels"])
    assert v6["channels"]["ipv6"]["routes"]["imported"] == 1
    assert v6["channels"]["ipv6"]["routes"]["filtered"] == 3


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
        "2001:db8:2000::/48": ["Prefix is bogon"],
    }


@pytest.mark.parametrize("rs", RS_HOSTS)
def test_route_servers_run_the_roles_arouteserver_config(host, rs):
    """What the looking glass reads is the route_server role's output:
    arouteserver's config, ROAs from stayrtr over RTR, and filtered routes
    tagged in both namespaces (arouteserver's reason in RS:65520, the
    Euro-IX one in RS:1101, docs/route-servers.md)."""
    rs_host = get_host(host, rs)
    config = rs_host.file("/etc/bird/bird.conf").content_string
    assert "arouteserver" in config and f"router id {RS_PEERING[rs]};" in config
    assert rs_host.service("stayrtr").is_running
    assert "Established" in rs_host.check_output("birdc -r show protocols RPKI_stayrtr")
    rpki_invalid = rs_host.check_output("birdc -r show route all filtered protocol AS64500_1 198.51.100.0/24")
    assert f"({RS_ASN}, 65520, 14)" in rpki_invalid and f"({RS_ASN}, 1101, 13)" in rpki_invalid
    too_long = rs_host.check_output("birdc -r show route all filtered protocol AS64500_2 2001:db8:1000:100::/56")
    assert f"({RS_ASN}, 65520, 13)" in too_long and f"({RS_ASN}, 1101, 1)" in too_long


def test_backend_caches_bird_answers(lg):
    first, second = remote_get_many(lg, backend_url("lg-rs1", "/status"), backend_url("lg-rs1", "/status"))
    assert (
        json.loads(second[1])["api"]["cache_status"]
        == json.loads(first[1])["api"]["cache_status"]
    )
    assert json.loads(second[1])["api"]["result_from_cache"] is True


def test_backend_refuses_bad_input(lg):
    status, body = remote_get(lg, backend_url("lg-rs1", "/routes/filtered/AS64500_1;configure"))
    assert status == 400 and "invalid protocol name" in body
    status, body = remote_get(lg, backend_url("lg-rs1", "/routes/protocol/AS65551_9"))
    assert status == 404


@pytest.mark.parametrize("rs", RS_HOSTS)
def test_backend_refuses_a_client_without_certificate(lg, rs):
    # The looking-glass host itself, trusting the CA but showing no certificate.
    status, body = remote_get(lg, backend_url(rs, "/status"), mode="nocert")
    assert status == 400 and "No required SSL certificate was sent" in body


def test_backend_refuses_a_route_servers_certificate_as_client(host):
    # Signed by the island CA, but for a server (serverAuth): not a front end.
    rs2 = get_host(host, "lg-rs2")
    status, body = remote_get(rs2, backend_url("lg-rs1", "/status"))
    assert status == 400 and "SSL certificate error" in body


def test_backend_port_refuses_plain_http(host, lg):
    for client in (lg, get_host(host, "lg-member")):
        status, body = remote_get(client, "http://192.0.2.131:29184/status", mode="insecure")
        assert status == 400 and "plain HTTP request was sent to HTTPS port" in body


def test_backend_itself_is_not_reachable_from_the_looking_glass_host(lg):
    for rs in RS_HOSTS:
        for url in (f"http://{RS_ADDRESS[rs]}:29185/status", f"https://{RS_ADDRESS[rs]}:29185/status"):
            status, reason = remote_get(lg, url)
            assert status == "error" and "refused" in reason.lower(), (url, status, reason)


def test_backend_still_checks_the_client_address_behind_nginx(host):
    # nginx passes the client's address; the backend answers only the
    # looking-glass hosts (here a request claiming to come from the
    # member's host, 192.0.2.140 on the management LAN).
    rs1 = get_host(host, "lg-rs1")
    script = (
        "import urllib.request,urllib.error\n"
        "request = urllib.request.Request('http://127.0.0.1:29185/status', headers={'X-Forwarded-For': '192.0.2.140'})\n"
        "try:\n"
        "    print(urllib.request.urlopen(request, timeout=10).status)\n"
        "except urllib.error.HTTPError as error:\n"
        "    print(error.code)\n"
    )
    assert rs1.check_output("python3 -c %s", script) == "403"


def test_frontend_reaches_both_backends_over_mutual_tls(lg):
    config = json.loads(lg.file("/etc/caribix-lg/frontend.json").content_string)
    assert [rs["url"] for rs in config["route_servers"]] == [
        "https://192.0.2.131:29184",
        "https://192.0.2.132:29184",
    ]
    assert config["client_cert"] == f"{TLS_DIR}/host.crt"
    # Every route server answered: no warning, and each one's own data.
    status, body, _ = controller_get("/")
    assert status == 200 and "did not answer" not in body
    for rs, protocol in (("lg-rs1", "AS64500_1"), ("lg-rs2", "AS64500_1")):
        status, body, _ = controller_get(f"/neighbors/{rs}/{protocol}")
        assert status == 200 and "did not answer" not in body
        accepted = body.split('id="accepted"')[1]
        assert "203.0.113.0/24" in accepted, rs


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


def test_ixf_export_at_its_stable_url():
    """The island's IX-F Member Export, served by nginx: IX-F 1.0 valid,
    the scenario's members, and its route servers as ixrouteserver."""
    from caribix.ixf import schema_errors

    status, body, headers = controller_get("/ixf/export.json")
    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    document = json.loads(body)
    assert schema_errors(document) == []
    route_servers = [m for m in document["member_list"] if m["member_type"] == "ixp"]
    assert len(route_servers) == 1
    addresses = {
        vlan["ipv4"]["address"]
        for connection in route_servers[0]["connection_list"]
        for vlan in connection["vlan_list"]
        if vlan["ipv4"]["services"][0]["type"] == "ixrouteserver"
    }
    assert addresses == set(RS_PEERING.values())
    assert "Karukera Telecom" in {m.get("name") for m in document["member_list"]}
