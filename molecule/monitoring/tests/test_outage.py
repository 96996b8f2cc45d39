"""Stop a member's BGP and watch the alert go all the way (runs after test_monitoring.py).

While it fires, the island is cut off from its alert receivers: the webhook
(the outside chat/pager) cannot be reached (nothing answers at its address
until the test starts the sink there). The alerts must show on the island
(Prometheus, Alertmanager), Alertmanager must keep trying without crashing
or dropping them, and deliver them once the receiver is reachable again."""

from __future__ import annotations

import base64
import re
import subprocess

import pytest
import requests
from test_monitoring import ALERTMANAGER, MEMBERS, PROMETHEUS, ROUTE_SERVERS, query, wait_for

MEMBER_CONTAINER = "mon-member"
WEBHOOK_SINK_LOG = "/var/tmp/caribix-webhook-sink.log"

testinfra_hosts = ["mon-monitoring"]


@pytest.fixture()
def webhook_sink(host):
    """A throwaway HTTP sink on the monitoring host at the (vaulted) webhook
    URL's port, started when the test calls what this yields."""
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

    def start():
        started = host.run("systemd-run --unit caribix-lab-webhook-sink /usr/bin/python3 /var/tmp/caribix-webhook-sink.py")
        assert started.rc == 0, started.stderr

    yield start
    host.run("systemctl stop caribix-lab-webhook-sink")


def _webhook_failures() -> float:
    """Webhook requests that failed (each try counts; the notification
    itself fails only when Alertmanager gives up on it)."""
    metrics = requests.get(f"{ALERTMANAGER}/metrics", timeout=10).text
    return sum(float(v) for v in re.findall(r'^alertmanager_notification_requests_failed_total\{[^}]*integration="webhook"[^}]*\} (\S+)$', metrics, re.M))


def _restarts(host, unit: str) -> str:
    return host.run(f"systemctl show -p NRestarts --value {unit}").stdout.strip()


def _firing(alertname: str) -> list[dict]:
    alerts = requests.get(f"{PROMETHEUS}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
    return [a for a in alerts if a["labels"]["alertname"] == alertname and a["state"] == "firing"]


def test_member_bgp_down_fires_alert(host, webhook_sink):
    member = MEMBERS[0]
    assert not _firing("CaribixBgpSessionDown"), "a session is down before the test"
    restarts = {unit: _restarts(host, unit) for unit in ("prometheus", "prometheus-alertmanager")}
    failures_before = _webhook_failures()
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
        # critical alert is for the webhook, which cannot be reached. It
        # shows on the island, the sending fails, and nothing crashes.
        def critical_held():
            received = requests.get(f"{ALERTMANAGER}/api/v2/alerts", timeout=10).json()
            return [a for a in received if a["labels"]["alertname"] == "CaribixBothRouteServersDown"]

        wait_for(critical_held, 120, "Alertmanager to hold the critical alert while cut off")
        wait_for(lambda: _webhook_failures() > failures_before, 90, "Alertmanager to try the webhook and fail")
        assert "CaribixBothRouteServersDown" not in host.run(f"cat {WEBHOOK_SINK_LOG}").stdout
        # The receiver can be reached again: the queued notification is
        # delivered (Alertmanager retries with a growing delay, at most a
        # minute), to the webhook from the vault, token included.
        webhook_sink()
        wait_for(lambda: "CaribixBothRouteServersDown" in host.run(f"cat {WEBHOOK_SINK_LOG}").stdout, 120, "the critical alert at the webhook once reachable")
        assert "token=" in host.run(f"cat {WEBHOOK_SINK_LOG}").stdout
        assert {unit: _restarts(host, unit) for unit in restarts} == restarts, "a monitoring service restarted while cut off"
        assert host.service("prometheus").is_running and host.service("prometheus-alertmanager").is_running
    finally:
        subprocess.run(["docker", "exec", MEMBER_CONTAINER, "systemctl", "start", "bird"], check=True)
    wait_for(lambda: not _firing("CaribixBgpSessionDown") and not query('bird_protocol_up{proto="BGP"} == 0'), 120, "the sessions to come back")
