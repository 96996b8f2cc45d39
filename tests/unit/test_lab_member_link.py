"""The lab member router's interface agent (roles/lab_member_router/files/lab_member_link.py)."""

from __future__ import annotations

from conftest import host_agent

plan = host_agent("lab_member_router", "lab_member_link").plan

DESIRED = {
    "interface": "eth1",
    "mac": "02:ca:00:01:00:10",
    "mtu": 1500,
    "addresses": ["192.0.2.10/26", "2001:db8:1::10/64"],
    "loopback": ["198.51.100.1/32", "2001:db8:1000::1/128"],
    "on_link": ["192.0.2.128/26"],
}


def link(name, mac, flags, addrs, mtu=1500):
    return {
        "ifname": name,
        "address": mac,
        "mtu": mtu,
        "flags": flags,
        "addr_info": [
            {"local": a.split("/")[0], "prefixlen": int(a.split("/")[1]), "scope": "global"} for a in addrs
        ],
    }


def test_fresh_cable_gets_everything():
    state = {"links": [link("lo", "00:00:00:00:00:00", ["UP"], ["127.0.0.1/8"]),
                       link("eth1", "aa:bb:cc:dd:ee:ff", ["BROADCAST"], [])], "routes": []}
    commands, errors = plan(DESIRED, state)
    assert errors == []
    text = [" ".join(c) for c in commands]
    assert text[:2] == ["ip link set dev eth1 down", "ip link set dev eth1 address 02:ca:00:01:00:10"]
    assert "ip link set dev eth1 up" in text
    assert "ip addr replace 192.0.2.10/26 dev eth1" in text
    assert "ip addr replace 2001:db8:1::10/64 dev eth1 nodad" in text
    assert "ip addr replace 198.51.100.1/32 dev lo" in text
    assert "ip addr replace 2001:db8:1000::1/128 dev lo" in text
    assert "ip -4 route replace 192.0.2.128/26 dev eth1" in text


def test_configured_cable_needs_nothing():
    state = {
        "links": [
            link("lo", "00:00:00:00:00:00", ["UP"], ["127.0.0.1/8", "198.51.100.1/32", "2001:db8:1000::1/128"]),
            link("eth1", "02:ca:00:01:00:10", ["BROADCAST", "UP"], ["192.0.2.10/26", "2001:db8:1::10/64"]),
        ],
        "routes": [{"dst": "192.0.2.0/26"}, {"dst": "192.0.2.128/26"}, {"dst": "2001:db8:1::/64"}],
    }
    assert plan(DESIRED, state) == ([], [])


def test_a_wrong_mtu_alone_is_fixed_without_touching_the_mac():
    state = {
        "links": [
            link("lo", "00:00:00:00:00:00", ["UP"], ["198.51.100.1/32", "2001:db8:1000::1/128"]),
            link("eth1", "02:ca:00:01:00:10", ["UP"], ["192.0.2.10/26", "2001:db8:1::10/64"], mtu=9000),
        ],
        "routes": [{"dst": "192.0.2.128/26"}],
    }
    commands, _ = plan(DESIRED, state)
    assert [" ".join(c) for c in commands] == ["ip link set dev eth1 mtu 1500", "ip link set dev eth1 up"]


def test_missing_cable_is_an_error_not_a_command():
    commands, errors = plan(DESIRED, {"links": [], "routes": []})
    assert commands == [] and "eth1 does not exist" in errors[0]
