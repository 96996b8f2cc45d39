"""The fabric lab: cables, member routers and real frames.

Runs on the controller as root. Member routers are containers without a
network; prepare.yml calls ``cable`` to give each one a veth "cable" whose
far end is the switch port (swpN) in the switch container, with the
member's MAC and addresses from the island inventory. The tests send
frames from one member's cable and watch another member's cable: a single
process holds a raw socket in each container's network namespace
(setns(2)), so sender and sniffer share one clock and one marker table.

CLI: ``python fabric_lab.py cable`` (prepare), ``python fabric_lab.py
frames [--baseline]`` (print the score of every frame class; with
``--baseline`` the port-security table is removed first and restored after,
which measures a bare bridge).
"""

from __future__ import annotations

import ctypes
import ipaddress
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

SCENARIO = Path(__file__).resolve().parents[1]
REPO = SCENARIO.parents[1]
sys.path.insert(0, str(REPO / "python"))

from caribix.fabric import load_island  # noqa: E402

CLONE_NEWNET = 0x40000000
ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
_libc = ctypes.CDLL("libc.so.6", use_errno=True)


@dataclass
class Member:
    container: str
    island: str
    name: str
    asn: int
    mac: str
    ipv4: str
    ipv6: str
    prefix4: int
    prefix6: int
    switch: str
    switch_container: str
    port: str
    on_link: list[str]

    @property
    def pid(self) -> int:
        return docker_pid(self.container)


def docker_pid(container: str) -> int:
    out = subprocess.run(
        ["docker", "inspect", "-f", "{{.State.Pid}}", container], check=True, capture_output=True, text=True
    ).stdout
    pid = int(out.strip())
    if pid <= 0:
        raise RuntimeError(f"container {container} is not running")
    return pid


def load_lab() -> tuple[dict, dict[str, Member], dict[str, dict]]:
    """lab.yml plus the islands' data: (lab, members by container, islands)."""
    lab = yaml.safe_load((SCENARIO / "vars" / "lab.yml").read_text())
    inventories = REPO / "inventories"
    islands = {s["island"]: load_island(inventories, s["island"]) for s in lab["fabric_lab_switches"]}
    switch_containers = {s["switch"]: s["container"] for s in lab["fabric_lab_switches"]}
    members: dict[str, Member] = {}
    for entry in lab["fabric_lab_members"]:
        data = islands[entry["island"]]
        lan = data["exchange"]["peering_lan"]
        record = next(m for m in data["members"] if int(m["asn"]) == int(entry["asn"]))
        # A bridged inter-island link makes the far island's LAN on-link:
        # members reach its members directly, as on their own LAN.
        on_link = [
            islands_lan
            for link in data["inter_island_links"]
            if link.get("bridged")
            for islands_lan in _lan_prefixes(inventories, link["remote_island"])
        ]
        members[entry["container"]] = Member(
            container=entry["container"],
            island=entry["island"],
            name=record["name"],
            asn=int(record["asn"]),
            mac=str(record["mac"]).lower(),
            ipv4=str(record["ipv4"]),
            ipv6=str(record["ipv6"]),
            prefix4=ipaddress.ip_network(lan["ipv4"]).prefixlen,
            prefix6=ipaddress.ip_network(lan["ipv6"]).prefixlen,
            switch=record["switch"],
            switch_container=switch_containers[record["switch"]],
            port=record["port"],
            on_link=on_link,
        )
    return lab, members, islands


def _lan_prefixes(inventories: Path, island: str) -> list[str]:
    lan = load_island(inventories, island)["exchange"]["peering_lan"]
    return [p for p in (lan.get("ipv4"), lan.get("ipv6")) if p]


def _ns(pid: int, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["nsenter", "-t", str(pid), "-n", *argv], check=check, capture_output=True, text=True)


def cable(members: dict[str, Member]) -> bool:
    """Make every member's cable and configure its router side. Idempotent."""
    changed = False
    for m in members.values():
        mpid, spid = m.pid, docker_pid(m.switch_container)
        if _ns(spid, "ip", "link", "show", "dev", m.port, check=False).returncode != 0:
            subprocess.run(
                [
                    "ip",
                    "link",
                    "add",
                    "name",
                    m.port,
                    "netns",
                    str(spid),
                    "type",
                    "veth",
                    "peer",
                    "name",
                    "eth1",
                    "netns",
                    str(mpid),
                ],
                check=True,
            )
            changed = True
        # Docker turns IPv6 off in a container without a network.
        _ns(mpid, "sh", "-c", "for f in all default eth1; do echo 0 > /proc/sys/net/ipv6/conf/$f/disable_ipv6; done")
        current = _ns(mpid, "ip", "-j", "addr", "show", "dev", "eth1").stdout
        info = json.loads(current)[0]
        addrs = {f"{a['local']}/{a['prefixlen']}" for a in info.get("addr_info", [])}
        wanted = {f"{m.ipv4}/{m.prefix4}", f"{m.ipv6}/{m.prefix6}"}
        if info.get("address") != m.mac or not wanted <= addrs or "UP" not in info.get("flags", []):
            _ns(mpid, "ip", "link", "set", "dev", "eth1", "down")
            _ns(mpid, "ip", "link", "set", "dev", "eth1", "address", m.mac, "mtu", "1500")
            _ns(mpid, "ip", "addr", "replace", f"{m.ipv4}/{m.prefix4}", "dev", "eth1")
            _ns(mpid, "ip", "addr", "replace", f"{m.ipv6}/{m.prefix6}", "dev", "eth1", "nodad")
            _ns(mpid, "ip", "link", "set", "dev", "eth1", "up")
            changed = True
        routes = (
            _ns(mpid, "ip", "-j", "route", "show", "dev", "eth1").stdout
            + _ns(mpid, "ip", "-6", "-j", "route", "show", "dev", "eth1").stdout
        )
        for prefix in m.on_link:
            if f'"dst":"{prefix}"' not in routes.replace(" ", ""):
                family = "-6" if ":" in prefix else "-4"
                _ns(mpid, "ip", family, "route", "replace", prefix, "dev", "eth1")
                changed = True
    return changed


class Netns:
    """Enter a process's network namespace in this thread, and come back."""

    def __init__(self, pid: int):
        self.pid = pid

    def __enter__(self):
        self._home = os.open("/proc/self/ns/net", os.O_RDONLY)
        target = os.open(f"/proc/{self.pid}/ns/net", os.O_RDONLY)
        try:
            if _libc.setns(target, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), f"setns into pid {self.pid}")
        finally:
            os.close(target)
        return self

    def __exit__(self, *exc):
        try:
            if _libc.setns(self._home, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back home")
        finally:
            os.close(self._home)


def raw_socket(pid: int, ifname: str) -> socket.socket:
    with Netns(pid):
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        sock.setsockopt(socket.SOL_SOCKET, 33, 16 * 1024 * 1024)  # SO_RCVBUFFORCE: hold a whole storm
        sock.bind((ifname, 0))
    sock.setblocking(False)
    return sock


def drain(sock: socket.socket) -> list[bytes]:
    frames = []
    while True:
        try:
            data, addr = sock.recvfrom(65535)
        except BlockingIOError:
            return frames
        if addr[2] != PACKET_OUTGOING:
            frames.append(data)


# --- frame classes -------------------------------------------------------


@dataclass
class FrameClass:
    name: str
    expect: str  # "forward", "drop" or "limit"
    frames: list[bytes]
    marker: bytes


def frame_classes(a: Member, b: Member, other_ipv4: str, storm_count: int = 1500) -> list[FrameClass]:
    """The classes the policy must get right, sent from member a to member b.

    ``other_ipv4`` is a third member's address (for ARP spoofing). Every
    frame carries a random marker in its payload (or its Ethernet padding)
    so the sniffer knows exactly which class arrived.
    """
    from scapy.layers.inet import IP, UDP
    from scapy.layers.dhcp import BOOTP, DHCP
    from scapy.layers.inet6 import ICMPv6ND_NS, ICMPv6ND_RA, ICMPv6NDOptSrcLLAddr, IPv6
    from scapy.layers.l2 import ARP, LLC, SNAP, STP, Dot1Q, Dot3, Ether
    from scapy.packet import Raw
    from scapy.utils6 import in6_getnsma, in6_getnsmac

    def marker(name: str) -> bytes:
        return b"CARIBIX-" + name.encode() + b"-" + secrets.token_hex(6).encode()

    def ns_dst(ip6: str) -> tuple[str, str]:
        maddr = in6_getnsma(socket.inet_pton(socket.AF_INET6, ip6))
        return socket.inet_ntop(socket.AF_INET6, maddr), in6_getnsmac(maddr)

    classes = []

    def add(name, expect, build, count=1):
        mk = marker(name)
        frame = bytes(build() / Raw(mk))
        classes.append(FrameClass(name, expect, [frame] * count, mk))

    add(
        "unicast_ipv4",
        "forward",
        lambda: Ether(src=a.mac, dst=b.mac) / IP(src=a.ipv4, dst=b.ipv4) / UDP(sport=40000, dport=40001),
    )
    add(
        "arp_own_address",
        "forward",
        lambda: Ether(src=a.mac, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=a.mac, psrc=a.ipv4, pdst=b.ipv4),
    )
    ns_ip, ns_mac = ns_dst(b.ipv6)
    add(
        "ipv6_neighbour_solicitation",
        "forward",
        lambda: Ether(src=a.mac, dst=ns_mac)
        / IPv6(src=a.ipv6, dst=ns_ip, hlim=255)
        / ICMPv6ND_NS(tgt=b.ipv6)
        / ICMPv6NDOptSrcLLAddr(lladdr=a.mac),
    )
    add(
        "spoofed_source_mac",
        "drop",
        lambda: Ether(src="02:ca:ff:00:00:66", dst=b.mac) / IP(src=a.ipv4, dst=b.ipv4) / UDP(sport=40000, dport=40001),
    )
    add(
        "arp_other_members_ip",
        "drop",
        lambda: Ether(src=a.mac, dst="ff:ff:ff:ff:ff:ff") / ARP(op=2, hwsrc=a.mac, psrc=other_ipv4, pdst=b.ipv4),
    )
    add(
        "ipv6_router_advertisement",
        "drop",
        lambda: Ether(src=a.mac, dst="33:33:00:00:00:01")
        / IPv6(src="fe80::ca:1", dst="ff02::1", hlim=255)
        / ICMPv6ND_RA(),
    )
    add(
        "dhcp_discover",
        "drop",
        lambda: Ether(src=a.mac, dst="ff:ff:ff:ff:ff:ff")
        / IP(src="0.0.0.0", dst="255.255.255.255")
        / UDP(sport=68, dport=67)
        / BOOTP(chaddr=bytes.fromhex(a.mac.replace(":", "")))
        / DHCP(options=[("message-type", "discover"), "end"]),
    )
    add(
        "lldp",
        "drop",
        lambda: Ether(src=a.mac, dst="01:80:c2:00:00:0e", type=0x88CC)
        / Raw(bytes.fromhex("0207046f6f6f6f6f6f0403056574683106020078")),
    )
    add(
        "stp_bpdu", "drop", lambda: Dot3(src=a.mac, dst="01:80:c2:00:00:00") / LLC(dsap=0x42, ssap=0x42, ctrl=3) / STP()
    )
    add(
        "cdp",
        "drop",
        lambda: Dot3(src=a.mac, dst="01:00:0c:cc:cc:cc")
        / LLC(dsap=0xAA, ssap=0xAA, ctrl=3)
        / SNAP(OUI=0x00000C, code=0x2000)
        / Raw(b"\x02\xb4\x00\x00"),
    )
    add(
        "dot1q_tagged",
        "drop",
        lambda: Ether(src=a.mac, dst=b.mac)
        / Dot1Q(vlan=100)
        / IP(src=a.ipv4, dst=b.ipv4)
        / UDP(sport=40000, dport=40001),
    )
    add("unknown_ethertype", "drop", lambda: Ether(src=a.mac, dst=b.mac, type=0x88B5) / Raw(b"\x00" * 46))
    add(
        "broadcast_storm",
        "limit",
        lambda: Ether(src=a.mac, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=a.mac, psrc=a.ipv4, pdst="192.0.2.62"),
        count=storm_count,
    )
    return classes


@dataclass
class Result:
    name: str
    expect: str
    sent: int
    received: int

    @property
    def correct(self) -> bool:
        if self.expect == "forward":
            return self.received == self.sent
        if self.expect == "drop":
            return self.received == 0
        # Limited: most of a storm is dropped, but not all of it (ARP
        # still works for whoever is inside the limit).
        return 0 < self.received <= self.sent // 2


def send_and_watch(sender: Member, receiver: Member, classes: list[FrameClass], settle: float = 0.5) -> list[Result]:
    """Send each class from sender's cable; count what reaches receiver's."""
    tx = raw_socket(sender.pid, "eth1")
    rx = raw_socket(receiver.pid, "eth1")
    try:
        drain(rx)
        for frame_class in classes:
            if frame_class.expect == "limit":
                # A storm meets a full bucket: let the rate limiter refill.
                time.sleep(2.5)
            for frame in frame_class.frames:
                tx.send(frame)
        time.sleep(settle)
        seen = drain(rx)
    finally:
        tx.close()
        rx.close()
    return [Result(c.name, c.expect, len(c.frames), sum(1 for f in seen if c.marker in f)) for c in classes]


def switch_exec(container: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", "exec", container, *argv], check=check, capture_output=True, text=True)


def run_frames(baseline: bool = False) -> list[Result]:
    """The 13 classes on Guadeloupe: first lab member to the second."""
    _, members, islands = load_lab()
    gp = [m for m in members.values() if m.island == "guadeloupe"]
    a, b = gp[0], gp[1]
    other = next(str(m["ipv4"]) for m in islands["guadeloupe"]["members"] if str(m["ipv4"]) not in (a.ipv4, b.ipv4))
    classes = frame_classes(a, b, other)
    if not baseline:
        return send_and_watch(a, b, classes)
    # A bare bridge: no policy table, and the kernel's default handling of
    # link-local frames (the agent's group_fwd_mask only makes sense with
    # the policy in place). Both come back from the switch's own files.
    bridge = islands[a.island]["exchange"]["peering_lan"]["name"]
    switch_exec(a.switch_container, "nft", "delete", "table", "bridge", "caribix_fabric")
    switch_exec(a.switch_container, "ip", "link", "set", "dev", f"br-{bridge}", "type", "bridge", "group_fwd_mask", "0")
    try:
        return send_and_watch(a, b, classes)
    finally:
        switch_exec(a.switch_container, "systemctl", "reload", "caribix-fabric")


def scoreboard(results: list[Result]) -> str:
    lines = [f"{'class':32} {'expect':8} {'sent':>5} {'recv':>5}  ok"]
    for r in results:
        lines.append(f"{r.name:32} {r.expect:8} {r.sent:5d} {r.received:5d}  {'yes' if r.correct else 'NO'}")
    lines.append(f"score: {sum(r.correct for r in results)}/{len(results)}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "frames"
    if command == "cable":
        _, members, _ = load_lab()
        print(json.dumps({"changed": cable(members)}))
        return 0
    if command == "frames":
        print(scoreboard(run_frames(baseline="--baseline" in argv)))
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
