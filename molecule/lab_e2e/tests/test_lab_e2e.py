"""End to end on the island lab: Molecule's verify step of lab_e2e.

    molecule test -s lab_e2e        # lab.sh down, up, up again (idempotence), these tests, down
or, on a lab already running:
    bash scripts/lab.sh up guadeloupe
    .venv/bin/pytest -v molecule/lab_e2e/tests/    # CARIBIX_LAB_ISLAND=guadeloupe

Real components only: the member routers' BIRD, the route servers' BIRD,
the switch container's bridge and nftables, Prometheus, the looking glass.
What each member announces comes from the same files the lab is built
from (snapshots/<island>/irr.json, lab/announcements/<island>.yml), and
every expectation is derived from them and from the island inventory.
That a second site.yml run changes nothing is Molecule's idempotence step.

The tests run in file order and the last ones change the lab (stop a
route server, add a member and remove it again with the member-change
command, change managed files by hand); each puts the lab back as it
found it.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

from caribix import lab

REPO = Path(__file__).resolve().parents[3]
# As a newcomer's shell, whoever runs these tests (Molecule's verifier
# sets ANSIBLE_CONFIG and friends for its own runs): the repository's
# ansible.cfg, its venv first on the PATH.
CLEAN_ENV = {
    "HOME": os.environ.get("HOME", "/root"),
    "PATH": f"{REPO}/.venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
    # The example island's vault id, as scripts/lab.sh sets it.
    "ANSIBLE_VAULT_IDENTITY_LIST": f"lab@{REPO}/inventories/lab-vault-password.txt",
    # A moved clock (CARIBIX_CLOCK_AHEAD_DAYS, docs/clock.md) reaches the tests' own commands too,
    # and lab.sh runs with mitogen if the suite chose it (the tests' own
    # ansible() runs never do: the connection tests need SSH's own errors).
    **{name: os.environ[name] for name in ("LD_PRELOAD", "DATEFUDGE", "CARIBIX_MITOGEN") if name in os.environ},
}
ISLAND = os.environ.get("CARIBIX_LAB_ISLAND", "guadeloupe")
STATE = REPO / "build" / "lab" / ISLAND


def sh(*argv: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=check, capture_output=True, text=True, timeout=timeout, cwd=REPO, env=CLEAN_ENV)


def dexec(container: str, *argv: str, check: bool = True) -> str:
    return sh("docker", "exec", container, *argv, check=check).stdout


@lru_cache(maxsize=None)
def inventory() -> dict:
    return json.loads(sh(str(REPO / ".venv/bin/ansible-inventory"), "-i", f"inventories/{ISLAND}", "--list").stdout)


@lru_cache(maxsize=None)
def plan() -> lab.Lab:
    return lab.build_lab(ISLAND, inventory())


def rs_members() -> list[lab.LabMember]:
    return [m for m in plan().members if m.route_server]


def island_members() -> dict[int, dict]:
    any_vars = next(iter(inventory()["_meta"]["hostvars"].values()))
    return {int(m["asn"]): m for m in any_vars["members"]}


def valid_routes() -> dict[int, list[str]]:
    irr = json.loads((REPO / f"snapshots/{ISLAND}/irr.json").read_text())["route_objects"]
    return {m.asn: irr.get(str(m.asn), []) for m in rs_members()}


def invalid_routes() -> dict[int, list[dict]]:
    data = yaml.safe_load((REPO / f"lab/announcements/{ISLAND}.yml").read_text()) or {}
    return {int(asn): routes for asn, routes in data.items()}


def bgp_rows(container: str) -> dict[str, dict[str, str]]:
    return lab.parse_bgp_protocols(dexec(container, "birdc", "-r", "show", "protocols"))


def member_table(container: str) -> str:
    return dexec(container, "birdc", "-r", "show", "route")


def wait_for(what: str, predicate, timeout: float, step: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not true after {timeout:.0f} s")
        time.sleep(step)


@pytest.fixture(scope="module", autouse=True)
def running_lab():
    missing = [c for c in [h.container for h in plan().hosts] + [m.container for m in plan().members]
               if sh("docker", "inspect", "-f", "{{.State.Running}}", c, check=False).stdout.strip() != "true"]
    if missing:
        pytest.fail(f"the {ISLAND} lab is not running ({', '.join(missing)}): bash scripts/lab.sh up {ISLAND}")


# ---------------------------------------------------------------- the production path
# The lab is deployed as real servers are: over SSH to each host's
# management address, as the deploy user, sudo for root, host keys
# checked against a known_hosts file (docs/production.md).

def ansible(*args: str, program: str = "ansible") -> subprocess.CompletedProcess:
    """An Ansible command against the island, as the lab runs them (its SSH extra vars).

    Each call gets SSH control sockets of its own: a master connection
    left by an earlier command (ControlPersist) would skip the host-key
    and login checks these tests are about.
    """
    with tempfile.TemporaryDirectory(prefix="caribix-ssh-cp-") as control_dir:
        return subprocess.run(
            [str(REPO / ".venv" / "bin" / program), "-i", f"inventories/{ISLAND}", "-e", f"@{STATE / 'connection.json'}", *args],
            cwd=REPO, capture_output=True, text=True, timeout=600,
            env={**CLEAN_ENV, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_SSH_CONTROL_PATH_DIR": control_dir},
        )


def island_hosts() -> str:
    return ",".join(h.name for h in plan().hosts)


def test_every_host_is_reached_over_ssh_as_the_deploy_user_with_sudo():
    plain = ansible(island_hosts(), "-m", "ansible.builtin.command", "-a", "id -un", "-o")
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert sorted(re.findall(r"^(\S+) \| CHANGED \| rc=0 \| \(stdout\) (\S+)$", plain.stdout, re.M)) == sorted(
        (h.name, "caribix-deploy") for h in plan().hosts)
    root = ansible(island_hosts(), "-b", "-m", "ansible.builtin.command", "-a", "id -un", "-o")
    assert root.returncode == 0 and root.stdout.count("(stdout) root") == len(plan().hosts), root.stdout + root.stderr
    known = (STATE / "known_hosts").read_text().split()
    assert all(h.management_ipv4 in known for h in plan().hosts)


def _known_hosts_without(tmp_path: Path, name: str, replacement: str | None = None) -> Path:
    """The lab's known_hosts with one host's line removed, or its key replaced."""
    address = plan().host(name).management_ipv4
    lines = [line for line in (STATE / "known_hosts").read_text().splitlines() if not line.startswith(address + " ")]
    if replacement:
        lines.append(f"{address} {replacement}")
    path = tmp_path / "known_hosts"
    path.write_text("\n".join(lines) + "\n")
    return path


def _other_key(tmp_path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
    return " ".join((tmp_path / "other.pub").read_text().split()[:2])


def test_an_unknown_host_key_stops_the_connection_and_says_what_to_do(tmp_path):
    rs1 = plan().group("route_servers")[0]
    run = ansible(rs1.name, "-m", "ansible.builtin.ping", "-e", f"caribix_ssh_known_hosts_file={_known_hosts_without(tmp_path, rs1.name)}")
    assert run.returncode != 0
    assert f"HINT {rs1.name}" in run.stderr and "its SSH host key is not in the island's known_hosts" in run.stderr, run.stdout + run.stderr


def test_a_changed_host_key_stops_the_connection_and_says_what_to_do(tmp_path):
    rs1 = plan().group("route_servers")[0]
    known = _known_hosts_without(tmp_path, rs1.name, replacement=_other_key(tmp_path))
    run = ansible(rs1.name, "-m", "ansible.builtin.ping", "-e", f"caribix_ssh_known_hosts_file={known}")
    assert run.returncode != 0
    assert f"HINT {rs1.name}" in run.stderr and "not the one recorded in the island's known_hosts" in run.stderr, run.stdout + run.stderr


def test_a_refused_key_says_what_to_do(tmp_path):
    rs1 = plan().group("route_servers")[0]
    _other_key(tmp_path)
    run = ansible(rs1.name, "-m", "ansible.builtin.ping", "-e", f"ansible_ssh_private_key_file={tmp_path / 'other'}")
    assert run.returncode != 0
    assert f"HINT {rs1.name}" in run.stderr and "the deploy user refused our SSH key" in run.stderr, run.stdout + run.stderr


def test_refused_sudo_says_what_to_do():
    rs1 = plan().group("route_servers")[0]
    key = (REPO / "build" / "lab" / "ssh" / "id_ed25519.pub").read_text().strip()
    dexec(rs1.container, "sh", "-c", "id -u caribix-nosudo >/dev/null 2>&1 || useradd -m caribix-nosudo; "
          f"install -d -m 700 -o caribix-nosudo /home/caribix-nosudo/.ssh && echo '{key}' > /home/caribix-nosudo/.ssh/authorized_keys "
          "&& chown caribix-nosudo /home/caribix-nosudo/.ssh/authorized_keys")
    try:
        run = ansible(rs1.name, "-b", "-m", "ansible.builtin.command", "-a", "id", "-e", "ansible_user=caribix-nosudo")
    finally:
        dexec(rs1.container, "userdel", "-r", "caribix-nosudo", check=False)
    assert run.returncode != 0
    assert f"HINT {rs1.name}" in run.stderr and "the deploy user may not use sudo" in run.stderr, run.stdout + run.stderr


def test_the_second_route_server_is_not_touched_when_the_first_fails(tmp_path):
    rs1, rs2 = plan().group("route_servers")[:2]
    known = _known_hosts_without(tmp_path, rs1.name)
    run = ansible("playbooks/route_servers.yml", "-e", f"caribix_ssh_known_hosts_file={known}", program="ansible-playbook")
    assert run.returncode != 0
    route_server_play = run.stdout.split("PLAY [Route servers]", 1)[1].split("PLAY RECAP", 1)[0]
    assert f"fatal: [{rs1.name}]" in route_server_play, route_server_play
    assert f"HINT {rs1.name}" in run.stderr and "its SSH host key is not in the island's known_hosts" in run.stderr, run.stderr
    assert f"[{rs2.name}]" not in route_server_play, route_server_play


def test_every_member_session_is_established_on_both_route_servers():
    expected = {f"AS{m.asn}" for m in rs_members()}
    for rs in plan().group("route_servers"):
        rows = bgp_rows(rs.container)
        # arouteserver names a client's sessions AS<asn>_<n>, one per address family.
        per_member: dict[str, int] = {}
        for name, row in rows.items():
            if row["info"].startswith("Established"):
                per_member[name.split("_")[0]] = per_member.get(name.split("_")[0], 0) + 1
        assert {asn for asn, n in per_member.items() if n == 2} >= expected, f"{rs.name}: {rows}"
    # And seen from each member router: IPv4 and IPv6 to every route server.
    for member in rs_members():
        rows = bgp_rows(member.container)
        assert len(rows) == 2 * len(plan().group("route_servers"))
        assert all(row["info"].startswith("Established") for row in rows.values()), f"{member.container}: {rows}"


def test_a_members_valid_routes_reach_every_other_member():
    for origin, prefixes in valid_routes().items():
        for other in rs_members():
            if other.asn == origin:
                continue
            table = member_table(other.container)
            for prefix in prefixes:
                canonical = str(ipaddress.ip_network(prefix))
                assert re.search(rf"^{re.escape(canonical)}\s+unicast .*\[AS{origin}i\]", table, re.M), (
                    f"AS{other.asn} lacks AS{origin}'s {canonical}"
                )


def test_the_data_plane_follows_across_the_switch():
    """A member pings an address inside another member's announced prefix."""
    members = island_members()
    for origin, prefixes in valid_routes().items():
        for other in rs_members():
            if other.asn == origin or not prefixes:
                continue
            target = next(iter(ipaddress.ip_network(prefixes[0]).hosts()))
            source = str(members[other.asn]["ipv4" if target.version == 4 else "ipv6"])
            out = sh("docker", "exec", other.container, "ping", "-c", "1", "-W", "2", "-I", source, str(target), check=False)
            assert out.returncode == 0, f"AS{other.asn} -> {target} (AS{origin}): {out.stdout}{out.stderr}"


# Sends UDP packets whose IPv4 source is an address the sender does not own
# (a raw socket writes the header), as a spoofing member router would.
SPOOF_SENDER = r"""
import socket, struct, sys
source, target = sys.argv[1], sys.argv[2]
payload = b"caribix spoofed source"
udp = struct.pack("!HHHH", 40000, 9, 8 + len(payload), 0) + payload
header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     socket.inet_aton(source), socket.inet_aton(target))
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
for _ in range(5):
    raw.sendto(header + udp, (target, 0))
"""


def fabric_counter(name: str) -> int:
    switch = plan().group("peering_switches")[0]
    data = json.loads(dexec(switch.container, "nft", "-j", "list", "counter", "bridge", "caribix_fabric", name))
    return next(item["counter"]["packets"] for item in data["nftables"] if "counter" in item)


def test_the_exchange_hosts_sit_on_filtered_ports_and_their_addresses_are_theirs():
    """The route servers and monitoring reach the peering LAN through switch
    ports of their own (host_vars peering_port), under the port security a
    member's port has; no member may send from their addresses."""
    switch = plan().group("peering_switches")[0]
    nft = dexec(switch.container, "nft", "list", "table", "bridge", "caribix_fabric")
    hosts = [h for h in plan().hosts if h.peering_ipv4]
    assert len(hosts) == 3
    for host in hosts:
        assert f'"{host.peering_port}" : jump port_{host.peering_port}' in nft, host.name
        assert f'ether saddr != {host.peering_mac} counter name "{host.peering_port}_source_mac" drop' in nft, host.name
        port = json.loads(dexec(switch.container, "ip", "-j", "link", "show", "dev", host.peering_port))[0]
        assert port.get("master") == plan().bridge, f"{host.name}: {host.peering_port} is not on the peering bridge"
        leg = json.loads(dexec(host.container, "ip", "-j", "-d", "link", "show", "dev", lab.PEERING_IFNAME))[0]
        assert (leg["linkinfo"]["info_kind"], leg["address"]) == ("veth", host.peering_mac), host.name
    # Their sessions run through those ports (the session tests above); a
    # member sending from a route server's address is dropped and counted.
    rs1 = next(h for h in hosts if "route_servers" in h.groups)
    sender, receiver = rs_members()[:2]
    counter = f"{sender.port}_exchange_address"
    before = fabric_counter(counter)
    sh("docker", "exec", sender.container, "python3", "-c", SPOOF_SENDER,
       str(rs1.peering_ipv4), str(island_members()[receiver.asn]["ipv4"]))
    wait_for("the spoofed packets counted at the member's port", lambda: fabric_counter(counter) - before >= 5, timeout=30, step=2)


def backend_json(rs: lab.LabHost, path: str) -> dict:
    """The looking glass's backend API, asked from the looking-glass host (its only allowed client)
    over the backend channel: mutual TLS with the island's certificates, as the front end does."""
    lg = plan().group("looking_glass")[0]
    tls = "/etc/caribix-lg/backend-tls"
    code = (
        "import json,ssl,sys,urllib.request;"
        f"context = ssl.create_default_context(cafile='{tls}/ca.crt');"
        f"context.load_cert_chain('{tls}/host.crt', '{tls}/host.key');"
        f"print(urllib.request.urlopen('https://{rs.management_ipv4}:29184{path}', timeout=10, context=context).read().decode())"
    )
    return json.loads(dexec(lg.container, "python3", "-c", code))


def test_invalid_routes_are_filtered_with_their_reason_visible_in_the_looking_glass():
    for origin, routes in invalid_routes().items():
        for other in rs_members():
            if other.asn == origin:
                continue
            table = member_table(other.container)
            for route in routes:
                assert not re.search(rf"^{re.escape(str(ipaddress.ip_network(route['prefix'])))}\s", table, re.M), (
                    f"AS{other.asn} received AS{origin}'s invalid {route['prefix']} ({route['reason']})"
                )
        for rs in plan().group("route_servers"):
            protocols = backend_json(rs, "/protocols/bgp")["protocols"]
            names = [name for name, p in protocols.items() if int(p.get("neighbor_as", 0)) == origin]
            assert names, f"{rs.name}: no protocol for AS{origin} in the looking glass"
            filtered = []
            for name in names:
                filtered += backend_json(rs, f"/routes/filtered/{name}").get("routes", [])
            by_prefix = {str(ipaddress.ip_network(r["network"])): r for r in filtered}
            for route in routes:
                prefix = str(ipaddress.ip_network(route["prefix"]))
                assert prefix in by_prefix, f"{rs.name}: {prefix} of AS{origin} not among its filtered routes"
                # The looking glass decodes (RS_ASN, 65520, code) into the reason.
                reasons = by_prefix[prefix].get("reject_reasons", [])
                assert route["code"] in [r["code"] for r in reasons], (
                    f"{rs.name}: {prefix}: expected reject code {route['code']} ({route['reason']}), got {reasons}"
                )


def lab_sh(*args: str, env: dict | None = None, netns: str | None = None, check: bool = True) -> str:
    """scripts/lab.sh, as an engineer runs it (netns: from that network namespace, the cut-off controller)."""
    result = subprocess.run(
        [*(["ip", "netns", "exec", netns] if netns else []), "bash", "scripts/lab.sh", *args],
        cwd=REPO, capture_output=True, text=True, timeout=1800, env={**CLEAN_ENV, **(env or {})},
    )
    if check:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    elif result.returncode == 0:
        pytest.fail(f"lab.sh {' '.join(args)} succeeded: {result.stdout[-3000:]}")
    return result.stdout + result.stderr


def changed_tasks(output: str) -> int:
    recap = output[output.rindex("PLAY RECAP"):]
    return sum(int(n) for n in re.findall(r"changed=(\d+)", recap))


def test_check_diff_against_the_lab_shows_no_change():
    assert changed_tasks(lab_sh("check", ISLAND)) == 0


def test_the_member_change_command_in_check_mode_shows_no_change():
    """playbooks/members.yml --check --diff on the deployed lab: nothing to do."""
    assert changed_tasks(lab_sh("check", ISLAND, env={"CARIBIX_LAB_PLAYBOOKS": "playbooks/members.yml"})) == 0


def firing(alertname: str, states: tuple[str, ...] = ("firing",)) -> list[dict]:
    mon = plan().group("monitoring")[0]
    out = sh("curl", "-s", f"http://{mon.management_ipv4}:{lab.PROMETHEUS_PORT}/api/v1/alerts").stdout
    return [a for a in json.loads(out)["data"]["alerts"] if a["labels"].get("alertname") == alertname and a["state"] in states]


def prometheus_query(query: str) -> list[dict]:
    mon = plan().group("monitoring")[0]
    out = sh("curl", "-s", "--get", f"http://{mon.management_ipv4}:{lab.PROMETHEUS_PORT}/api/v1/query",
             "--data-urlencode", f"query={query}").stdout
    return json.loads(out)["data"]["result"]


def member_bytes(asn: int, direction: str) -> float:
    rows = prometheus_query(f'caribix_member_traffic_bytes_total{{asn="{asn}",direction="{direction}"}}')
    return sum(float(r["value"][1]) for r in rows)


def test_member_traffic_is_sampled_by_the_switch_and_counted_per_member():
    """Real frames between two members, sampled by the whitebox's sFlow
    agents (pmacctd on the member ports), decoded by the island's sfacctd
    and counted per member in Prometheus, within sampling's error."""
    sender, receiver = rs_members()[:2]
    members = island_members()
    frames, frame_bytes = 2000, 1014  # ICMP payload 972 + 8 + IPv4 20 + Ethernet 14
    before = (member_bytes(sender.asn, "out"), member_bytes(receiver.asn, "in"))
    out = sh("docker", "exec", sender.container, "ping", "-q", "-c", str(frames), "-i", "0.002", "-s", "972",
             "-I", str(members[sender.asn]["ipv4"]), str(members[receiver.asn]["ipv4"]), check=False)
    assert " 0% packet loss" in out.stdout, out.stdout + out.stderr
    # Echo requests one way, replies the other: each member sent frames x frame_bytes.
    sent = frames * frame_bytes
    wait_for("the sampled traffic in Prometheus",
             lambda: member_bytes(sender.asn, "out") - before[0] >= 0.6 * sent
             and member_bytes(receiver.asn, "in") - before[1] >= 0.6 * sent, timeout=120)
    counted = member_bytes(sender.asn, "out") - before[0]
    assert counted <= 1.6 * sent, f"AS{sender.asn} counted {counted} bytes out for {sent} sent"


def test_route_servers_export_their_snapshot_age_to_prometheus():
    """Each route server's build wrote caribix_snapshot_timestamp_seconds; Prometheus has it.

    The lab runs on example data (example="true"): its age is shown, never
    alerted on, whatever the date.
    """
    rows = prometheus_query("caribix_snapshot_timestamp_seconds")
    series = {(r["metric"]["host"], r["metric"]["part"], r["metric"]["example"]) for r in rows}
    assert series == {(rs.name, part, "true") for rs in plan().group("route_servers") for part in ("irr", "peeringdb", "rpki")}
    assert not firing("CaribixSnapshotTooOld")


def test_stopping_a_route_server_trips_its_alert_and_members_keep_every_route():
    """The alert's rule matches the stopped route server (pending: its
    `for` of 2 minutes is counting). That it then fires is
    molecule/monitoring's test, with short `for` durations; waiting here
    would cost the suite minutes and prove nothing more."""
    rs1, rs2 = plan().group("route_servers")[:2]
    sh("docker", "stop", rs1.container)
    try:
        wait_for(
            f"CaribixRouteServerDown for {rs1.name}",
            lambda: any(rs1.name in json.dumps(a["labels"]) for a in firing("CaribixRouteServerDown", ("pending", "firing"))),
            timeout=300,
        )
        # Every member still has every valid route, now via the other route server only.
        test_a_members_valid_routes_reach_every_other_member()
        assert all(row["info"].startswith("Established") for row in bgp_rows(rs2.container).values()
                   if row["info"])
    finally:
        sh("docker", "start", rs1.container)
        # The container's peering leg went with its old namespace: recable.
        sh(str(REPO / ".venv/bin/python"), "-m", "caribix.lab", "cable", str(STATE / "inventory.json"), ISLAND)
    # At least the island's members (a newcomer added by a later test may be there too).
    def back() -> bool:
        try:
            return lab.established(bgp_rows(rs1.container)) >= 2 * len(rs_members())
        except subprocess.CalledProcessError:  # BIRD still starting
            return False

    wait_for(f"{rs1.name} sessions back", back, 300)


def since_by_protocol(container: str) -> dict[str, str]:
    """When each member session that is up came up."""
    return {name: row["since"] for name, row in bgp_rows(container).items() if row["state"] == "up" and re.match(r"AS\d+_\d+$", name)}


def newcomer_member() -> dict:
    """The lab's newcomer, with a BGP password (an existing vault key), so
    that its secret file is created and, on removal, removed."""
    newcomer = lab.newcomer(inventory())
    key = next(m["bgp_password_vault_key"] for m in island_members().values() if m.get("bgp_password_vault_key"))
    newcomer["members"][-1]["bgp_password_vault_key"] = key
    return newcomer


def member_change(extra: Path | None, netns: str | None = None, env: dict | None = None) -> int:
    """`lab.sh member` (playbooks/members.yml): seconds from the command to
    every session Established, as lab.sh records it."""
    lab_sh("member", ISLAND, env={**({"CARIBIX_LAB_EXTRA_VARS": str(extra)} if extra else {}), **(env or {})}, netns=netns)
    last = (STATE / "timings.txt").read_text().splitlines()[-1].split()
    assert last[1] == "member-change", last
    return int(last[2])


def newcomer_traces(member: dict) -> dict[str, bool]:
    """Where a member leaves a trace on the island's hosts: True = present."""
    asn, port, mac = member["asn"], member["port"], member["mac"].lower()
    switch = next(h for h in plan().hosts if h.name == member["switch"])
    traces: dict[str, bool] = {}
    nft = dexec(switch.container, "nft", "list", "table", "bridge", "caribix_fabric")
    traces["switch: port chain"] = f"chain port_{port} " in nft
    fdb = dexec(switch.container, "bridge", "fdb", "show", "dev", port, check=False)
    traces["switch: static MAC"] = any(mac in line and "static" in line for line in fdb.splitlines())
    agent = dexec(switch.container, "systemctl", "is-active", f"caribix-sflow@{port}.service", check=False)
    traces["switch: sFlow agent"] = agent.strip() == "active"
    for rs in plan().group("route_servers"):
        traces[f"{rs.name}: sessions"] = any(n.startswith(f"AS{asn}_") for n in bgp_rows(rs.container))
        secrets = dexec(rs.container, "ls", "/etc/bird/route-server-secrets")
        traces[f"{rs.name}: secret file"] = any(f.startswith(f"AS{asn}-") for f in secrets.split())
    for mon in plan().group("monitoring"):
        targets = dexec(mon.container, "sh", "-c", "cat /etc/prometheus/file_sd/*.json /etc/prometheus/prometheus.yml")
        traces[f"{mon.name}: targets"] = str(member["ipv4"]) in targets or f"AS{asn}" in targets
    for lg in plan().group("looking_glass"):
        frontend = json.loads(dexec(lg.container, "cat", "/etc/caribix-lg/frontend.json"))
        traces[f"{lg.name}: looking-glass entry"] = any(int(m["asn"]) == asn for m in frontend["members"])
    running = sh("docker", "ps", "-q", "--filter", f"name=^{lab.member_container(ISLAND, asn)}$").stdout.strip()
    traces["lab router"] = bool(running)
    return traces


def test_adding_a_member_brings_its_sessions_up_without_resetting_others():
    newcomer = newcomer_member()
    added = newcomer["members"][-1]
    extra = STATE / "newcomer.json"
    extra.write_text(json.dumps(newcomer))
    before = {rs.name: since_by_protocol(rs.container) for rs in plan().group("route_servers")}
    took = member_change(extra)
    print(f"member change (AS{added['asn']} added): {took} s to its sessions Established on every route server")
    for rs in plan().group("route_servers"):
        rows = bgp_rows(rs.container)
        up = [n for n, r in rows.items() if n.startswith(f"AS{added['asn']}_") and r["info"].startswith("Established")]
        assert len(up) == 2, f"{rs.name}: AS{added['asn']} sessions {rows}"
        after = since_by_protocol(rs.container)
        reset = {name for name, since in before[rs.name].items() if after.get(name) != since}
        assert not reset, f"{rs.name}: sessions reset by adding AS{added['asn']}: {sorted(reset)}"
    traces = newcomer_traces(added)
    assert all(traces.values()), f"AS{added['asn']} is missing here: {[k for k, v in traces.items() if not v]}"


def test_removing_a_member_leaves_nothing_behind():
    """The same command without the newcomer: every trace of it goes."""
    removed = json.loads((STATE / "newcomer.json").read_text())["members"][-1]
    before = {rs.name: since_by_protocol(rs.container) for rs in plan().group("route_servers")}
    took = member_change(None)
    print(f"member change (AS{removed['asn']} removed): {took} s")
    traces = newcomer_traces(removed)
    assert not any(traces.values()), f"AS{removed['asn']} is still here: {[k for k, v in traces.items() if v]}"
    for rs in plan().group("route_servers"):
        after = since_by_protocol(rs.container)
        reset = {n for n, since in before[rs.name].items() if not n.startswith(f"AS{removed['asn']}_") and after.get(n) != since}
        assert not reset, f"{rs.name}: sessions reset by removing AS{removed['asn']}: {sorted(reset)}"


# Files the deploy manages, on three kinds of host; a site.yml rerun on
# those hosts must put each back as it was.
DRIFTED_FILES = [
    ("monitoring", "/etc/prometheus/file_sd/node.json"),
    ("peering_switches", "/etc/caribix/fabric/counters.json"),
    ("route_servers", "/etc/chrony/chrony.conf"),
    # Compared on the controller with one read per host (caribix_file_states),
    # and shipped as files in one run with the looking glass's others.
    ("looking_glass", "/etc/nftables.d/looking-glass-web.nft"),
    ("route_servers", "/opt/caribix-lg/lib/caribix_lg/birdc.py"),
]


def test_a_rerun_puts_back_a_managed_file_changed_on_a_host():
    originals = {}
    for group, path in DRIFTED_FILES:
        host = plan().group(group)[0]
        originals[(host.container, path)] = dexec(host.container, "cat", path)
        dexec(host.container, "sh", "-c", f"echo '# changed by hand' >> {path}")
    # Only the drifted hosts (--limit): the whole island's rerun is the
    # idempotence step's, and its cost is paid once.
    drifted_hosts = ",".join(plan().group(group)[0].name for group, _ in DRIFTED_FILES)
    run = ansible("playbooks/site.yml", "--limit", drifted_hosts, "-e", f"@{STATE / 'overlay.json'}", program="ansible-playbook")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert changed_tasks(run.stdout) >= len(DRIFTED_FILES)
    for (container, path), original in originals.items():
        assert dexec(container, "cat", path) == original, f"{container}:{path} was not put back"


# ---------------------------------------------------------------- the island cut off
# The island's internet is gone: its hosts reach nothing outside the lab's
# networks, and the controller runs in a network namespace whose only route
# leads to the management LAN (no PyPI, no Debian mirror, no DNS). What a
# deploy needs must then come from the island: the package cache on the
# monitoring host (filled by the deploys before), the controller's
# wheelhouse, the base image, the snapshots (docs/operations.md).
CUT_NETNS = "caribix-cut-off"
CUT_TABLE = "caribix_lab_cut_off"
CUT_HOST_SIDE, CUT_NS_SIDE = "cutoff-host", "cutoff-ns"
CUT_HOST_ADDRESS, CUT_NS_ADDRESS = "198.51.100.249", "198.51.100.250"
LAB_UNDERLAY = "203.0.113.248/29"  # scripts/lab.sh's
# SSH's control sockets of the cut-off runs: a master connection started in
# the namespace dies with it, and must not be reused by a later run.
CUT_CONTROL_DIR = STATE / "cut-off-ssh"
PACKAGE_CACHE_DIR = "/var/cache/apt-cacher-ng"
OFFLINE_FILE = "/etc/apt-cacher-ng/zz-caribix-offline.conf"


def cut_the_island_off() -> None:
    management = json.loads((STATE / "plan.json").read_text())["subnet"]
    ruleset = f"""
table inet {CUT_TABLE} {{
  chain cut_forward {{
    type filter hook forward priority -10; policy accept;
    ip saddr {{ {management}, {LAB_UNDERLAY} }} ip daddr != {{ {management}, {LAB_UNDERLAY}, {CUT_NS_ADDRESS} }} drop
  }}
  chain controller_source {{
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr {CUT_NS_ADDRESS} ip daddr {management} masquerade
  }}
}}
"""
    subprocess.run(["nft", "-f", "-"], input=ruleset, text=True, check=True)
    for command in (
        ["ip", "netns", "add", CUT_NETNS],
        ["ip", "link", "add", CUT_HOST_SIDE, "type", "veth", "peer", "name", CUT_NS_SIDE, "netns", CUT_NETNS],
        ["ip", "addr", "add", f"{CUT_HOST_ADDRESS}/30", "dev", CUT_HOST_SIDE],
        ["ip", "link", "set", CUT_HOST_SIDE, "up"],
        ["ip", "-n", CUT_NETNS, "addr", "add", f"{CUT_NS_ADDRESS}/30", "dev", CUT_NS_SIDE],
        ["ip", "-n", CUT_NETNS, "link", "set", CUT_NS_SIDE, "up"],
        ["ip", "-n", CUT_NETNS, "link", "set", "lo", "up"],
        ["ip", "-n", CUT_NETNS, "route", "add", management, "via", CUT_HOST_ADDRESS],
        # Docker forwards nothing into its networks from elsewhere by default.
        ["iptables", "-I", "DOCKER-USER", "-i", CUT_HOST_SIDE, "-j", "ACCEPT"],
        ["iptables", "-I", "DOCKER-USER", "-o", CUT_HOST_SIDE, "-j", "ACCEPT"],
    ):
        subprocess.run(command, check=True, capture_output=True, text=True)


def mend_the_cut() -> None:
    for command in (
        ["pkill", "-f", str(CUT_CONTROL_DIR)],
        ["iptables", "-D", "DOCKER-USER", "-i", CUT_HOST_SIDE, "-j", "ACCEPT"],
        ["iptables", "-D", "DOCKER-USER", "-o", CUT_HOST_SIDE, "-j", "ACCEPT"],
        ["ip", "link", "del", CUT_HOST_SIDE],
        ["ip", "netns", "del", CUT_NETNS],
        ["nft", "delete", "table", "inet", CUT_TABLE],
    ):
        subprocess.run(command, check=False, capture_output=True)


def reaches_the_mirror(container: str | None) -> bool:
    """A TCP connection to Debian's mirror, from a host or from the cut-off controller."""
    probe = "import socket; socket.create_connection(('deb.debian.org', 80), 5)"
    argv = ["docker", "exec", container, "timeout", "15", "python3", "-c", probe] if container \
        else ["ip", "netns", "exec", CUT_NETNS, "timeout", "15", sys.executable, "-c", probe]
    return subprocess.run(argv, capture_output=True, check=False).returncode == 0


def cached_files(cache: lab.LabHost, pattern: str) -> list[str]:
    return dexec(cache.container, "find", PACKAGE_CACHE_DIR, "-name", pattern, "-type", "f").split()


def test_an_island_cut_off_from_the_internet_changes_members_and_rebuilds_a_route_server():
    cache = plan().group("package_caches")[0]
    rebuilt = plan().group("route_servers")[-1]
    assert reaches_the_mirror(rebuilt.container), "the lab's hosts do not reach Debian's mirror before the cut"
    newcomer = newcomer_member()
    added = newcomer["members"][-1]
    extra = STATE / "newcomer.json"
    extra.write_text(json.dumps(newcomer))
    CUT_CONTROL_DIR.mkdir(parents=True, exist_ok=True)
    cut_off = {"ANSIBLE_SSH_CONTROL_PATH_DIR": str(CUT_CONTROL_DIR)}
    cut_the_island_off()
    try:
        assert not reaches_the_mirror(rebuilt.container), "a host still reaches Debian's mirror"
        assert not reaches_the_mirror(None), "the cut-off controller still reaches Debian's mirror"
        pypi = subprocess.run(["ip", "netns", "exec", CUT_NETNS, str(REPO / ".venv/bin/pip"), "download", "--no-deps",
                               "--no-cache-dir", "--timeout", "3", "--retries", "0", "-d", str(STATE / "pypi-probe"),
                               "six==1.16.0"], capture_output=True, text=True, check=False)
        assert pypi.returncode != 0, "the cut-off controller still downloads from PyPI"

        # (a) A member change needs nothing from outside.
        took = member_change(extra, netns=CUT_NETNS, env=cut_off)
        print(f"cut off: member change (AS{added['asn']} added) in {took} s")
        for rs in plan().group("route_servers"):
            up = [n for n, r in bgp_rows(rs.container).items()
                  if n.startswith(f"AS{added['asn']}_") and r["info"].startswith("Established")]
            assert len(up) == 2, f"{rs.name}: AS{added['asn']} sessions not Established while cut off"

        # (b) A route server rebuilt from the bare base image. First with a
        # package the island does not hold: the deploy stops before any
        # host is touched and names it.
        sh("docker", "rm", "-f", rebuilt.container)
        stayrtr = cached_files(cache, "stayrtr_*.deb")
        assert stayrtr, f"the package cache on {cache.name} never got stayrtr"
        dexec(cache.container, "sh", "-c", "mkdir -p /root/caribix-aside && mv " + " ".join(stayrtr) + " /root/caribix-aside/")
        rebuild = {"CARIBIX_LAB_LIMIT": rebuilt.name, "CARIBIX_LAB_EXTRA_VARS": str(extra), **cut_off}
        try:
            refused = lab_sh("up", ISLAND, env=rebuild, netns=CUT_NETNS, check=False)
        finally:
            for path in stayrtr:
                dexec(cache.container, "mv", f"/root/caribix-aside/{Path(path).name}", path)
        assert "The island is cut off" in refused and "Nothing was changed on any host" in refused, refused[-3000:]
        assert re.search(rf"{rebuilt.name} needs stayrtr_\S+\.deb \(package stayrtr\), not in the package cache {cache.name}",
                         refused), refused[-3000:]
        assert changed_tasks(refused) == 0
        assert dexec(rebuilt.container, "dpkg-query", "-W", "-f", "${Status}", "bird2", check=False) == "", \
            f"{rebuilt.name} got BIRD although the deploy was refused"

        # With everything on the island, the same rebuild succeeds (lab.sh
        # waits for every member's sessions on every route server).
        started = time.monotonic()
        lab_sh("up", ISLAND, env=rebuild, netns=CUT_NETNS)
        print(f"cut off: {rebuilt.name} rebuilt from the base image in {time.monotonic() - started:.0f} s")
        assert dexec(cache.container, "cat", OFFLINE_FILE).count("Offlinemode: 1") == 1
        proxy = dexec(rebuilt.container, "cat", "/etc/apt/apt.conf.d/80caribix-package-cache")
        assert f"http://{cache.management_ipv4}:3142/" in proxy
        served = dexec(cache.container, "sh", "-c", "cat /var/log/apt-cacher-ng/apt-cacher.log")
        assert re.search(rf"\|O\|\d+\|{re.escape(rebuilt.management_ipv4)}\|\S*bird2_", served), \
            f"{cache.name} did not serve bird2 to {rebuilt.name}"
        # The same member sessions as the route server that stayed, the newcomer's among them.
        sessions = {rs.name: {n for n, r in bgp_rows(rs.container).items()
                              if re.match(r"AS\d+_\d+$", n) and r["info"].startswith("Established")}
                    for rs in plan().group("route_servers")}
        assert sessions[rebuilt.name] == sessions[plan().group("route_servers")[0].name], sessions
        assert len([n for n in sessions[rebuilt.name] if n.startswith(f"AS{added['asn']}_")]) == 2, sessions
    finally:
        mend_the_cut()
    # Online again: the next deploy's check finds the mirrors and the cache
    # fetches again.
    run = ansible("playbooks/island_supplies.yml", "--limit", rebuilt.name, program="ansible-playbook")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert dexec(cache.container, "test", "-e", OFFLINE_FILE, check=False) == "" and \
        sh("docker", "exec", cache.container, "test", "-e", OFFLINE_FILE, check=False).returncode == 1
