"""Prometheus exporter for per-member traffic measured by sFlow.

pmacct's sfacctd aggregates sFlow samples on (source MAC, destination
MAC) in its memory plugin, renormalised by the sampling rate. At each
scrape this exporter asks sfacctd for that table (``pmacct -s -O json``)
and maps each MAC to the member that owns it, giving:

- ``caribix_member_traffic_bytes_total{member,asn,direction}`` (and
  ``..._packets_total``): what a member sent (``out``) or received (``in``)
  across the peering LAN;
- ``caribix_peering_matrix_bytes_total{src_member,src_asn,dst_member,dst_asn}``:
  traffic between each pair of members;
- ``caribix_sflow_up``: 1 when sfacctd answered.

The memory table only grows until sfacctd restarts, so these are counters
(a restart is a counter reset, which ``rate()`` handles). MACs no member
owns are counted under ``member="unknown"``: broadcast, a router swap, or
a port-security problem worth a look.

The monitoring host runs this file as a script with the system Python
(standard library only: hosts get no PyPI access).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

UNKNOWN = {"member": "unknown", "asn": "0"}
PMACCT_TIMEOUT_SECONDS = 5


def normalise_mac(mac: str) -> str:
    return mac.strip().lower().replace("-", ":")


def load_member_macs(path: str) -> dict[str, dict[str, str]]:
    """The MAC -> {member, asn} map the monitoring role writes (JSON)."""
    with open(path, encoding="utf-8") as handle:
        raw = json.load(handle)
    return {normalise_mac(mac): {"member": str(owner["member"]), "asn": str(owner["asn"])} for mac, owner in raw.items()}


def parse_pmacct_json(output: str) -> list[dict]:
    """``pmacct -s -O json`` prints one JSON object per line."""
    rows = []
    for line in output.splitlines():
        line = line.strip()
        if line.startswith("{"):
            rows.append(json.loads(line))
    return rows


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: dict[str, str]) -> str:
    return "{" + ",".join(f'{key}="{_escape(value)}"' for key, value in labels.items()) + "}"


def render_metrics(rows: list[dict] | None, member_macs: dict[str, dict[str, str]]) -> str:
    """Prometheus text exposition for the pmacct table ``rows``.

    ``rows`` None means sfacctd did not answer: only ``caribix_sflow_up 0``
    is exported, so counters are absent rather than falsely zero.
    """
    lines = [
        "# HELP caribix_sflow_up Whether sfacctd answered the exporter's query.",
        "# TYPE caribix_sflow_up gauge",
        f"caribix_sflow_up {0 if rows is None else 1}",
    ]
    if rows is None:
        return "\n".join(lines) + "\n"

    members = sorted({(owner["member"], owner["asn"]) for owner in member_macs.values()})
    # Every member appears, with zero traffic if none was sampled, so that
    # pages and rate() see the whole membership from the first scrape.
    traffic: dict[tuple[str, str, str], list[int]] = {}
    for member, asn in members:
        for direction in ("in", "out"):
            traffic[(member, asn, direction)] = [0, 0]
    matrix: dict[tuple[str, str, str, str], int] = {}
    for row in rows:
        source = member_macs.get(normalise_mac(row.get("mac_src", "")), UNKNOWN)
        destination = member_macs.get(normalise_mac(row.get("mac_dst", "")), UNKNOWN)
        count_bytes = int(row.get("bytes", 0))
        count_packets = int(row.get("packets", 0))
        for owner, direction in ((source, "out"), (destination, "in")):
            totals = traffic.setdefault((owner["member"], owner["asn"], direction), [0, 0])
            totals[0] += count_bytes
            totals[1] += count_packets
        pair = (source["member"], source["asn"], destination["member"], destination["asn"])
        matrix[pair] = matrix.get(pair, 0) + count_bytes

    for name, index, unit in (("bytes", 0, "Bytes"), ("packets", 1, "Frames")):
        lines.append(f"# HELP caribix_member_traffic_{name}_total {unit} a member sent (out) or received (in) on the peering LAN, from sFlow.")
        lines.append(f"# TYPE caribix_member_traffic_{name}_total counter")
        for (member, asn, direction), totals in sorted(traffic.items()):
            lines.append(f"caribix_member_traffic_{name}_total{_labels({'member': member, 'asn': asn, 'direction': direction})} {totals[index]}")
    lines.append("# HELP caribix_peering_matrix_bytes_total Bytes from one member to another on the peering LAN, from sFlow.")
    lines.append("# TYPE caribix_peering_matrix_bytes_total counter")
    for (src_member, src_asn, dst_member, dst_asn), count_bytes in sorted(matrix.items()):
        labels = {"src_member": src_member, "src_asn": src_asn, "dst_member": dst_member, "dst_asn": dst_asn}
        lines.append(f"caribix_peering_matrix_bytes_total{_labels(labels)} {count_bytes}")
    return "\n".join(lines) + "\n"


def query_pmacct(pmacct: str, pipe: str) -> list[dict] | None:
    try:
        result = subprocess.run(
            [pmacct, "-p", pipe, "-s", "-O", "json"],
            capture_output=True,
            text=True,
            timeout=PMACCT_TIMEOUT_SECONDS,
            check=True,
        )
        return parse_pmacct_json(result.stdout)
    except (OSError, subprocess.SubprocessError, json.JSONDecodeError) as error:
        print(f"pmacct query failed: {error}", file=sys.stderr)
        return None


def make_handler(pmacct: str, pipe: str, member_macs_file: str):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404, "metrics are at /metrics")
                return
            body = render_metrics(query_pmacct(pmacct, pipe), load_member_macs(member_macs_file)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):  # noqa: A002 (signature fixed by http.server)
            pass  # one line per scrape would flood the journal

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Per-member traffic from sfacctd, for Prometheus.")
    parser.add_argument("--listen-address", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9817)
    parser.add_argument("--pmacct", default="/usr/bin/pmacct")
    parser.add_argument("--pipe", required=True, help="sfacctd memory plugin pipe (imt_path)")
    parser.add_argument("--member-macs", required=True, help="JSON file: MAC -> {member, asn}")
    args = parser.parse_args(argv)
    load_member_macs(args.member_macs)  # fail at start, not at the first scrape
    server_class = ThreadingHTTPServer
    if ":" in args.listen_address:
        import socket

        class IPv6Server(ThreadingHTTPServer):
            address_family = socket.AF_INET6

        server_class = IPv6Server
    server = server_class((args.listen_address, args.port), make_handler(args.pmacct, args.pipe, args.member_macs))
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
