"""roles/monitoring/files/monitoring_traffic_exporter.py: pmacct's table -> per-member counters."""

from __future__ import annotations

import json
import os
import stat
import threading
import urllib.request
from http.server import ThreadingHTTPServer

from conftest import host_agent

_exporter = host_agent("monitoring", "monitoring_traffic_exporter")
load_member_macs, make_handler = _exporter.load_member_macs, _exporter.make_handler
parse_pmacct_json, render_metrics = _exporter.parse_pmacct_json, _exporter.render_metrics

# `pmacct -s -O json` output from sfacctd 1.7.7 (Debian bookworm) after
# the scenario's test datagrams: one JSON object per line.
PMACCT_OUTPUT = (
    '{"mac_src": "02:ca:00:01:00:11", "mac_dst": "02:ca:00:01:00:10", "packets": 1536, "bytes": 466944}\n'
    '{"mac_src": "02:ca:00:01:00:10", "mac_dst": "02:ca:00:01:00:11", "packets": 1536, "bytes": 1542144}\n'
    '{"mac_src": "02:ca:00:01:00:10", "mac_dst": "ff:ff:ff:ff:ff:ff", "packets": 512, "bytes": 32768}\n'
)
MACS = {
    "02:ca:00:01:00:10": {"member": "Karukera Telecom", "asn": "64500"},
    "02:CA:00:01:00:11": {"member": "Basse-Terre Networks", "asn": "64501"},
    "02:ca:00:01:00:12": {"member": 'Quote "Q" Networks', "asn": "64502"},
}


def metrics(text: str) -> dict[str, float]:
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line and not line.startswith("#")}


def member_map(tmp_path):
    path = tmp_path / "macs.json"
    path.write_text(json.dumps(MACS))
    return load_member_macs(str(path))


def test_counts_per_member_and_pair(tmp_path):
    values = metrics(render_metrics(parse_pmacct_json(PMACCT_OUTPUT), member_map(tmp_path)))
    assert values["caribix_sflow_up"] == 1
    assert values['caribix_member_traffic_bytes_total{member="Karukera Telecom",asn="64500",direction="out"}'] == 1542144 + 32768
    assert values['caribix_member_traffic_bytes_total{member="Karukera Telecom",asn="64500",direction="in"}'] == 466944
    assert values['caribix_member_traffic_packets_total{member="Basse-Terre Networks",asn="64501",direction="in"}'] == 1536
    assert values['caribix_peering_matrix_bytes_total{src_member="Karukera Telecom",src_asn="64500",dst_member="Basse-Terre Networks",dst_asn="64501"}'] == 1542144
    # Broadcast (or any MAC no member owns) is counted, as unknown.
    assert values['caribix_member_traffic_bytes_total{member="unknown",asn="0",direction="in"}'] == 32768
    # A member without sampled traffic still shows, at zero; quotes are escaped.
    assert values['caribix_member_traffic_bytes_total{member="Quote \\"Q\\" Networks",asn="64502",direction="out"}'] == 0


def test_collector_down_exports_no_counters(tmp_path):
    text = render_metrics(None, member_map(tmp_path))
    assert metrics(text) == {"caribix_sflow_up": 0}


def test_http_endpoint_queries_pmacct(tmp_path):
    # A stand-in for the pmacct client binary (not the daemon): prints what
    # pmacct printed against the real sfacctd, so the HTTP path is exercised.
    client = tmp_path / "pmacct"
    client.write_text("#!/bin/sh\ncat <<'EOF'\n" + PMACCT_OUTPUT + "EOF\n")
    client.chmod(client.stat().st_mode | stat.S_IEXEC)
    macs = tmp_path / "macs.json"
    macs.write_text(json.dumps(MACS))
    for pmacct, up in ((str(client), 1), (os.devnull, 0)):
        server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(pmacct, "/run/unused.pipe", str(macs)))
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            url = f"http://127.0.0.1:{server.server_address[1]}"
            body = urllib.request.urlopen(f"{url}/metrics", timeout=5).read().decode()
            assert metrics(body)["caribix_sflow_up"] == up
            try:
                urllib.request.urlopen(f"{url}/other", timeout=5)
                raise AssertionError("expected 404")
            except urllib.error.HTTPError as error:
                assert error.code == 404
        finally:
            server.shutdown()
            server.server_close()
