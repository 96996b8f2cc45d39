"""Verify the island monitoring end to end, through Prometheus's and Alertmanager's APIs.

Expected targets are computed from the scenario's island data (the same
files the role reads), not listed here.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import requests
import yaml

from caribix.monitoring_sflow import FlowSample, encode_datagram, ethernet_ipv4_frame, send

SCENARIO = Path(__file__).resolve().parents[1]
INVENTORY = SCENARIO / "inventories" / "anguilla"
ISLAND = yaml.safe_load((INVENTORY / "group_vars" / "all" / "exchange.yml").read_text())["exchange"]["island"]
MEMBERS = yaml.safe_load((INVENTORY / "group_vars" / "all" / "members.yml").read_text())["members"]
GROUPS = {group: sorted(body["hosts"]) for group, body in yaml.safe_load((INVENTORY / "hosts.yml").read_text())["all"]["children"].items()}
ROUTE_SERVERS = GROUPS["route_servers"]


def host_vars(host: str) -> dict:
    return yaml.safe_load((INVENTORY / "host_vars" / f"{host}.yml").read_text())


MONITORING_ADDRESS = host_vars("mon-monitoring")["management_ipv4"]
PROMETHEUS = f"http://{MONITORING_ADDRESS}:9090"
ALERTMANAGER = f"http://{MONITORING_ADDRESS}:9093"

testinfra_hosts = ["mon-monitoring"]


def query(expr: str) -> list[dict]:
    answer = requests.get(f"{PROMETHEUS}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def wait_for(check, timeout: float, what: str, interval: float = 2.0):
    """Poll ``check`` until it returns something truthy; fail with ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what}; last result: {last!r}")


def test_services_run(host):
    for service in ["prometheus", "prometheus-alertmanager", "prometheus-blackbox-exporter", "prometheus-node-exporter", "sfacctd", "caribix-traffic-exporter"]:
        assert host.service(service).is_running, service


def test_alertmanager_secrets_not_world_readable(host):
    config = host.file("/etc/prometheus/alertmanager.yml")
    assert config.mode == 0o640
    assert config.group == "prometheus"
    # The vault-encrypted webhook URL reached the config decrypted.
    assert "token=" in config.content_string


def test_every_target_up():
    island_hosts = [host for group in ("route_servers", "peering_switches", "monitoring", "looking_glass") for host in GROUPS[group]]
    route_server_addresses = {host_vars(rs)[field] for rs in ROUTE_SERVERS for field in ("peering_ipv4", "peering_ipv6")}
    expected_probes = {address for member in MEMBERS for address in (member["ipv4"], member["ipv6"])} | route_server_addresses
    expected = {
        "node": {f"{host_vars(host)['management_ipv4']}:9100" for host in island_hosts},
        "bird": {f"{host_vars(rs)['management_ipv4']}:9324" for rs in ROUTE_SERVERS},
        "blackbox_icmp": expected_probes,
        # The exporter answers; the probe itself fails (test below).
        "blackbox_http": {f"http://{host_vars(lg)['management_ipv4']}/" for lg in GROUPS["looking_glass"]},
        "sflow": {"127.0.0.1:9817"},
        "prometheus": {f"{MONITORING_ADDRESS}:9090"},
        "alertmanager": {f"{MONITORING_ADDRESS}:9093"},
    }

    def all_up():
        targets = requests.get(f"{PROMETHEUS}/api/v1/targets", timeout=10).json()["data"]["activeTargets"]
        found: dict[str, set[str]] = {}
        for target in targets:
            if target["health"] != "up":
                return None
            found.setdefault(target["labels"]["job"], set()).add(target["labels"]["instance"])
        return found if found == expected else None

    wait_for(all_up, 90, f"targets {expected} all up")


def test_probes_succeed_and_carry_member_labels():
    def probes():
        results = query('probe_success{job="blackbox_icmp"}')
        return results if len(results) == 2 * len(MEMBERS) + 2 * len(ROUTE_SERVERS) and all(r["value"][1] == "1" for r in results) else None

    results = wait_for(probes, 60, "every ICMP probe to succeed")
    labelled = {(r["metric"].get("member"), r["metric"].get("asn"), r["metric"]["instance"]) for r in results if r["metric"]["role"] == "member"}
    assert labelled == {(m["name"], str(m["asn"]), m[family]) for m in MEMBERS for family in ("ipv4", "ipv6")}
    assert {r["metric"].get("host") for r in results if r["metric"]["role"] == "route_server"} == set(ROUTE_SERVERS)


def test_looking_glass_probe_fails_where_none_runs():
    # The looking-glass host runs no looking glass here: its HTTP probe,
    # derived from the island data, must say so.
    def failing():
        results = query('probe_success{job="blackbox_http"}')
        return results if results and all(r["value"][1] == "0" for r in results) else None

    results = wait_for(failing, 60, "the looking glass's HTTP probe to report failure")
    assert {(r["metric"]["role"], r["metric"]["host"]) for r in results} == {("looking_glass", lg) for lg in GROUPS["looking_glass"]}


def test_bird_metrics_per_member():
    for member in [m for m in MEMBERS if m["route_server"]]:
        def sessions_up(member=member):
            results = query(f'max without (state) (bird_protocol_up{{member="{member["name"]}"}})')
            return results if len(results) == 2 * len(ROUTE_SERVERS) and all(r["value"][1] == "1" for r in results) else None

        results = wait_for(sessions_up, 90, f"the sessions of {member['name']} with every route server up")
        # One session per address family on each route server, named by
        # arouteserver (AS<asn>_<n>: the asn label comes from the name).
        assert {(r["metric"]["host"], r["metric"]["ip_version"]) for r in results} == {(rs, v) for rs in ROUTE_SERVERS for v in ("4", "6")}
        assert all(re.fullmatch(rf"AS{member['asn']}_\d+", r["metric"]["name"]) for r in results), results
        assert {r["metric"]["asn"] for r in results} == {str(member["asn"])}
        assert {r["metric"]["island"] for r in results} == {ISLAND}
        # Each route server accepts every route the member announces
        # (templates/member-bird.conf.j2; its IRR objects and ROAs are in
        # the snapshot, so arouteserver's filters let them through).
        for rs in ROUTE_SERVERS:
            prefixes = query(f'bird_protocol_prefix_import_count{{member="{member["name"]}",host="{rs}"}}')
            assert sum(float(r["value"][1]) for r in prefixes) == 3, (rs, prefixes)


def test_route_servers_get_roas_from_stayrtr():
    # arouteserver's config has BIRD fetch the snapshot's ROAs from the
    # local stayrtr over RTR: that session is up on every route server.
    def rtr_up():
        results = query('max without (state) (bird_protocol_up{proto="RPKI"})')
        return results if {r["metric"]["host"] for r in results if r["value"][1] == "1"} == set(ROUTE_SERVERS) else None

    wait_for(rtr_up, 60, "the RTR session to stayrtr up on every route server")


def test_route_server_build_metrics():
    # The route_server role's build writes these for node_exporter: the
    # snapshot's age (example data: reported, never alerted on) and each
    # session's accepted-route limit from members.yml.
    for rs in ROUTE_SERVERS:
        parts = query(f'caribix_snapshot_timestamp_seconds{{host="{rs}"}}')
        assert {(r["metric"]["part"], r["metric"]["example"]) for r in parts} == {(p, "true") for p in ("irr", "peeringdb", "rpki")}, parts
        limits = query(f'caribix_route_server_import_limit{{host="{rs}"}}')
        expected = {m["max_prefix"][f"ipv{v}"] for m in MEMBERS if m["route_server"] for v in (4, 6)}
        assert limits and {int(float(r["value"][1])) for r in limits} == expected, limits


def test_configs_loaded():
    assert query("prometheus_config_last_reload_successful")[0]["value"][1] == "1"
    assert query("alertmanager_config_last_reload_successful")[0]["value"][1] == "1"
    rules = requests.get(f"{PROMETHEUS}/api/v1/rules", timeout=10).json()["data"]["groups"]
    assert {rule["name"] for group in rules for rule in group["rules"]} >= {"CaribixBgpSessionDown", "CaribixBothRouteServersDown", "CaribixProbeFailing"}


def _member_bytes(member: str, direction: str) -> float:
    results = query(f'sum(caribix_member_traffic_bytes_total{{member="{member}",direction="{direction}"}})')
    return float(results[0]["value"][1]) if results else 0.0


def _matrix_bytes(source: str, destination: str) -> float:
    results = query(f'sum(caribix_peering_matrix_bytes_total{{src_member="{source}",dst_member="{destination}"}})')
    return float(results[0]["value"][1]) if results else 0.0


def test_sflow_delivers_renormalised_bytes_per_member():
    one, two = MEMBERS[0], MEMBERS[1]
    before = (_member_bytes(one["name"], "out"), _member_bytes(two["name"], "in"), _matrix_bytes(one["name"], two["name"]))
    sampling_rate, frame_length, samples = 256, 700, 4
    datagram = encode_datagram(
        [FlowSample(ethernet_ipv4_frame(one["mac"], two["mac"], frame_length, one["ipv4"], two["ipv4"]), sampling_rate, sequence_number=n) for n in range(samples)]
    )
    send((MONITORING_ADDRESS, 6343), [datagram])
    # Each sample stands for sampling_rate frames; sFlow's frame length
    # counts the FCS (4 bytes) the sampler stripped.
    expected = samples * sampling_rate * (frame_length + 4)

    def arrived():
        now = (_member_bytes(one["name"], "out"), _member_bytes(two["name"], "in"), _matrix_bytes(one["name"], two["name"]))
        return now if all(after - earlier == expected for after, earlier in zip(now, before)) else None

    wait_for(arrived, 60, f"{expected} more bytes from {one['name']} to {two['name']}")


def test_traffic_page_renders():
    def page_with_traffic():
        page = requests.get(f"{PROMETHEUS}/consoles/caribix-traffic.html", timeout=10)
        return page if page.status_code == 200 and "<rect" in page.text else None

    page = wait_for(page_with_traffic, 60, "the traffic page with traffic bars")
    assert "error executing template" not in page.text
    for member in MEMBERS:
        assert member["name"] in page.text
        assert f"AS{member['asn']}" in page.text
    rows = re.findall(r'<tr class="member">(.*?)</tr>', page.text, re.S)
    assert len(rows) == len(MEMBERS)
    # Each member row shows rates and a total as numbers (humanised, e.g. 69.9k, 2.4MiB).
    for row in rows:
        assert re.search(r">\s*\d+(\.\d+)?[kMG]?\s*</a>", row), row
        assert re.search(r"\d+(\.\d+)?[kMG]?i?B", row), row
    assert 'id="matrix"' in page.text
