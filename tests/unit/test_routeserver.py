"""caribix.routeserver: arouteserver input, offline cache, post-processing, build."""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
from pathlib import Path

import pytest
import yaml

from caribix import birdcheck
from caribix import routeserver as rs

ROOT = Path(__file__).resolve().parents[2]
GP = ROOT / "inventories" / "guadeloupe" / "group_vars" / "all"
SNAPSHOT = ROOT / "snapshots" / "guadeloupe"
NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def members():
    return yaml.safe_load((GP / "members.yml").read_text())["members"]


@pytest.fixture
def exchange():
    return yaml.safe_load((GP / "exchange.yml").read_text())["exchange"]


def _meta(source="bgpq4", **ages_h):
    return {
        "island": "guadeloupe",
        "parts": {
            part: {"fetched_at": (NOW - dt.timedelta(hours=ages_h.get(part, 1))).isoformat(), "source": source}
            for part in rs.SNAPSHOT_PARTS
        },
    }


LIMITS = {p: {"warn": 24, "fail": 168} for p in rs.SNAPSHOT_PARTS}


# ---------------------------------------------------------------- snapshot age


def test_fresh_snapshot_passes_silently():
    assert rs.check_snapshot_age(_meta(), LIMITS, NOW) == []


def test_snapshot_past_warning_age_warns_per_part():
    warnings = rs.check_snapshot_age(_meta(irr=30), LIMITS, NOW)
    assert len(warnings) == 1 and "'irr' is 30.0 h old" in warnings[0]


def test_snapshot_past_failure_age_fails_and_says_how_to_refresh():
    with pytest.raises(rs.RouteServerBuildError) as failure:
        rs.check_snapshot_age(_meta(rpki=200), LIMITS, NOW)
    assert str(failure.value) == (
        "snapshot part 'rpki' is 200.0 h old (fetched 2026-11-18T04:00:00+00:00), over the 168 h limit: "
        "refresh it with `ansible-playbook -i inventories/guadeloupe playbooks/refresh_snapshots.yml`"
    )


def test_lab_mode_judges_fetched_parts_too():
    # Lab mode spares example data only: a fetched part in a lab is judged.
    with pytest.raises(rs.RouteServerBuildError, match=r"'irr' is 200.0 h old"):
        rs.check_snapshot_age(_meta(irr=200), LIMITS, NOW, lab_mode=True)


@pytest.mark.parametrize("years", [0, 1, 5, 30])
def test_example_data_on_a_lab_island_is_reported_not_judged(years):
    later = NOW + dt.timedelta(days=365 * years)
    notes = rs.check_snapshot_age(_meta(source="example", irr=200), LIMITS, later, lab_mode=True)
    assert len(notes) == 3
    assert notes[0].startswith("NOT JUDGED: snapshot part 'irr' is ")
    assert "example data (metadata.yml: source: example) on a lab island (caribix_lab_mode: true)" in notes[0]


def test_example_data_on_a_production_island_is_refused_even_when_recent():
    with pytest.raises(rs.RouteServerBuildError) as failure:
        rs.check_snapshot_age(_meta(source="example"), LIMITS, NOW, lab_mode=False)
    message = str(failure.value)
    assert message.count("is example data") == 3
    assert "island guadeloupe is not in lab mode: fetch it with `ansible-playbook -i inventories/guadeloupe playbooks/refresh_snapshots.yml`" in message


def test_snapshot_metrics_give_each_part_its_fetch_time():
    meta = _meta(irr=2)
    meta["parts"]["peeringdb"]["source"] = "example"
    lines = rs.snapshot_metrics(meta).splitlines()
    assert lines[0].startswith("# HELP caribix_snapshot_timestamp_seconds ")
    assert lines[1] == "# TYPE caribix_snapshot_timestamp_seconds gauge"
    assert lines[2:] == [
        f'caribix_snapshot_timestamp_seconds{{part="irr",example="false"}} {(NOW - dt.timedelta(hours=2)).timestamp():.0f}',
        f'caribix_snapshot_timestamp_seconds{{part="peeringdb",example="true"}} {(NOW - dt.timedelta(hours=1)).timestamp():.0f}',
        f'caribix_snapshot_timestamp_seconds{{part="rpki",example="false"}} {(NOW - dt.timedelta(hours=1)).timestamp():.0f}',
    ]


def test_snapshot_from_the_future_fails():
    with pytest.raises(rs.RouteServerBuildError, match="future"):
        rs.check_snapshot_age(_meta(peeringdb=-5), LIMITS, NOW)


def test_timestamp_without_zone_is_refused():
    with pytest.raises(rs.RouteServerBuildError, match="time zone"):
        rs.parse_timestamp("2026-11-26T04:00:00")


# ---------------------------------------------------------------- snapshot files


def test_committed_island_snapshots_load():
    for island in ("guadeloupe", "saint-martin", "saint-barthelemy"):
        snap = rs.load_snapshot(ROOT / "snapshots" / island)
        assert snap["irr"]["as_sets"] and snap["rpki"]["roas"]


def test_missing_snapshot_part_is_named(tmp_path):
    shutil.copytree(SNAPSHOT, tmp_path / "s")
    (tmp_path / "s" / "vrps.json").unlink()
    with pytest.raises(rs.RouteServerBuildError, match=r"vrps.json: missing snapshot part 'rpki'"):
        rs.load_snapshot(tmp_path / "s")


def test_bad_prefix_in_irr_snapshot_is_named(tmp_path):
    shutil.copytree(SNAPSHOT, tmp_path / "s")
    irr = json.loads((tmp_path / "s" / "irr.json").read_text())
    irr["route_objects"]["64500"].append("198.51.100.0/33")
    (tmp_path / "s" / "irr.json").write_text(json.dumps(irr))
    with pytest.raises(rs.RouteServerBuildError, match=r"route_objects.64500: bad prefix"):
        rs.load_snapshot(tmp_path / "s")


def test_missing_fetched_at_is_named(tmp_path):
    shutil.copytree(SNAPSHOT, tmp_path / "s")
    meta = yaml.safe_load((tmp_path / "s" / "metadata.yml").read_text())
    del meta["parts"]["irr"]["fetched_at"]
    (tmp_path / "s" / "metadata.yml").write_text(yaml.safe_dump(meta))
    with pytest.raises(rs.RouteServerBuildError, match=r"parts.irr.fetched_at missing"):
        rs.load_snapshot(tmp_path / "s")


# ---------------------------------------------------------------- clients / general


def test_only_route_server_members_become_clients(members):
    clients = rs.clients_config(members, "/etc/bird/s")["clients"]
    assert [c["asn"] for c in clients] == [64500, 64501, 64502, 65536]
    assert clients[0]["ip"] == ["192.0.2.10", "2001:db8:1::10"]
    assert clients[0]["cfg"]["filtering"]["irrdb"]["as_sets"] == ["AS-KARUKERA"]
    assert clients[0]["cfg"]["filtering"]["max_prefix"] == {"limit_ipv4": 50, "limit_ipv6": 20}


def test_password_is_an_include_never_the_secret(members):
    clients = rs.clients_config(members, "/etc/bird/s")["clients"]
    lines = clients[0]["cfg"]["custom_options"]["bird"]["any"]["protocol"]["config_lines"]
    assert lines == ['include "/etc/bird/s/AS64500-gp-as64500.conf";']
    assert "custom_options" not in clients[1]["cfg"]


def test_the_route_server_members_are_chosen_not_checked_again(members):
    """caribix.validate checks the members' fields before any build: the
    build chooses the route-server members and trusts them."""
    members[1]["route_server"] = False
    assert [m["asn"] for m in rs.rs_members(members)] == [m["asn"] for m in members if m.get("route_server")]
    for member in members:
        member["route_server"] = False
    with pytest.raises(rs.RouteServerBuildError, match="no member has route_server: true"):
        rs.rs_members(members)


def test_general_config_carries_the_policy(exchange):
    cfg = rs.general_config(exchange, "192.0.2.1", rs.policy_with_defaults({}))["cfg"]
    flt = cfg["filtering"]
    assert cfg["rs_as"] == 64496 and cfg["rpki_roas"] == {"source": "rtr"}
    assert flt["reject_policy"] == {"policy": "tag_and_reject"}
    assert flt["rpki_bgp_origin_validation"] == {"enabled": True, "reject_invalid": True}
    assert flt["roles"]["enabled"] is True
    assert flt["transit_free"]["action"] == "reject"
    assert {"prefix": "192.0.2.0", "length": 26, "le": 32, "comment": "CaribIX-GP peering LAN"} in flt[
        "global_black_list_pref"
    ]
    assert cfg["graceful_shutdown"] == {"enabled": True, "local_pref": 0}
    assert flt["max_prefix"]["count_rejected_routes"] is False
    assert flt["rpki_aspa_verification"] == {"enabled": True, "reject_invalid": True}
    assert cfg["rpki_aspas"]["source"] == "json"


def test_communities_follow_the_euroix_layout(exchange):
    comms = rs.general_config(exchange, "192.0.2.1", rs.policy_with_defaults({}))["cfg"]["communities"]
    # arouteserver's codes in 65520, Euro-IX codes in 1101 (reject_cause_map).
    assert comms["reject_cause"] == {"lrg": "rs_as:65520:dyn_val"}
    assert comms["reject_cause_map"][14] == {"lrg": "rs_as:1101:13"}  # RPKI invalid
    assert comms["reject_cause_map"][8] == {"lrg": "rs_as:1101:14"}  # transit-free ASN
    assert comms["reject_cause_map"][12] == {"lrg": "rs_as:1101:9"}  # prefix not in the AS-SET
    # Euro-IX RPKI states 1000:1-4.
    assert [comms[f"rpki_bgp_origin_validation_{s}"]["lrg"] for s in ("valid", "unknown", "not_performed", "invalid")] == [
        f"rs_as:1000:{n}" for n in (1, 2, 3, 4)
    ]
    # Nothing of ours in 1102, nothing else in 1000 or 1101.
    values = [c["lrg"] for c in comms.values() if "lrg" in c] + [c["lrg"] for c in comms["reject_cause_map"].values()]
    assert not [v for v in values if v.split(":")[1] == "1102"]
    assert not [n for n, c in comms.items() if "lrg" in c and c["lrg"].split(":")[1] in ("1000", "1101") and not n.startswith("rpki_bgp")]


@pytest.mark.parametrize(
    "change,message",
    [
        ({"max_prefix_action": "drop"}, "max_prefix_action: 'drop' is not one of block, restart, shutdown, warning"),
        ({"max_prefix_receive_action": "ignore"}, "max_prefix_receive_action: 'ignore' is not one of"),
        ({"max_prefix_receive_factor": 1}, "max_prefix_receive_factor: an integer >= 2"),
    ],
)
def test_bad_limit_settings_are_named(exchange, change, message):
    with pytest.raises(rs.RouteServerBuildError, match=message):
        rs.general_config(exchange, "192.0.2.1", rs.policy_with_defaults(change))


def test_unknown_policy_key_is_refused():
    with pytest.raises(rs.RouteServerBuildError, match=r"route_server_policy.max_prefx: unknown"):
        rs.policy_with_defaults({"max_prefx": 3})


# ---------------------------------------------------------------- bogons / ASNs


def _bogon_nets(bogons):
    import netaddr

    return netaddr.IPSet(f"{b['prefix']}/{b['length']}" for b in bogons["bogons"] if not b.get("exact"))


def test_lab_carves_exactly_its_announced_ranges_out_of_the_bogons():
    lab = ["198.51.100.0/24", "203.0.113.0/24", "2001:db8:1000::/36"]
    carved = _bogon_nets(rs.bogons_config(lab))
    full = _bogon_nets(rs.bogons_config([]))
    import netaddr

    assert full - carved == netaddr.IPSet(lab)
    # Every other documentation range is still a bogon.
    for still in ("192.0.2.0/24", "2001:db8::/36", "2001:db8:2000::/48"):
        assert netaddr.IPNetwork(still) in carved


def test_lab_relaxes_invalid_asns_for_its_own_asns_only():
    config = "function x {\n\tinvalid_asns = [\n\t\t64496..64511,\n\t];\n}\n"
    out = rs.relax_invalid_asns(config, {64500, 65536})
    assert "64496..64499" in out and "64501..64511" in out and "65537..65551" in out
    assert "64500" not in out.replace("64496..64499", "").replace("64501..64511", "")
    assert "4200000000..4294967294" in out


def test_relaxing_fails_if_the_asn_list_moved():
    with pytest.raises(rs.RouteServerBuildError, match="invalid_asns"):
        rs.relax_invalid_asns("nothing here", {64500})


# ---------------------------------------------------------------- cache


def test_cache_is_seeded_in_arouteserver_format(tmp_path, members):
    snap = rs.load_snapshot(SNAPSHOT)
    rs.seed_cache(tmp_path, members, snap, now=1000, longer_prefixes=False)
    as_set = json.loads((tmp_path / "AS_KARUKERA-as_set.json").read_text())
    assert as_set == {"ts": 1000, "data": [64500, 64510]}
    # The AS-SET bundle holds the route objects of every ASN in it ...
    v6 = json.loads((tmp_path / "AS_KARUKERA-r_set-ipv6.json").read_text())["data"]
    assert {"prefix": "2001:db8:1010::", "length": 44, "exact": True, "ge": None, "le": None} in v6
    # ... the AS<asn> bundle only the member's own.
    own = json.loads((tmp_path / "AS64500-r_set-ipv6.json").read_text())["data"]
    assert [p["prefix"] for p in own] == ["2001:db8:1000::"]
    pdb = json.loads((tmp_path / "peeringdb_net_64500.json").read_text())["data"][0]
    assert pdb["info_prefixes4"] == 25  # snapshots/guadeloupe/peeringdb.json
    never = json.loads((tmp_path / "peeringdb_neverviarouteservers.json").read_text())["data"]
    assert never == [{"asn": 64499}]


def test_more_specifics_are_seeded_as_bgpq4_dash_r_answers(tmp_path, members):
    rs.seed_cache(tmp_path, members, rs.load_snapshot(SNAPSHOT), now=1000, longer_prefixes=True)
    v4 = json.loads((tmp_path / "AS64500-r_set-ipv4_and_more_specific.json").read_text())["data"]
    assert v4 == [{"prefix": "198.51.100.0", "length": 24, "exact": False, "ge": 24, "le": 32}]


def test_as_set_missing_from_snapshot_is_named(tmp_path, members):
    snap = rs.load_snapshot(SNAPSHOT)
    del snap["irr"]["as_sets"]["AS-BASSETERRE"]
    with pytest.raises(rs.RouteServerBuildError, match=r"Basse-Terre Networks.*AS-BASSETERRE is not in the IRR snapshot"):
        rs.seed_cache(tmp_path, members, snap)


def test_unique_roas_are_counted_like_bird_tables():
    vrps = {
        "roas": [
            {"asn": 64500, "prefix": "198.51.100.0/24", "maxLength": 24},
            {"asn": "AS64500", "prefix": "198.51.100.0/24", "maxLength": 24},
            {"asn": 64501, "prefix": "198.51.100.0/24", "maxLength": 24},
        ]
    }
    assert rs.count_unique_roas(vrps) == 2


# ---------------------------------------------------------------- full build


def _build(tmp_path, exchange, members, shared_cache=None, **extra):
    data = {
        "exchange": exchange,
        "members": members,
        "router_id": "192.0.2.1",
        "lab_mode": True,
        "policy": {"lab_member_prefixes": ["198.51.100.0/24", "203.0.113.0/24", "2001:db8:1000::/36"]},
    }
    data.update(extra)
    return rs.build(data, SNAPSHOT, tmp_path, shared_cache=shared_cache)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    exchange = yaml.safe_load((GP / "exchange.yml").read_text())["exchange"]
    members = yaml.safe_load((GP / "members.yml").read_text())["members"]
    return _build(tmp_path_factory.mktemp("b"), exchange, members)


def test_build_is_offline_and_complete(built):
    config = built.config
    assert built.expected_bgp_sessions == 8 == rs.count_bgp_protocols(config)
    assert "protocol rpki RPKI_stayrtr" in config and "remote 127.0.0.1 port 8282;" in config
    assert "include " not in config.replace('include "/etc/bird/route-server-secrets/', "")
    assert "hook_pre_receive_from_client" in config
    assert "(rs_as, 65520, 100)" in config and "(rs_as, 1101, 15)" in config  # too many communities
    # Max-prefix counts accepted routes; the receive limit is 10 x higher.
    assert "import limit 50 action block;\n\treceive limit 500 action restart;" in config
    assert config.count("import limit") == config.count("receive limit") == 8
    assert "1102" not in config.replace("1101", "")
    assert "local role rs_server;" in config
    assert "import keep filtered on;" in config
    assert "bgp_path ~ [64499]" in config  # never via route servers, from PeeringDB snapshot
    assert 'log "/var/log/bird.log"' not in config


def test_build_is_deterministic(tmp_path, exchange, members, built):
    assert _build(tmp_path / "a", exchange, members).config == built.config
    # arouteserver's inputs too: --check --diff shows them.
    _build(tmp_path / "b", exchange, members)
    for name in ("general.yml", "clients.yml", "bogons.yml"):
        assert (tmp_path / "a" / name).read_text() == (tmp_path / "b" / name).read_text(), name


def test_the_second_route_server_reuses_the_first_build_with_its_own_router_id(tmp_path, exchange, members, built):
    """--shared-cache: rs2's config is exactly what its own full build gives."""
    shared = tmp_path / "shared"
    first = _build(tmp_path / "rs1", exchange, members, shared_cache=shared)
    assert first.config == built.config and "shared_build" not in first.timings
    second = _build(tmp_path / "rs2", exchange, members, router_id="192.0.2.2", shared_cache=shared)
    assert second.timings.get("shared_build") == 1, "the second build did not reuse the first"
    alone = _build(tmp_path / "rs2-alone", exchange, members, router_id="192.0.2.2")
    assert second.config == alone.config
    assert (second.expected_bgp_sessions, second.limit_metrics) == (alone.expected_bgp_sessions, alone.limit_metrics)
    for name in ("general.yml", "clients.yml", "bogons.yml"):
        assert (tmp_path / "rs2" / name).read_text() == (tmp_path / "rs2-alone" / name).read_text(), name
    # Anything else that differs (here: draining one route server) is a build of its own.
    drained = _build(tmp_path / "rs2-drained", exchange, members, router_id="192.0.2.2", graceful_shutdown=True, shared_cache=shared)
    assert "shared_build" not in drained.timings and "GRACEFUL SHUTDOWN" in drained.config


def test_arouteserver_runner_gives_arouteserver_own_output(tmp_path, exchange, members, built):
    """caribix.arouteserver_run (libyaml, parsed prefixes remembered) changes no byte."""
    _build(tmp_path, exchange, members)
    program_cfg = tmp_path / "arouteserver.yml"
    args = ["--local-files-dir", rs.LOCAL_FILES_MARKER, "--use-local-files", "header", "--use-hooks", "pre_receive_from_client"]
    rs.seed_cache(tmp_path / "cache", members, rs.load_snapshot(SNAPSHOT))
    rs.run_arouteserver(program_cfg, tmp_path / "own.conf", args, module="pierky.arouteserver.cli")
    rs.run_arouteserver(program_cfg, tmp_path / "ours.conf", args)
    strip = rs.strip_build_timestamps
    assert strip((tmp_path / "ours.conf").read_text()) == strip((tmp_path / "own.conf").read_text())


def test_cache_miss_fails_instead_of_going_online(tmp_path, exchange, members):
    members.append(dict(members[0], asn=64509, as_set="AS-UNKNOWN", name="Newcomer", ipv4="192.0.2.20", ipv6="2001:db8:1::20"))
    with pytest.raises(rs.RouteServerBuildError, match="AS-UNKNOWN is not in the IRR snapshot"):
        _build(tmp_path, exchange, members)


def test_graceful_shutdown_of_one_route_server(tmp_path, exchange, members, built):
    drained = _build(tmp_path, exchange, members, graceful_shutdown=True).config
    assert "GRACEFUL SHUTDOWN of this route server is ON" in drained
    assert drained.count("bgp_community.add((65535, 0))") > built.config.count("bgp_community.add((65535, 0))")


def test_prefix_length_rejects_carry_euroix_too_long_or_too_short(built):
    config = built.config
    assert config.count("if net.len > 24 then bgp_large_community.add((rs_as, 1101, 1)); "
                        "else bgp_large_community.add((rs_as, 1101, 2)); tag_and_reject(13, ") == 4


def test_limit_metrics_name_each_session(built):
    assert 'caribix_route_server_import_limit{name="AS64500_1"} 50\n' in built.limit_metrics
    assert built.limit_metrics.count("caribix_route_server_import_limit{") == 8


def test_aspas_come_from_the_snapshot(tmp_path, exchange, members):
    snapshot = tmp_path / "snapshot"
    shutil.copytree(SNAPSHOT, snapshot)
    vrps = json.loads((snapshot / "vrps.json").read_text())
    vrps["aspas"] = [{"customer_asid": 64510, "providers": [64500, 64501]}]
    (snapshot / "vrps.json").write_text(json.dumps(vrps))
    data = {"exchange": exchange, "members": members, "router_id": "192.0.2.1", "lab_mode": True}
    config = rs.build(data, snapshot, tmp_path / "w").config
    assert "route aspa 64510 providers 64500, 64501;" in config
    assert "aspa_check_upstream(ASPA)" in config


def test_snapshot_without_aspas_is_named(tmp_path):
    snapshot = tmp_path / "snapshot"
    shutil.copytree(SNAPSHOT, snapshot)
    vrps = json.loads((snapshot / "vrps.json").read_text())
    del vrps["aspas"]
    (snapshot / "vrps.json").write_text(json.dumps(vrps))
    with pytest.raises(rs.RouteServerBuildError, match=r"vrps.json: needs a list 'aspas'"):
        rs.load_snapshot(snapshot)


def _secrets(directory: Path, members) -> Path:
    directory.mkdir(exist_ok=True)
    for member in members:
        if member.get("route_server") and member.get("bgp_password_vault_key"):
            (directory / rs.secret_file_name(member)).write_text('authentication md5;\npassword "x";\n')
    return directory


def test_route_servers_bird_parses_the_build(tmp_path, built, members):
    secrets = _secrets(tmp_path / "secrets", members)
    conf = tmp_path / "bird.conf"
    conf.write_text(built.config.replace("/etc/bird/route-server-secrets", str(secrets)))
    seconds, proc = birdcheck.parse(conf, [secrets])
    assert proc.returncode == 0, proc.stderr
    # No warning either: BIRD 2.17 names what it had to assume.
    assert proc.stderr == "", proc.stderr


def test_cli_reads_stdin_and_reports_json(tmp_path, exchange, members, monkeypatch, capsys):
    data = {
        "exchange": exchange,
        "members": members,
        "router_id": "192.0.2.2",
        "lab_mode": True,
    }
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(data)))
    rc = rs.main(["build", "--input", "-", "--snapshot-dir", str(SNAPSHOT), "--output-dir", str(tmp_path)])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["expected_bgp_sessions"] == 8 and out["expected_roas"] == 2
    assert out["limit_metrics"].startswith("# HELP caribix_route_server_import_limit")
    assert out["snapshot_metrics"] == rs.snapshot_metrics(rs.load_snapshot(SNAPSHOT)["metadata"])
    assert [w.split(":")[0] for w in out["warnings"]] == ["NOT JUDGED"] * 3
    assert (tmp_path / "bird.conf").read_text().startswith("# Built by caribix.routeserver")


def test_cli_reports_errors_as_json(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps({"exchange": {}, "members": [], "router_id": "x"})))
    rc = rs.main(["build", "--input", "-", "--snapshot-dir", str(SNAPSHOT), "--output-dir", str(tmp_path)])
    out = json.loads(capsys.readouterr().out)
    assert rc == 1 and out["failed"] and "router_id" in out["msg"]


ISLAND_ROUTE_SERVERS = [
    (island, host)
    for island, prefix in (("guadeloupe", "gp"), ("saint-martin", "sxm"), ("saint-barthelemy", "sbh"))
    for host in (f"{prefix}-rs1", f"{prefix}-rs2")
]


@pytest.mark.parametrize("island,host", ISLAND_ROUTE_SERVERS)
def test_every_island_route_server_builds_from_its_own_data(tmp_path, island, host):
    """Both route servers of each island, from the committed inventory and snapshot, parse in BIRD.

    The shared policy's real age limits apply: the example snapshots build
    whatever the date, because lab islands do not judge example data.
    """
    inventory = ROOT / "inventories" / island
    group_vars = inventory / "group_vars" / "all"
    shared_policy = yaml.safe_load((ROOT / "group_vars" / "all" / "route_servers.yml").read_text())["route_server_policy"]
    host_vars = yaml.safe_load((inventory / "host_vars" / f"{host}.yml").read_text())
    members = yaml.safe_load((group_vars / "members.yml").read_text())["members"]
    data = {
        "exchange": yaml.safe_load((group_vars / "exchange.yml").read_text())["exchange"],
        "members": members,
        "router_id": host_vars["router_id"],
        "lab_mode": yaml.safe_load((group_vars / "exchange.yml").read_text()).get("caribix_lab_mode", False),
        "secrets_dir": str(tmp_path / "secrets"),
        "policy": shared_policy,
    }
    result = rs.build(data, ROOT / "snapshots" / island, tmp_path / "work")
    assert f"router id {host_vars['router_id']};" in result.config
    secrets = _secrets(tmp_path / "secrets", members)
    conf = tmp_path / "bird.conf"
    conf.write_text(result.config)
    seconds, proc = birdcheck.parse(conf, [secrets])
    assert proc.returncode == 0, proc.stderr
