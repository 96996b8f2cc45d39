"""Route servers against real member routers (BIRD), driven by fixture_routes.yml.

Every announced route is checked on both route servers and at a member
that should (or should not) receive it. Hosts are reached with
testinfra's docker backend by container name.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
from functools import lru_cache
from pathlib import Path

import pytest
import testinfra
import yaml

from caribix.lab import parse_bgp_protocols
from caribix_lg.birdparse import parse_routes

SCENARIO = Path(__file__).resolve().parent.parent
FIXTURE = yaml.safe_load((SCENARIO / "vars" / "fixture_routes.yml").read_text())["fixture_members"]
EXCHANGE = yaml.safe_load((SCENARIO / "group_vars/all/exchange.yml").read_text())["exchange"]
MEMBERS = yaml.safe_load((SCENARIO / "group_vars/all/members.yml").read_text())["members"]
RS_ASN = EXCHANGE["route_server_asn"]
ROUTE_SERVERS = ["rs-gp-rs1", "rs-gp-rs2"]
MEMBER_ADDR = {m["asn"]: m for m in MEMBERS}

testinfra_hosts = ["rs-gp-rs1"]  # the checks below pick their own hosts


@lru_cache(maxsize=None)
def node(name: str):
    return testinfra.get_host(f"docker://{name}")


def birdc(name: str, command: str) -> str:
    result = node(name).run(f"birdc -r {command}")
    # birdc exits 1 on an error reply; "Network not found" is an answer.
    assert result.rc == 0 or "Network not found" in result.stdout, f"{name}: birdc {command}: {result.stdout}{result.stderr}"
    return result.stdout


def protocols(name: str) -> dict[str, dict[str, str]]:
    """birdc show protocols -> {name: {state, since, info}} for BGP protocols."""
    return parse_bgp_protocols(birdc(name, "show protocols"))


def routes(name: str, prefix: str, extra: str = "") -> list[dict]:
    """`show route <prefix> [filtered ...] all`, read by the looking glass's
    parser (caribix_lg.birdparse: one reader of BIRD's route output)."""
    return parse_routes(birdc(name, f"show route {prefix} {extra} all"))


def as_path(entry: dict) -> list[int]:
    return entry["bgp"].get("as_path", [])


def large_communities(entry: dict) -> list[list[int]]:
    return entry["bgp"].get("large_communities", [])


def communities(entry: dict) -> list[list[int]]:
    return entry["bgp"].get("communities", [])


def receiver_for(asn: int) -> int:
    return 64501 if asn != 64501 else 64500


def path_of(route: dict) -> list[int]:
    return [int(a) for a in route["path"]] * route.get("path_repeat", 1)


def cases(expect_filter):
    for asn, member in FIXTURE.items():
        for route in member["routes"]:
            if expect_filter(route["expect"]):
                yield pytest.param(asn, route, id=f"AS{asn}-{route['prefix']}-{route.get('note', route['expect'])}")


def family(prefix: str) -> int:
    return ipaddress.ip_network(prefix).version


# ------------------------------------------------------------------ sessions


@pytest.mark.parametrize("rs", ROUTE_SERVERS)
def test_every_member_session_is_established(rs):
    rows = protocols(rs)
    expected = {f"AS{m['asn']}_{i}" for m in MEMBERS if m.get("route_server") for i in (1, 2)}
    assert expected <= set(rows), f"{rs}: missing sessions {expected - set(rows)}"
    down = {n: r for n, r in rows.items() if n in expected and r["state"] != "up"}
    assert not down, f"{rs}: sessions not up: {down}"
    for n in expected:
        assert "Established" in rows[n]["info"], f"{rs}: {n} is {rows[n]['info']}"


@pytest.mark.parametrize("rs", ROUTE_SERVERS)
def test_rpki_comes_over_rtr_from_stayrtr(rs):
    out = birdc(rs, "show protocols RPKI_stayrtr")
    assert "Established" in out, out
    counts = [birdc(rs, f"show route table RPKI{v} count") for v in (4, 6)]
    total = sum(int(re.search(r"(\d+) of \d+ routes", c).group(1)) for c in counts)
    vrps = (SCENARIO / "snapshot/vrps.json").read_text()
    assert total == vrps.count('"prefix"')


@pytest.mark.parametrize("rs", ROUTE_SERVERS)
def test_bgp_is_allowed_from_the_peering_lan_only(rs):
    rules = node(rs).run("nft list chain inet caribix_host input").stdout
    lan4 = EXCHANGE["peering_lan"]["ipv4"]
    lan6 = EXCHANGE["peering_lan"]["ipv6"]
    assert re.search(rf"ip saddr {re.escape(lan4)} tcp dport 179 accept", rules), rules
    assert re.search(rf"ip6 saddr {re.escape(lan6)} tcp dport 179 accept", rules), rules


def test_passwords_stay_out_of_the_config():
    config = node("rs-gp-rs1").file("/etc/bird/bird.conf").content_string
    assert "password" not in config
    secret = node("rs-gp-rs1").file("/etc/bird/route-server-secrets/AS64500-gp-as64500.conf")
    assert secret.exists and secret.mode == 0o640 and secret.group == "bird"


# ------------------------------------------------------------------ routes

# Strict: these fail today and must be mended, not hidden (a pass fails the run).
@pytest.mark.parametrize("asn,route", list(cases(lambda e: e == "accepted")))
def test_valid_route_reaches_other_members_transparently(asn, route):
    receiver = f"rs-member-{receiver_for(asn)}"
    got = [e for e in routes(receiver, route["prefix"]) if as_path(e) == path_of(route)]
    assert len(got) == len(ROUTE_SERVERS), f"{receiver}: {route['prefix']} via both route servers: {got}"
    nh = MEMBER_ADDR[asn]["ipv4" if family(route["prefix"]) == 4 else "ipv6"]
    for entry in got:
        # The route server adds no ASN and keeps the member's next hop.
        assert entry["bgp"]["next_hop"] == nh, entry
        assert RS_ASN not in as_path(entry)


@pytest.mark.parametrize("asn,route", list(cases(lambda e: isinstance(e, int))))
@pytest.mark.parametrize("rs", ROUTE_SERVERS)
def test_invalid_route_is_kept_filtered_with_its_reason(rs, asn, route):
    sender_proto = f"AS{asn}_{1 if family(route['prefix']) == 4 else 2}"
    filtered = [
        e for e in routes(rs, route["prefix"], f"filtered protocol {sender_proto}") if as_path(e) == path_of(route)
    ]
    assert filtered, f"{rs}: {route['prefix']} from {sender_proto} is not among the filtered routes"
    tags = large_communities(filtered[0])
    # arouteserver's own code in 65520, the Euro-IX code in 1101.
    assert [RS_ASN, 65520, 0] in tags, tags
    assert [RS_ASN, 65520, route["expect"]] in tags, f"{route.get('note')}: {tags}"
    euroix = [code for asn, function, code in tags if (asn, function) == (RS_ASN, 1101)]
    assert euroix == ([int(route["euroix"])] if "euroix" in route else []), f"{route.get('note')}: {tags}"
    # 1102 is a Euro-IX function: nothing of ours there.
    assert not [tag for tag in tags if tag[:2] == [RS_ASN, 1102]], tags


@pytest.mark.parametrize("rs", ROUTE_SERVERS)
@pytest.mark.parametrize("prefix,state", [("198.51.100.0/24", 1), ("2001:db8:1000::/48", 2)])
def test_accepted_route_carries_its_euroix_rpki_state(rs, prefix, state):
    """RS:1000:1 RPKI valid, RS:1000:2 unknown (Euro-IX), on the route server."""
    got = [e for e in routes(rs, prefix) if as_path(e) == [64500]]
    assert got, f"{rs}: {prefix} not accepted"
    assert [RS_ASN, 1000, state] in large_communities(got[0]), got[0]


@pytest.mark.parametrize("rs", ROUTE_SERVERS)
def test_aspa_comes_from_the_snapshot(rs):
    import json

    aspas = json.loads((SCENARIO / "snapshot/vrps.json").read_text())["aspas"]
    count = birdc(rs, "show route table ASPA count")
    assert int(re.search(r"(\d+) of \d+ routes", count).group(1)) == len(aspas), count


@pytest.mark.parametrize("asn,route", list(cases(lambda e: isinstance(e, int))))
def test_invalid_route_is_not_exported(asn, route):
    receiver = f"rs-member-{receiver_for(asn)}"
    leaked = [e for e in routes(receiver, route["prefix"]) if as_path(e) == path_of(route)]
    assert not leaked, f"{receiver} received {route['prefix']} ({route.get('note')}): {leaked}"


@pytest.mark.parametrize("asn,route", list(cases(lambda e: e == "blackhole")))
def test_blackhole_route_is_propagated_with_blackhole_and_no_export(asn, route):
    receiver = f"rs-member-{receiver_for(asn)}"
    got = [e for e in routes(receiver, route["prefix"]) if as_path(e) == path_of(route)]
    assert len(got) == len(ROUTE_SERVERS), got
    for entry in got:
        assert [65535, 666] in communities(entry), entry
        assert [65535, 65281] in communities(entry), entry


@pytest.mark.parametrize("asn,route", list(cases(lambda e: e == "graceful_shutdown")))
def test_graceful_shutdown_route_gets_local_pref_zero(asn, route):
    for rs in ROUTE_SERVERS:
        got = [e for e in routes(rs, route["prefix"]) if as_path(e) == path_of(route)]
        assert got and got[0]["bgp"]["local_pref"] == 0, f"{rs}: {got}"
    receiver = f"rs-member-{receiver_for(asn)}"
    got = [e for e in routes(receiver, route["prefix"]) if as_path(e) == path_of(route)]
    assert got and [65535, 0] in communities(got[0]), got


@pytest.mark.parametrize("asn,route", list(cases(lambda e: e == "not_to_64501")))
def test_do_not_announce_community_is_honoured(asn, route):
    assert not [e for e in routes("rs-member-64501", route["prefix"]) if as_path(e) == path_of(route)]
    got = [e for e in routes("rs-member-64502", route["prefix"]) if as_path(e) == path_of(route)]
    assert len(got) == len(ROUTE_SERVERS), "announced to the other members"
    # The control community is the route server's: scrubbed on the way out.
    assert not [tag for tag in large_communities(got[0]) if tag[:2] == [RS_ASN, 0]], got[0]


def _route_stats(details: str) -> dict[str, int]:
    m = re.search(r"Routes:\s+(\d+) imported, (?:(\d+) filtered, )?(\d+) exported", details)
    assert m, details
    return {"imported": int(m.group(1)), "filtered": int(m.group(2) or 0)}


@pytest.mark.parametrize("rs", ROUTE_SERVERS)
def test_max_prefix_counts_accepted_routes_and_blocks_over_the_limit(rs):
    limit = MEMBER_ADDR[65536]["max_prefix"]["ipv6"]
    announced = [r["prefix"] for r in FIXTURE[65536]["routes"] if r["expect"] == "max_prefix"]
    assert len(announced) > limit
    details = birdc(rs, "show protocols all AS65536_2")
    assert re.search(rf"Import limit:\s+{limit}\b", details), details
    assert re.search(rf"Receive limit:\s+{limit * 10}\b", details), details
    assert _route_stats(details)["imported"] == limit, details
    # The configured action (block): the session stays up.
    assert protocols(rs)["AS65536_2"]["state"] == "up"
    receiver_count = sum(
        1 for p in announced if any(as_path(e) == [65536] and e["from_protocol"].startswith(f"rs{rs[-1]}_") for e in routes("rs-member-64501", p))
    )
    assert receiver_count == limit


@pytest.mark.parametrize("rs", ROUTE_SERVERS)
def test_filtered_routes_never_push_valid_ones_out(rs):
    """AS64501 sends more filtered IPv6 routes than its limit: every valid one stays."""
    limit = MEMBER_ADDR[64501]["max_prefix"]["ipv6"]
    ipv6 = [r for r in FIXTURE[64501]["routes"] if family(r["prefix"]) == 6]
    invalid = [r for r in ipv6 if isinstance(r["expect"], int)]
    assert len(invalid) > limit > len(ipv6) - len(invalid), "the fixture must send more invalid routes than the limit"
    details = birdc(rs, "show protocols all AS64501_2")
    assert re.search(rf"Import limit:\s+{limit}\b", details), details
    assert _route_stats(details) == {"imported": len(ipv6) - len(invalid), "filtered": len(invalid)}, details
    assert protocols(rs)["AS64501_2"]["state"] == "up"


@pytest.mark.parametrize("rs", ROUTE_SERVERS)
def test_accepted_route_limits_exported_for_monitoring(rs):
    textfile = node(rs).file("/var/lib/prometheus/node-exporter/caribix_route_server_limits.prom")
    samples = dict(line.rsplit(" ", 1) for line in textfile.content_string.splitlines() if not line.startswith("#"))
    assert samples['caribix_route_server_import_limit{name="AS65536_2"}'] == str(MEMBER_ADDR[65536]["max_prefix"]["ipv6"])


# ------------------------------------------------------------------ change one member


def _since(text: str) -> dict[str, str]:
    return {name: row["since"] for name, row in parse_bgp_protocols(text).items()}


@pytest.mark.parametrize("rs", ROUTE_SERVERS)
def test_changing_one_member_resets_no_other_session(rs):
    before_file = node(rs).file("/var/tmp/caribix-rs-protocols-before.txt")
    if not before_file.exists:
        pytest.skip("side_effect (the second deploy) has not run")
    before = _since(before_file.content_string)
    after = _since(birdc(rs, "show protocols"))
    others = [n for n in before if not n.startswith("AS64502_")]
    assert len(others) == 6
    reset = {n: (before[n], after.get(n)) for n in others if before[n] != after.get(n)}
    assert not reset, f"{rs}: sessions reset by a change to another member: {reset}"
    # The change did reach BIRD, by reconfiguration, not by a restart.
    assert "import limit 120 action block" in node(rs).file("/etc/bird/bird.conf").content_string
    status_before = node(rs).file("/var/tmp/caribix-rs-status-before.txt").content_string
    status_after = birdc(rs, "show status")

    def stamp(text, label):
        return dt.datetime.fromisoformat(re.search(rf"{label} (\S+ \S+)", text).group(1))

    assert stamp(status_after, "Last reboot on") == stamp(status_before, "Last reboot on")
    assert stamp(status_after, "Last reconfiguration on") > stamp(status_before, "Last reconfiguration on")


def test_fixture_is_loaded_from_the_guadeloupe_inventory():
    # Guard against the scenario drifting from the island data it claims to use.
    assert os.path.islink(SCENARIO / "group_vars/all")
    assert EXCHANGE["island"] == "guadeloupe"


def test_config_bird_refuses_is_rolled_back_and_the_previous_one_runs():
    import json

    rs = "rs-gp-rs1"
    outcome = json.loads(node(rs).file("/var/tmp/caribix-rs-refused-deploy.json").content_string)
    assert outcome["failed"] is True, outcome
    assert "NOT applied" in outcome["message"] and "Unable to open log file" in outcome["message"], outcome
    # bird.conf is the one from before, BIRD did not reconfigure to the
    # candidate, and every session is up.
    before = node(rs).file("/var/tmp/caribix-rs-config-before-refused.txt").content_string.split()[0]
    assert node(rs).run("sha256sum /etc/bird/bird.conf").stdout.split()[0] == before
    assert "caribix-refused.log" in node(rs).file("/etc/bird/bird.conf.candidate").content_string
    assert "caribix-refused.log" not in node(rs).file("/etc/bird/bird.conf").content_string
    status_before = node(rs).file("/var/tmp/caribix-rs-status-before-refused.txt").content_string
    assert re.search(r"Last reboot on (\S+ \S+)", birdc(rs, "show status")).group(1) == re.search(
        r"Last reboot on (\S+ \S+)", status_before
    ).group(1)
    assert all(r["state"] == "up" for r in protocols(rs).values())


def test_readable_diff_inputs_are_on_the_route_server():
    clients = node("rs-gp-rs1").file("/etc/bird/route-server-inputs/clients.yml")
    assert clients.exists and "AS-ANTILLESFIBRE" in clients.content_string


@pytest.mark.parametrize("name", ROUTE_SERVERS)
def test_snapshot_timestamps_exported_for_monitoring(name):
    """The build wrote when each snapshot part was fetched, for CaribixSnapshotTooOld."""
    metadata = yaml.safe_load((SCENARIO / "snapshot" / "metadata.yml").read_text())
    textfile = node(name).file("/var/lib/prometheus/node-exporter/caribix_snapshot.prom")
    assert textfile.is_file and textfile.mode == 0o644
    samples = dict(line.rsplit(" ", 1) for line in textfile.content_string.splitlines() if not line.startswith("#"))
    assert samples == {
        # The fixture is example data: exported, marked, never alerted on.
        f'caribix_snapshot_timestamp_seconds{{part="{part}",example="true"}}': str(
            int(dt.datetime.fromisoformat(metadata["parts"][part]["fetched_at"].replace("Z", "+00:00")).timestamp())
        )
        for part in ("irr", "peeringdb", "rpki")
    }
