"""The lab's peering cables (veth pairs, root on the controller); every
step looks before it acts."""

from __future__ import annotations

import ipaddress
import json
import subprocess
from typing import Callable

from caribix.lab.plan import PEERING_IFNAME, Lab, LabError, LabHost, LabMember

Runner = Callable[..., subprocess.CompletedProcess]


def run_command(argv: list[str], check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=check, capture_output=True, text=True)


class Cabler:
    """Makes the lab's peering cables; every step looks before it acts."""

    def __init__(self, lab: Lab, run: Runner = run_command):
        self.lab = lab
        self.run = run
        self.actions: list[str] = []
        # Switch ports made by this run: the switch's fabric must take them in.
        self.new_ports: list[str] = []

    def pid(self, container: str) -> int:
        out = self.run(["docker", "inspect", "-f", "{{.State.Pid}}", container], check=False)
        pid = int(out.stdout.strip() or 0) if out.returncode == 0 else 0
        if pid <= 0:
            raise LabError(f"container {container} is not running")
        return pid

    def ns(self, pid: int, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run(["nsenter", "-t", str(pid), "-n", *argv], check=check)

    def has_link(self, pid: int, ifname: str) -> bool:
        return self.ns(pid, "ip", "link", "show", "dev", ifname, check=False).returncode == 0

    def act(self, pid: int, *argv: str, why: str) -> None:
        self.ns(pid, *argv)
        self.actions.append(why)

    def cable_pair(self, spid: int, port: str, pid: int, container: str, label: str, mac: str | None = None) -> None:
        """A veth "cable" from the switch's ``port`` to ``container``'s eth1."""
        have_port, have_leg = self.has_link(spid, port), self.has_link(pid, PEERING_IFNAME)
        if have_port and have_leg and (mac is None or self.leg_mac(pid) == mac):
            return
        # One end without the other: its container was restarted (the veth
        # went with the old namespace). A leg of another kind (the macvlan
        # of labs made before the exchange's hosts had ports) goes too.
        if have_port:
            self.act(spid, "ip", "link", "del", "dev", port, why=f"{port}: removed a dangling end")
        if have_leg:
            self.act(pid, "ip", "link", "del", "dev", PEERING_IFNAME, why=f"{container}: removed a dangling end")
        self.run(
            ["ip", "link", "add", "name", port, "netns", str(spid), "type", "veth",
             "peer", "name", PEERING_IFNAME, "netns", str(pid)]
        )
        if mac is not None:
            self.ns(pid, "ip", "link", "set", "dev", PEERING_IFNAME, "address", mac)
        self.new_ports.append(port)
        self.actions.append(f"cabled {label} {container}:{PEERING_IFNAME} <-> {port}")

    def leg_mac(self, pid: int) -> str:
        info = json.loads(self.ns(pid, "ip", "-j", "-d", "link", "show", "dev", PEERING_IFNAME).stdout)[0]
        # A macvlan leg is never right, whatever its MAC.
        if (info.get("linkinfo") or {}).get("info_kind") != "veth":
            return ""
        return str(info.get("address", ""))

    def cable_member(self, member: LabMember) -> None:
        spid, mpid = self.pid(member.switch_container), self.pid(member.container)
        self.cable_pair(spid, member.port, mpid, member.container, f"AS{member.asn}")

    def cable_host(self, host: LabHost, spid: int) -> None:
        hpid = self.pid(host.container)
        self.cable_pair(spid, str(host.peering_port), hpid, host.container, host.name, mac=str(host.peering_mac))
        self.configure_host_leg(host, hpid)

    def configure_host_leg(self, host: LabHost, hpid: int) -> None:
        info = json.loads(self.ns(hpid, "ip", "-j", "addr", "show", "dev", PEERING_IFNAME).stdout)[0]
        have = {f"{a['local']}/{a['prefixlen']}" for a in info.get("addr_info", []) if a.get("scope") != "link"}
        v4len = ipaddress.IPv4Network(self.lab.peering_ipv4).prefixlen
        v6len = ipaddress.IPv6Network(self.lab.peering_ipv6).prefixlen
        wanted = [f"{host.peering_ipv4}/{v4len}"] + ([f"{host.peering_ipv6}/{v6len}"] if host.peering_ipv6 else [])
        if int(info.get("mtu", 0)) != self.lab.mtu:
            self.act(hpid, "ip", "link", "set", "dev", PEERING_IFNAME, "mtu", str(self.lab.mtu), why=f"{host.name}: mtu")
        for address in wanted:
            if address not in have:
                extra = ["nodad"] if ":" in address else []
                self.act(hpid, "ip", "addr", "replace", address, "dev", PEERING_IFNAME, *extra, why=f"{host.name}: {address}")
        if "UP" not in info.get("flags", []):
            self.act(hpid, "ip", "link", "set", "dev", PEERING_IFNAME, "up", why=f"{host.name}: {PEERING_IFNAME} up")

    def cable(self) -> list[str]:
        for member in self.lab.members:
            self.cable_member(member)
        switch = self.lab.group("peering_switches")[0]
        spid = self.pid(switch.container)
        for host in self.lab.hosts:
            if host.peering_ipv4:
                self.cable_host(host, spid)
        if self.new_ports:
            # A container restart remakes its cable, and the switch's new
            # end is a bare interface: a deployed fabric takes it into the
            # bridge (static MAC, no learning) again. A real switch keeps
            # its port when a server restarts; only the lab needs this.
            done = self.run(
                ["docker", "exec", switch.container, "systemctl", "try-reload-or-restart", "caribix-fabric.service"], check=False
            )
            if done.returncode == 0:
                self.actions.append(f"{switch.name}: fabric reconciled ({', '.join(self.new_ports)})")
        return self.actions
