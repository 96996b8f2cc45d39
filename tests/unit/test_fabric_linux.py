"""The whitebox agent: plans only what differs, and exports counters."""

from __future__ import annotations

import io
import json
import subprocess

from conftest import host_agent

fabric_linux = host_agent("fabric_whitebox", "fabric_linux")
GROUP_FWD_MASK, plan, render_metrics = fabric_linux.GROUP_FWD_MASK, fabric_linux.plan, fabric_linux.render_metrics

VX7 = {"id": 10203, "local": "192.0.2.251", "remote": "192.0.2.252", "port": 4789}
VX8 = {"id": 10102, "local": "192.0.2.251", "remote": "192.0.2.250", "port": 4789}
DESIRED = {
    "bridges": [
        {
            "name": "br-sxm-peering",
            "mtu": 1500,
            "ports": [
                {"name": "swp1", "macs": ["02:ca:00:02:00:0a"]},
                {"name": "swp7", "macs": ["02:ca:00:03:00:0a", "02:ca:00:03:00:0b"], "vxlan": VX7},
                {"name": "swp3", "macs": ["02:ca:00:02:00:0c"]},
            ],
        }
    ],
    "standalone": [{"name": "swp8", "mtu": 1500, "vxlan": VX8}],
}
SLAVE = {"learning": False, "flood": False, "mcast_flood": True}


def _vxlan(name, vx, master=None):
    link = {
        "ifname": name,
        "mtu": 1500,
        "flags": ["BROADCAST", "UP"],
        "linkinfo": {
            "info_kind": "vxlan",
            "info_data": {"id": vx["id"], "local": vx["local"], "remote": vx["remote"], "port": vx["port"]},
        },
    }
    if master:
        link["master"] = master
        link["linkinfo"]["info_slave_kind"] = "bridge"
        link["linkinfo"]["info_slave_data"] = dict(SLAVE)
    return link


def converged():
    return {
        "links": [
            {"ifname": "lo", "mtu": 65536, "flags": ["LOOPBACK", "UP"]},
            {
                "ifname": "br-sxm-peering",
                "mtu": 1500,
                "flags": ["UP"],
                "linkinfo": {
                    "info_kind": "bridge",
                    "info_data": {"stp_state": 0, "mcast_snooping": 0, "group_fwd_mask": hex(GROUP_FWD_MASK)},
                },
            },
            {
                "ifname": "swp1",
                "mtu": 1500,
                "flags": ["UP"],
                "master": "br-sxm-peering",
                "linkinfo": {"info_kind": "veth", "info_slave_kind": "bridge", "info_slave_data": dict(SLAVE)},
            },
            _vxlan("swp7", VX7, master="br-sxm-peering"),
            _vxlan("swp8", VX8),
        ],
        "fdb": [
            {"mac": "02:ca:00:02:00:0a", "ifname": "swp1", "master": "br-sxm-peering", "state": "static"},
            {"mac": "02:ca:00:03:00:0a", "ifname": "swp7", "master": "br-sxm-peering", "state": "static"},
            {"mac": "02:ca:00:03:00:0b", "ifname": "swp7", "master": "br-sxm-peering", "state": "static"},
            {"mac": "9a:32:4a:c7:e7:40", "ifname": "swp7", "master": "br-sxm-peering", "state": "permanent"},
            {"mac": "00:00:00:00:00:00", "ifname": "swp7", "dst": "192.0.2.252", "state": "permanent"},
        ],
    }


def test_converged_state_needs_nothing_but_warns_of_a_missing_port():
    commands, warnings = plan(DESIRED, converged())
    assert commands == []
    assert warnings == ["port swp3 does not exist: not attached to br-sxm-peering"]


def test_empty_host_is_built_in_order():
    state = {"links": [{"ifname": "swp1", "mtu": 1500, "flags": []}], "fdb": []}
    commands = [" ".join(c) for c in plan(DESIRED, state)[0]]
    assert commands[0] == "ip link add br-sxm-peering type bridge stp_state 0 mcast_snooping 0 group_fwd_mask 0xfff8"
    assert "ip link set dev swp1 master br-sxm-peering" in commands
    assert "bridge link set dev swp1 learning off flood off mcast_flood on" in commands
    assert (
        "ip link add swp7 type vxlan id 10203 local 192.0.2.251 remote 192.0.2.252 dstport 4789 nolearning" in commands
    )
    assert (
        "ip link add swp8 type vxlan id 10102 local 192.0.2.251 remote 192.0.2.250 dstport 4789 nolearning" in commands
    )
    assert "ip link set dev swp8 master br-sxm-peering" not in commands
    assert "bridge fdb replace 02:ca:00:03:00:0b dev swp7 master static" in commands
    # The port exists before it is enslaved, and is enslaved before its flags are set.
    assert (
        commands.index(
            "ip link add swp7 type vxlan id 10203 local 192.0.2.251 remote 192.0.2.252 dstport 4789 nolearning"
        )
        < commands.index("ip link set dev swp7 master br-sxm-peering")
        < commands.index("bridge link set dev swp7 learning off flood off mcast_flood on")
    )


def test_drift_is_repaired():
    state = converged()
    links = {l["ifname"]: l for l in state["links"]}
    links["swp1"]["linkinfo"]["info_slave_data"]["learning"] = True
    links["br-sxm-peering"]["linkinfo"]["info_data"]["stp_state"] = 1
    links["swp8"]["linkinfo"]["info_data"]["remote"] = "192.0.2.253"
    links["swp8"]["master"] = "br-sxm-peering"
    state["links"].append({"ifname": "swp5", "mtu": 1500, "flags": ["UP"], "master": "br-sxm-peering"})
    state["fdb"].append({"mac": "02:ca:00:02:00:99", "ifname": "swp1", "master": "br-sxm-peering"})
    commands = [" ".join(c) for c in plan(DESIRED, state)[0]]
    assert "bridge link set dev swp1 learning off flood off mcast_flood on" in commands
    assert "ip link set dev br-sxm-peering type bridge stp_state 0 mcast_snooping 0 group_fwd_mask 0xfff8" in commands
    assert "ip link del dev swp8" in commands
    assert "ip link set dev swp5 nomaster" in commands
    assert "bridge fdb del 02:ca:00:02:00:99 dev swp1 master" in commands


def test_metrics_are_labelled_and_missing_counters_reported():
    counter_map = {
        "swp1_lldp": {"switch": "gp-sw1", "port": "swp1", "member": 'Odd "Name"', "reason": "lldp"},
        "swp1_storm": {"switch": "gp-sw1", "port": "swp1", "member": "Karukera Telecom", "reason": "storm"},
    }
    nft = {
        "nftables": [
            {"metainfo": {}},
            {"counter": {"family": "bridge", "name": "swp1_lldp", "packets": 3, "bytes": 180}},
        ]
    }
    text = render_metrics(nft, counter_map, 1700000000.0)
    assert (
        'caribix_port_security_dropped_packets_total{switch="gp-sw1",port="swp1",member="Odd \\"Name\\"",reason="lldp"} 3'
        in text
    )
    assert (
        'caribix_port_security_dropped_bytes_total{switch="gp-sw1",port="swp1",member="Odd \\"Name\\"",reason="lldp"} 180'
        in text
    )
    assert 'reason="storm"} 0' in text
    assert 'caribix_port_security_exporter_last_run_timestamp_seconds{missing_counters="1"} 1700000000.000' in text


def test_metrics_command_writes_the_file_atomically(tmp_path, monkeypatch):
    counter_map = tmp_path / "counters.json"
    counter_map.write_text(json.dumps({"swp1_dhcp": {"switch": "s", "port": "swp1", "member": "m", "reason": "dhcp"}}))
    monkeypatch.setattr(
        fabric_linux,
        "_run_json",
        lambda argv: {"nftables": [{"counter": {"name": "swp1_dhcp", "packets": 7, "bytes": 1}}]},
    )
    out = tmp_path / "caribix_fabric.prom"
    assert fabric_linux.main(["metrics", str(counter_map), str(out)]) == 0
    assert 'reason="dhcp"} 7' in out.read_text()
    # No temporary file left behind for node_exporter to trip over.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["caribix_fabric.prom", "counters.json"]


TUNNELS = [
    {"switch": "sxm-sw1", "link": "sxm-sbh-telem", "port": "swp7", "remote_island": "saint-barthelemy",
     "remote_switch": "sbh-sw1", "local_vtep": "203.0.113.250", "remote_vtep": "203.0.113.251"},
    {"switch": "sxm-sw1", "link": "sxm-other", "port": "swp9", "remote_island": "anguilla",
     "remote_switch": "axa-sw1", "local_vtep": "203.0.113.250", "remote_vtep": "203.0.113.252"},
]


def test_the_tunnels_are_probed_at_once_from_their_local_endpoint(monkeypatch, tmp_path):
    """All probes start before any is waited for (a cut link costs its timeout
    once), each from the tunnel's own endpoint; the far end's answer is the
    ping's exit status. Only the switch's ping is stood in for here: the
    lab_bridge scenario cuts a real underlay."""
    started, waited = [], []

    class Ping:
        def __init__(self, argv, **_kwargs):
            started.append(argv)
            self.remote = argv[-1]

        def wait(self):
            waited.append(len(started))
            return 0 if self.remote == "203.0.113.251" else 1

    monkeypatch.setattr(fabric_linux.subprocess, "Popen", Ping)
    assert fabric_linux.probe_tunnels(TUNNELS) == [True, False]
    assert waited == [2, 2]
    assert started[0] == fabric_linux.PING + ["-I", "203.0.113.250", "203.0.113.251"]

    counter_map = tmp_path / "counters.json"
    counter_map.write_text("{}")
    tunnels = tmp_path / "tunnels.json"
    tunnels.write_text(json.dumps(TUNNELS))
    monkeypatch.setattr(fabric_linux, "_run_json", lambda argv: {})
    out = tmp_path / "caribix_fabric.prom"
    assert fabric_linux.main(["metrics", str(counter_map), str(out), "--tunnels", str(tunnels)]) == 0
    text = out.read_text()
    assert ('caribix_fabric_inter_island_link_up{switch="sxm-sw1",link="sxm-sbh-telem",port="swp7",'
            'remote_island="saint-barthelemy",remote_switch="sbh-sw1"} 1') in text
    assert 'link="sxm-other",port="swp9",remote_island="anguilla",remote_switch="axa-sw1"} 0' in text
    assert text.count("# TYPE caribix_fabric_inter_island_link_up gauge") == 1


class FakeSwitch:
    """subprocess.run for `sync`: the nft table is loaded or not, and every
    command is recorded; the bridge converges once the plan has run."""

    def __init__(self, table_loaded: bool, converged_after_apply: bool = True):
        self.table_loaded, self.ran, self.applied = table_loaded, [], False
        self.converged_after_apply = converged_after_apply

    def run(self, argv, **_kwargs):
        self.ran.append(" ".join(argv))
        if argv[:3] == ["nft", "list", "table"]:
            return subprocess.CompletedProcess(argv, 0 if self.table_loaded else 1)
        if argv[0] in ("ip", "bridge"):
            self.applied = True
        return subprocess.CompletedProcess(argv, 0)

    def state(self):
        state = converged()
        if not (self.applied and self.converged_after_apply):
            next(l for l in state["links"] if l["ifname"] == "swp1")["linkinfo"]["info_slave_data"]["learning"] = True
        return state


def sync(monkeypatch, capsys, switch: FakeSwitch, *args: str) -> tuple[int, dict]:
    monkeypatch.setattr(fabric_linux.subprocess, "run", switch.run)
    monkeypatch.setattr(fabric_linux, "current_state", switch.state)
    # The desired state is read from a file: this one.
    monkeypatch.setattr(fabric_linux, "open", lambda *_a, **_k: io.StringIO(json.dumps(DESIRED)), raising=False)
    rc = fabric_linux.main(["sync", "/etc/caribix/fabric/links.json", "--policy", "/etc/caribix/fabric/policy.nft", *args])
    return rc, json.loads(capsys.readouterr().out)


def test_sync_loads_a_missing_policy_first_then_repairs_the_bridge(monkeypatch, capsys):
    switch = FakeSwitch(table_loaded=False)
    rc, report = sync(monkeypatch, capsys, switch)
    assert rc == 0 and report["changed"] and report["policy_loaded"] and not report["table_was_loaded"]
    assert report["commands"] == ["bridge link set dev swp1 learning off flood off mcast_flood on"]
    assert switch.ran.index("nft -f /etc/caribix/fabric/policy.nft") < switch.ran.index(report["commands"][0])


def test_sync_on_a_converged_switch_changes_nothing(monkeypatch, capsys):
    switch = FakeSwitch(table_loaded=True)
    switch.applied = True
    rc, report = sync(monkeypatch, capsys, switch)
    assert rc == 0 and not report["changed"] and report["commands"] == []
    assert not any(c.startswith("nft -f") for c in switch.ran)


def test_sync_dry_run_reports_and_changes_nothing(monkeypatch, capsys):
    switch = FakeSwitch(table_loaded=True)
    rc, report = sync(monkeypatch, capsys, switch, "--load-policy", "--dry-run")
    assert rc == 0 and report["changed"] and report["policy_loaded"] and len(report["commands"]) == 1
    assert [c for c in switch.ran if not c.startswith("nft list")] == []


def test_sync_fails_when_the_bridge_still_differs(monkeypatch, capsys):
    rc, report = sync(monkeypatch, capsys, FakeSwitch(table_loaded=True, converged_after_apply=False))
    assert rc == 1 and "still differs after apply" in report["error"]
