"""Golden vendor configs (like AVD's intended/configs): rendered == committed.

A failure here means a template or the island data changed without the
golden files being regenerated and reviewed. After reviewing the diff
printed below, regenerate with ``python -m caribix.fabric_render --write``.
"""

from __future__ import annotations

import shutil

import pytest

from caribix.fabric import islands
from caribix.fabric_render import GOLDEN_DIR, INVENTORIES_DIR, golden_diff, render_all, render_switch


def test_golden_configs_match_a_fresh_rendering():
    diffs = golden_diff()
    assert not diffs, "golden/ is stale; review and run python -m caribix.fabric_render --write\n" + "".join(diffs)


@pytest.mark.parametrize("platform", ["eos", "junos"])
def test_every_island_switch_has_a_golden_config(platform):
    for island in islands(INVENTORIES_DIR):
        assert list((GOLDEN_DIR / island).glob(f"*.{platform}.cfg")), f"no {platform} config for {island}"


def test_a_data_change_shows_up_as_a_diff(tmp_path):
    inventories = tmp_path / "inventories"
    shutil.copytree(INVENTORIES_DIR, inventories)
    members = inventories / "guadeloupe" / "group_vars" / "all" / "members.yml"
    members.write_text(members.read_text().replace('"02:ca:00:01:00:10"', '"02:ca:00:01:00:99"'))
    diffs = golden_diff(inventories_dir=inventories)
    changed = "".join(diffs)
    assert "golden/guadeloupe/gp-sw1.eos.cfg" in changed and "golden/guadeloupe/gp-sw1.junos.cfg" in changed
    assert "+mac address-table static 02ca.0001.0099 vlan 100 interface Ethernet1" in changed
    assert "saint-martin" not in changed


def test_rendered_configs_carry_the_policy():
    rendered = render_all()
    eos = rendered["guadeloupe/gp-sw1.eos.cfg"]
    assert "interface Ethernet1\n   description AS64500 Karukera Telecom\n" in eos
    assert "   switchport port-security mac-address maximum 1\n" in eos
    assert "   no lldp transmit\n" in eos and "   spanning-tree bpdufilter enable\n" in eos
    assert "   storm-control broadcast level pps 100\n" in eos
    assert "ip source binding 192.0.2.10 02ca.0001.0010 vlan 100 interface Ethernet1\n" in eos
    # Basse-Terre Networks runs 1G on a 10G port.
    assert "interface Ethernet2\n   description AS64501 Basse-Terre Networks\n   speed forced 1gfull\n" in eos
    junos = rendered["saint-martin/sxm-sw1.junos.cfg"]
    assert "set vlans sxm-peering vlan-id 200\n" in junos
    assert "set switch-options interface xe-0/0/0.0 interface-mac-limit 1 packet-action drop\n" in junos
    assert "set protocols lldp interface xe-0/0/0 disable\n" in junos
    # The bridged TelEm link admits Saint-Barthelemy's four members; the
    # unbridged link to Guadeloupe is disabled.
    assert "set switch-options interface xe-0/0/6.0 interface-mac-limit 4 packet-action drop\n" in junos
    assert "set interfaces xe-0/0/7 disable\n" in junos


def test_unknown_platform_is_refused():
    from caribix.fabric import FabricError, island_fabric, switch_model

    model = switch_model(island_fabric(INVENTORIES_DIR, "guadeloupe"), "gp-sw1")
    with pytest.raises(FabricError, match="no vendor renderer"):
        render_switch(model, "nxos")


@pytest.mark.parametrize(
    ("island", "switch", "platform"), [("guadeloupe", "gp-sw1", "eos"), ("saint-martin", "sxm-sw1", "junos")]
)
def test_the_ansible_role_renders_the_golden_file(tmp_path, island, switch, platform):
    """playbooks/fabric.yml (fabric_vendor) writes exactly what golden/ holds."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    playbook = Path(sys.executable).with_name("ansible-playbook")
    result = subprocess.run(
        [
            str(playbook),
            "-i",
            f"inventories/{island}",
            "playbooks/fabric.yml",
            "-e",
            f"switch_platform={platform}",
            "-e",
            f"fabric_vendor_build_dir={tmp_path}",
            "-e",
            "island_supplies_enabled=false",
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        env=dict(os.environ, ANSIBLE_NOCOLOR="1"),
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rendered = (tmp_path / f"{switch}.{platform}.cfg").read_text()
    assert rendered == (GOLDEN_DIR / island / f"{switch}.{platform}.cfg").read_text()


def test_golden_removal_shows_a_member_leaving():
    """golden/removal/ is gp-sw1 after AS64503 left: each config resets and
    rewrites everything it owns, so the port goes back to unused and the
    member's filter, static MAC and bindings are gone from the switch."""
    from caribix.fabric_render import REMOVAL

    assert REMOVAL == {"island": "guadeloupe", "switch": "gp-sw1", "asn": 64503}
    before = {p: (GOLDEN_DIR / "guadeloupe" / f"gp-sw1.{p}.cfg").read_text() for p in ("eos", "junos")}
    after = {p: (GOLDEN_DIR / "removal" / f"gp-sw1-without-AS64503.{p}.cfg").read_text() for p in ("eos", "junos")}
    mac_eos, mac = "02ca.0001.0014", "02:ca:00:01:00:14"
    assert mac_eos in before["eos"] and mac not in after["junos"] and mac_eos not in after["eos"]
    assert "Caribbean Content Cache" not in after["eos"] + after["junos"]
    # EOS: the session resets the port and drops its access list before anything is written.
    eos = after["eos"]
    assert eos.index("default interface Ethernet5\n") < eos.index("hostname gp-sw1\n")
    assert eos.index("no mac access-list CARIBIX-ETHERNET5\n") < eos.index("hostname gp-sw1\n")
    assert "interface Ethernet5\n   description unused\n   shutdown\n" in eos
    assert "mac access-list CARIBIX-ETHERNET5\n" not in eos.replace("no mac access-list CARIBIX-ETHERNET5\n", "")
    # Junos: the deletes come first, the port is disabled.
    junos = after["junos"]
    for line in (
        "delete interfaces xe-0/0/4\n",
        "delete firewall family ethernet-switching filter CARIBIX-XE-0-0-4\n",
        "delete switch-options interface xe-0/0/4.0\n",
        "delete vlans gp-peering\n",
    ):
        assert junos.index(line) < junos.index("set system host-name gp-sw1\n")
    assert "set interfaces xe-0/0/4 description unused\nset interfaces xe-0/0/4 disable\n" in junos
    assert "CARIBIX-XE-0-0-4 term" not in junos
    # The other members are untouched.
    assert "set interfaces xe-0/0/0 description \"AS64500 Karukera Telecom\"\n" in junos


def test_every_port_of_the_switch_is_reset_before_it_is_written():
    rendered = render_all()
    for name, text in rendered.items():
        ports = 12  # every switch_ports entry of the example switches
        if name.endswith(".eos.cfg"):
            assert text.count("\ndefault interface Ethernet") == ports, name
        else:
            assert text.count("\ndelete interfaces ") == ports, name


def test_eos_push_removes_stale_static_macs_and_bindings():
    """What `default interface` leaves behind on EOS: the role reads these
    lines from the switch and removes the ones the rendered config lacks."""
    from caribix.fabric_render import eos_stale_lines

    intended = (GOLDEN_DIR / "removal" / "gp-sw1-without-AS64503.eos.cfg").read_text()
    running = (
        "mac address-table static 02ca.0001.0010 vlan 100 interface Ethernet1\n"
        "mac address-table static 02ca.0001.0014 vlan 100 interface Ethernet5\n"
        "mac address-table static 02ca.0001.0099 vlan 999 interface Ethernet7\n"
        "ip source binding 192.0.2.14 02ca.0001.0014 vlan 100 interface Ethernet5\n"
        "ip source binding 192.0.2.10 02ca.0001.0010 vlan 100 interface Ethernet1\n"
    )
    assert eos_stale_lines(running, intended, 100) == [
        "no mac address-table static 02ca.0001.0014 vlan 100 interface Ethernet5",
        "no ip source binding 192.0.2.14 02ca.0001.0014 vlan 100 interface Ethernet5",
    ]


def test_vendor_configs_send_sflow_to_the_island_s_sfacctd():
    """The same collector as the monitoring role's sfacctd: the monitoring
    host's management address, UDP 6343 (monitoring_sflow_port)."""
    import yaml

    rendered = render_all()
    for island, switch in (("guadeloupe", "gp-sw1"), ("saint-martin", "sxm-sw1")):
        hosts = yaml.safe_load((INVENTORIES_DIR / island / "hosts.yml").read_text())
        monitoring = sorted(hosts["all"]["children"]["monitoring"]["hosts"])[0]
        collector = yaml.safe_load((INVENTORIES_DIR / island / "host_vars" / f"{monitoring}.yml").read_text())["management_ipv4"]
        assert f"sflow destination {collector} 6343\n" in rendered[f"{island}/{switch}.eos.cfg"]
        junos = rendered[f"{island}/{switch}.junos.cfg"]
        assert f"set protocols sflow collector {collector} udp-port 6343\n" in junos
        assert junos.index("delete protocols sflow\n") < junos.index("set protocols sflow collector")
    # Member ports are sampled, a port whose member left is not.
    removal = rendered["removal/gp-sw1-without-AS64503.junos.cfg"]
    assert "set protocols sflow interfaces xe-0/0/0\n" in removal and "set protocols sflow interfaces xe-0/0/4\n" not in removal


def test_one_storm_control_setting_reaches_vendor_and_whitebox_configs(tmp_path):
    """exchange.peering_lan.bum_rate_pps/bum_burst: EOS, Junos and the
    whitebox's nftables policy all take the island's value."""
    import json

    import jinja2

    from caribix.fabric import island_fabric, switch_model, whitebox_config

    inventories = tmp_path / "inventories"
    shutil.copytree(INVENTORIES_DIR, inventories)
    exchange = inventories / "guadeloupe" / "group_vars" / "all" / "exchange.yml"
    exchange.write_text(exchange.read_text().replace("    mtu: 1500\n", "    mtu: 1500\n    bum_rate_pps: 50\n    bum_burst: 80\n", 1))
    model = switch_model(island_fabric(inventories, "guadeloupe"), "gp-sw1")
    assert "storm-control broadcast level pps 50\n" in render_switch(model, "eos")
    junos = render_switch(model, "junos")
    assert "set firewall policer CARIBIX-BUM-50PPS if-exceeding-pps packet-burst 80\n" in junos
    template = (INVENTORIES_DIR.parent / "roles" / "fabric_whitebox" / "templates" / "policy.nft.j2").read_text()
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.filters["to_json"] = json.dumps
    policy = env.from_string(template).render(
        ansible_managed="test", _fabric_whitebox_model=model, _fabric_whitebox_config=whitebox_config(model, 4789)
    )
    assert "limit rate over 50/second burst 80 packets" in policy
    assert "100/second" not in policy


def test_whitebox_sflow_defaults_are_the_vendor_configs():
    """The whitebox's sFlow port and sampling rate default to what the
    EOS/Junos configs use (caribix.fabric), so both kinds of switch agree."""
    import yaml

    from caribix.fabric import SFLOW_PORT, SFLOW_SAMPLING_RATE

    defaults = yaml.safe_load((INVENTORIES_DIR.parent / "roles" / "fabric_whitebox" / "defaults" / "main.yml").read_text())
    assert defaults["fabric_whitebox_sflow_port"] == SFLOW_PORT
    assert defaults["fabric_whitebox_sflow_sampling_rate"] == SFLOW_SAMPLING_RATE
