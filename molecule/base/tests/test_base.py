"""What the base role must leave on a host, checked from inside and outside."""

import os
import subprocess
import time

import pytest

testinfra_hosts = ["ansible://base-host"]

HOST_V4 = "192.0.2.242"
HOST_V6 = "2001:db8:f0::42"
# The scenario's image (molecule.yml); it must carry no SSH host keys.
IMAGE = "caribix/debian-trixie:lab"


@pytest.fixture(scope="module")
def probe():
    import testinfra

    return testinfra.get_host("ansible://base-probe", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"])


def knock(probe, address, port):
    """True if a TCP connection from the probe succeeds (nc exit 0)."""
    family = "-6" if ":" in address else "-4"
    return probe.run(f"nc {family} -z -w 2 {address} {port}").rc == 0


@pytest.mark.parametrize("service", ["chrony", "ssh", "nftables"])
def test_service_running_and_enabled(host, service):
    unit = host.service(service)
    assert unit.is_running
    assert unit.is_enabled


def test_chrony_tracks_configured_source(host):
    assert "pool 0.debian.pool.ntp.org iburst" in host.file("/etc/chrony/chrony.conf").content_string
    # chronyc answers: the daemon is really there (sources may be unreachable offline).
    assert host.run("chronyc -n tracking").rc == 0


def test_sshd_effective_config_is_hardened(host):
    effective = host.check_output("sshd -T").lower().splitlines()
    assert "passwordauthentication no" in effective
    assert "permitrootlogin without-password" in effective
    assert "kbdinteractiveauthentication no" in effective
    ciphers = next(line for line in effective if line.startswith("ciphers ")).split()[1].split(",")
    assert set(ciphers) <= {"chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com", "aes128-gcm@openssh.com"}
    assert not any("cbc" in cipher for cipher in ciphers)


def test_sshd_prefers_post_quantum_key_exchange(host):
    if int(host.system_info.release.split(".")[0]) < 13:
        pytest.skip("mlkem768x25519-sha256 needs OpenSSH 9.9 (Debian 13)")
    effective = host.check_output("sshd -T").lower().splitlines()
    kex = next(line for line in effective if line.startswith("kexalgorithms ")).split()[1].split(",")
    assert kex[0] == "mlkem768x25519-sha256"


def test_image_carries_no_ssh_host_keys():
    listing = subprocess.run(
        ["docker", "run", "--rm", IMAGE, "sh", "-c", "ls /etc/ssh"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "sshd_config" in listing
    assert not [name for name in listing if name.startswith("ssh_host_")]


def test_each_host_has_its_own_ssh_host_keys(host, probe):
    # base-probe never ran the base role: its keys come from the image's
    # first start of ssh.service (ssh-keygen -A), base-host's likewise.
    for key in ("ed25519", "rsa"):
        path = f"/etc/ssh/ssh_host_{key}_key.pub"
        mine, theirs = host.file(path).content_string, probe.file(path).content_string
        assert mine.startswith("ssh-") and theirs.startswith("ssh-")
        assert mine.split()[1] != theirs.split()[1], f"{path} is the same on two hosts"
    assert probe.service("ssh").is_running


def test_firewall_default_deny_inbound(host):
    ruleset = host.check_output("nft list table inet caribix_host")
    assert "policy drop" in ruleset
    assert 'comment "demo-bgp"' in ruleset
    assert 'comment "lab-http"' in ruleset


def test_firewall_lets_allowed_ports_through_and_filters_the_rest(host, probe):
    # Listeners on an allowed (8080) and a not-allowed (8081) port.
    for port in (8080, 8081):
        host.run(f"systemd-run --unit=caribix-listen-{port} python3 -m http.server {port} --bind ::")
    try:
        time.sleep(1)
        assert host.run("python3 -c 'import urllib.request; urllib.request.urlopen(\"http://127.0.0.1:8081\")'").rc == 0
        assert knock(probe, HOST_V4, 22), "SSH must be reachable from the management address"
        assert knock(probe, HOST_V4, 8080), "an allowed port must be reachable"
        assert knock(probe, HOST_V6, 8080), "an allowed port must be reachable over IPv6"
        assert not knock(probe, HOST_V4, 8081), "a listening port that is not allowed must be filtered"
        assert not knock(probe, HOST_V6, 8081), "a listening port that is not allowed must be filtered (IPv6)"
    finally:
        for port in (8080, 8081):
            host.run(f"systemctl stop caribix-listen-{port}")


def test_firewall_filters_ssh_from_outside_the_management_lan(host):
    # The host itself is not in the management LAN (/32 of the probe); a
    # connection from its own LAN address to itself goes via lo, so check the
    # rule set instead: SSH is only accepted from the management prefixes.
    ruleset = host.check_output("nft list chain inet caribix_host input")
    ssh_rules = [line for line in ruleset.splitlines() if 'comment "ssh"' in line]
    assert ssh_rules and all("192.0.2.243" in rule or "2001:db8:f0::43" in rule for rule in ssh_rules)


def test_unattended_upgrades_security_only(host):
    dump = host.check_output("apt-config dump")
    assert 'APT::Periodic::Unattended-Upgrade "1";' in dump
    conf = host.file("/etc/apt/apt.conf.d/52caribix-unattended-upgrades").content_string
    assert "Debian-Security" in conf
    assert host.package("unattended-upgrades").is_installed
