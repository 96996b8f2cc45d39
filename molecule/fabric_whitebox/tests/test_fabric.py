"""Verify the whitebox peering fabric with real frames and real pings.

Runs on the controller as root (it enters the containers' network
namespaces). The frame classes, the lab and the baseline harness live in
fabric_lab.py.
"""

from __future__ import annotations

import ipaddress
import json
import re
import time

import pytest

import fabric_lab

testinfra_hosts = ["fabric-gp-sw1", "fabric-sxm-sw1", "fabric-sbh-sw1"]


@pytest.fixture(scope="module")
def lab():
    return fabric_lab.load_lab()


@pytest.fixture(scope="module")
def frame_results():
    # Policy run first, then the bare bridge (the table is restored after).
    policy = fabric_lab.run_frames()
    baseline = fabric_lab.run_frames(baseline=True)
    report = (
        "with the port-security policy:\n"
        + fabric_lab.scoreboard(policy)
        + "\n\nbare bridge (policy table removed):\n"
        + fabric_lab.scoreboard(baseline)
        + "\n"
    )
    print("\n" + report)
    # CI keeps artifacts/: the measured scores travel with the run.
    artifacts = fabric_lab.REPO / "artifacts"
    if artifacts.is_dir():
        (artifacts / "fabric_whitebox-frames.txt").write_text(report)
    return policy, baseline


def test_every_frame_class_is_handled_right(frame_results):
    policy, _ = frame_results
    wrong = [r for r in policy if not r.correct]
    assert len(policy) == 13
    assert not wrong, fabric_lab.scoreboard(policy)


def test_the_frame_classes_tell_a_bare_bridge_apart(frame_results):
    # Proof the test can fail: without the policy most classes go wrong
    # (the reference measured 4 of 13 right on a bare bridge).
    _, baseline = frame_results
    score = sum(r.correct for r in baseline)
    assert score <= 4, fabric_lab.scoreboard(baseline)
    wrong = {r.name for r in baseline if not r.correct}
    assert {"spoofed_source_mac", "arp_other_members_ip", "dot1q_tagged", "broadcast_storm"} <= wrong


def test_policy_is_back_after_the_baseline(frame_results, lab):
    _, members, _ = lab
    gp = [m for m in members.values() if m.island == "guadeloupe"]
    again = fabric_lab.send_and_watch(
        gp[0],
        gp[1],
        [c for c in fabric_lab.frame_classes(gp[0], gp[1], "192.0.2.12") if c.name == "spoofed_source_mac"],
    )
    assert again[0].correct


def _metrics(container: str) -> dict[tuple[str, str], int]:
    fabric_lab.switch_exec(container, "systemctl", "start", "caribix-fabric-metrics.service")
    text = fabric_lab.switch_exec(container, "cat", "/var/lib/prometheus/node-exporter/caribix_fabric.prom").stdout
    values = {}
    for line in text.splitlines():
        match = re.match(
            r'caribix_port_security_dropped_packets_total\{switch="[^"]+",port="([^"]+)",member="[^"]*",reason="([^"]+)"\} (\d+)',
            line,
        )
        if match:
            values[(match.group(1), match.group(2))] = int(match.group(3))
    assert 'caribix_port_security_exporter_last_run_timestamp_seconds{missing_counters="0"}' in text
    return values


def test_drops_are_counted_per_port_and_reason(lab):
    _, members, _ = lab
    gp = [m for m in members.values() if m.island == "guadeloupe"]
    a, b = gp[0], gp[1]
    before = _metrics(a.switch_container)
    results = fabric_lab.send_and_watch(a, b, fabric_lab.frame_classes(a, b, "192.0.2.12", storm_count=600))
    assert all(r.correct for r in results), fabric_lab.scoreboard(results)
    after = _metrics(a.switch_container)
    expected = {
        "spoofed_source_mac": "source_mac",
        "arp_other_members_ip": "arp_spoof",
        "ipv6_router_advertisement": "ipv6_ra",
        "dhcp_discover": "dhcp",
        "lldp": "lldp",
        "stp_bpdu": "stp",
        "cdp": "cdp",
        "dot1q_tagged": "vlan_tag",
        "unknown_ethertype": "ethertype",
    }
    for frame_class, reason in expected.items():
        key = (a.port, reason)
        assert after[key] - before[key] >= 1, f"{frame_class}: counter {key} did not move"
    storm = next(r for r in results if r.name == "broadcast_storm")
    assert after[(a.port, "storm")] - before[(a.port, "storm")] >= storm.sent - storm.received


def test_bridged_islands_reach_each_other(lab):
    """Saint-Martin and Saint-Barthelemy: bridged over VXLAN, one LAN."""
    _, members, _ = lab
    sxm = next(m for m in members.values() if m.island == "saint-martin")
    sbh = next(m for m in members.values() if m.island == "saint-barthelemy")
    for src, dst in ((sxm, sbh), (sbh, sxm)):
        for address in (dst.ipv4, dst.ipv6):
            result = fabric_lab.switch_exec(
                src.container, "ping", "-c", "3", "-i", "0.2", "-W", "2", address, check=False
            )
            assert (
                result.returncode == 0
            ), f"{src.name} cannot reach {dst.name} at {address}:\n{result.stdout}{result.stderr}"
    # And at layer 2: a registered unicast frame crosses, a spoofed one does not.
    classes = [
        c
        for c in fabric_lab.frame_classes(sxm, sbh, sbh.ipv4)
        if c.name in ("unicast_ipv4", "spoofed_source_mac", "lldp")
    ]
    results = {r.name: r for r in fabric_lab.send_and_watch(sxm, sbh, classes)}
    assert results["unicast_ipv4"].received == 1
    assert results["spoofed_source_mac"].received == 0
    assert results["lldp"].received == 0


def test_unbridged_link_carries_nothing(lab):
    """Guadeloupe - Saint-Martin is in the model but not bridged."""
    _, members, _ = lab
    gp = next(m for m in members.values() if m.island == "guadeloupe")
    sxm = next(m for m in members.values() if m.island == "saint-martin")
    # Even members that believe each other's LAN is on-link get nothing across.
    gp_net = ipaddress.ip_network(f"{gp.ipv4}/{gp.prefix4}", strict=False)
    sxm_net = ipaddress.ip_network(f"{sxm.ipv4}/{sxm.prefix4}", strict=False)
    fabric_lab._ns(gp.pid, "ip", "route", "replace", str(sxm_net), "dev", "eth1")
    fabric_lab._ns(sxm.pid, "ip", "route", "replace", str(gp_net), "dev", "eth1")
    try:
        result = fabric_lab.switch_exec(gp.container, "ping", "-c", "2", "-i", "0.2", "-W", "1", sxm.ipv4, check=False)
        assert result.returncode != 0, result.stdout
        classes = [
            c for c in fabric_lab.frame_classes(gp, sxm, gp.ipv4) if c.name in ("unicast_ipv4", "arp_own_address")
        ]
        results = fabric_lab.send_and_watch(gp, sxm, classes)
        assert [r.received for r in results] == [0, 0]
    finally:
        fabric_lab._ns(gp.pid, "ip", "route", "del", str(sxm_net), "dev", "eth1", check=False)
        fabric_lab._ns(sxm.pid, "ip", "route", "del", str(gp_net), "dev", "eth1", check=False)


def test_tunnel_of_unbridged_link_exists_outside_the_bridge(host):
    name = host.backend.get_hostname()
    links = json.loads(host.check_output("ip -d -j link show"))
    by_name = {link["ifname"]: link for link in links}
    if name == "fabric-gp-sw1":
        assert by_name["swp8"]["linkinfo"]["info_kind"] == "vxlan"
        assert "master" not in by_name["swp8"]
    if name == "fabric-sxm-sw1":
        assert by_name["swp7"]["master"] == "br-sxm-peering"
        assert "master" not in by_name["swp8"]
    if name == "fabric-sbh-sw1":
        assert by_name["swp8"]["master"] == "br-sbh-peering"


def test_member_ports_learn_nothing_and_flood_no_unknown_unicast(host):
    for port in json.loads(host.check_output("bridge -d -j link show")):
        assert port.get("learning") is False, port
        assert port.get("flood") is False, port
    fdb = json.loads(host.check_output("bridge -j fdb show"))
    learned = [
        e for e in fdb if e.get("master", "").startswith("br-") and e.get("state") not in ("static", "permanent")
    ]
    assert not learned


def test_fabric_survives_a_restart(host):
    """What the unit does at boot rebuilds the same state (reload path too)."""
    before = host.check_output("bridge fdb show | grep static | sort")
    host.check_output("systemctl restart caribix-fabric")
    assert host.service("caribix-fabric").is_enabled
    assert host.check_output("bridge fdb show | grep static | sort") == before
    plan = json.loads(host.check_output("/usr/local/sbin/caribix-fabric plan /etc/caribix/fabric/links.json"))
    assert plan["commands"] == []
    assert host.run("nft list table bridge caribix_fabric").rc == 0
    time.sleep(0.1)


def test_a_broken_policy_changes_nothing(host):
    """nft -c rejects it, and even forced through nft -f the old table stays whole."""
    before = host.check_output("nft list table bridge caribix_fabric | grep -c drop")
    host.check_output(
        "sed 's/counter name swp1_dhcp drop/counter name swp1_dhcp dorp/' /etc/caribix/fabric/policy.nft > /tmp/broken.nft"
    )
    assert host.run("nft -c -f /tmp/broken.nft").rc != 0
    assert host.run("nft -f /tmp/broken.nft").rc != 0
    assert host.check_output("nft list table bridge caribix_fabric | grep -c drop") == before
    host.check_output("rm -f /tmp/broken.nft")


def test_drift_is_seen_and_repaired_by_reload(host):
    """Hand-made changes show in the agent's plan; a reload puts the model back."""
    port = "swp1"
    mac = host.check_output(f"bridge fdb show dev {port} | awk '/static/ {{print $1}}'")
    host.check_output(f"bridge link set dev {port} learning on")
    host.check_output(f"bridge fdb del {mac} dev {port} master")
    plan = json.loads(host.check_output("/usr/local/sbin/caribix-fabric plan /etc/caribix/fabric/links.json"))
    assert f"bridge fdb replace {mac} dev {port} master static" in plan["commands"]
    assert any(c.startswith(f"bridge link set dev {port} learning off") for c in plan["commands"])
    host.check_output("systemctl reload caribix-fabric")
    plan = json.loads(host.check_output("/usr/local/sbin/caribix-fabric plan /etc/caribix/fabric/links.json"))
    assert plan["commands"] == []
