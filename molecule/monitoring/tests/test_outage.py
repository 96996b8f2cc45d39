"""Stop a member's BGP and watch the alert go all the way (runs after test_monitoring.py)."""

from __future__ import annotations

import base64
import subprocess

import pytest
import requests
from test_monitoring import ALERTMANAGER, MEMBERS, PROMETHEUS, ROUTE_SERVERS, query, wait_for

MEMBER_CONTAINER = "mon-member"
WEBHOOK_SINK_LOG = "/var/tmp/caribix-webhook-sink.log"

testinfra_hosts = ["mon-monitoring"]


@pytest.fixture()
def webhook_sink(host):
    """A throwaway HTTP sink on the monitoring host at the (vaulted) webhook URL's port."""
    sink = (
        "import http.server\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_POST(self):\n"
        "        body = self.rfile.read(int(self.headers['Content-Length']))\n"
        f"        open('{WEBHOOK_SINK_LOG}', 'ab').write(self.path.encode() + b' ' + body + b'\\n')\n"
        "        self.send_response(200); self.end_headers()\n"
        "http.server.HTTPServer(('192.0.2.66', 9999), H).serve_forever()\n"
    )
    encoded = base64.b64encode(sink.encode()).decode()
    host.run(f"rm -f {WEBHOOK_SINK_LOG}; echo {encoded} | base64 -d > /var/tmp/caribix-webhook-sink.py")
    host.run("systemctl stop caribix-lab-webhook-sink; systemctl reset-failed caribix-lab-webhook-sink")
    started = host.run("systemd-run --unit caribix-lab-webhook-sink /usr/bin/python3 /var/tmp/caribix-webhook-sink.py")
    assert started.rc == 0, started.stderr
    yield
    host.run("systemctl stop caribix-lab-webhook-sink")


def _firing(alertname: str) -> list[dict]:
    alerts = requests.get(f"{PROMETHEUS}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
    return [a for a in alerts if a["labels"]["alertname"] == alertname and a["state"] == "firing"]


def test_member_bgp_down_fires_alert(host, webhook_sink):
    member = MEMBERS[0]
    assert not _firing("CaribixBgpSessionDown"), "a session is down before the test"
    subprocess.run(["docker", "exec", MEMBER_CONTAINER, "systemctl", "stop", "bird"], check=True)
    try:
        # Both families on every route server.
        sessions = 2 * len(ROUTE_SERVERS)
        alerts = wait_for(lambda: len(_firing("CaribixBgpSessionDown")) == sessions and _firing("CaribixBgpSessionDown"), 120, "CaribixBgpSessionDown to fire")
        assert {a["labels"]["member"] for a in alerts} == {member["name"]}
        assert {(a["labels"]["host"], a["labels"]["ip_version"]) for a in alerts} == {(rs, v) for rs in ROUTE_SERVERS for v in ("4", "6")}
        assert "state" not in alerts[0]["labels"]

        def in_alertmanager():
            received = requests.get(f"{ALERTMANAGER}/api/v2/alerts", timeout=10).json()
            return [a for a in received if a["labels"]["alertname"] == "CaribixBgpSessionDown" and a["labels"].get("member") == member["name"]]

        wait_for(in_alertmanager, 60, "Alertmanager to hold the session-down alerts")
        # Both route servers lost their only client: the island-wide
        # critical alert goes to the webhook from the vault, token included.
        wait_for(lambda: "CaribixBothRouteServersDown" in host.run(f"cat {WEBHOOK_SINK_LOG}").stdout, 120, "the critical alert at the webhook")
        assert "token=" in host.run(f"cat {WEBHOOK_SINK_LOG}").stdout
    finally:
        subprocess.run(["docker", "exec", MEMBER_CONTAINER, "systemctl", "start", "bird"], check=True)
    wait_for(lambda: not _firing("CaribixBgpSessionDown") and not query('bird_protocol_up{proto="BGP"} == 0'), 120, "the sessions to come back")
