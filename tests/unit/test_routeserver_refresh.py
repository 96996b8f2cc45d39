"""caribix.routeserver_refresh on recorded bgpq4 / PeeringDB / rpki-client outputs."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import yaml

from caribix import routeserver as rs
from caribix import routeserver_refresh as refresh

DATA = Path(__file__).parent / "data" / "routeserver_refresh"
NOW = dt.datetime(2026, 11, 26, 5, 0, tzinfo=dt.timezone.utc)
MEMBERS = [
    {"name": "Karukera Telecom", "asn": 64500, "as_set": "AS-KARUKERA", "ipv4": "192.0.2.10", "ipv6": "2001:db8:1::10",
     "route_server": True},
    {"name": "Bilateral only", "asn": 64503, "as_set": "AS-CCC", "ipv4": "192.0.2.14", "route_server": False},
]


def recorded(name: str) -> str:
    return (DATA / name).read_text()


def fake_bgpq4(args: list[str]) -> str:
    if args[:4] == ["-f", "1", "-l", "asn_list"]:
        return recorded(f"bgpq4-asn_list-{args[4]}.json")
    family, _, _, obj = args
    path = DATA / f"bgpq4-pl-{family[1]}-{obj}.json"
    return path.read_text() if path.exists() else recorded("bgpq4-pl-empty.json")


def fake_http(url: str) -> str:
    if "info_never_via_route_servers=1" in url:
        return recorded("peeringdb-net-never-via-rs.json")
    if "asn__in=64500" in url:
        return recorded("peeringdb-net-members.json")
    if url.endswith("vrps.json"):
        return recorded("rpki-client-vrps.json")
    raise refresh.RefreshError(f"GET {url}: unreachable")


def offline(url: str) -> str:
    raise refresh.RefreshError(f"GET {url}: [Errno 101] Network is unreachable")


def test_full_refresh_writes_a_snapshot_the_build_accepts(tmp_path):
    status = refresh.refresh(tmp_path, "guadeloupe", MEMBERS, list(rs.SNAPSHOT_PARTS), fake_bgpq4, fake_http,
                             "https://rpki.example/vrps.json", now=NOW)
    assert status == {"irr": "ok", "peeringdb": "ok", "rpki": "ok"}
    snap = rs.load_snapshot(tmp_path)
    assert snap["irr"]["as_sets"] == {"AS-KARUKERA": [64500, 64510]}
    assert snap["irr"]["route_objects"]["64500"] == ["198.51.100.0/24", "2001:db8:1000::/44"]
    assert snap["irr"]["route_objects"]["64510"] == []
    assert snap["peeringdb"]["networks"]["64500"]["info_prefixes4"] == 25
    assert snap["peeringdb"]["networks"]["64499"]["info_never_via_route_servers"] is True
    assert snap["metadata"]["parts"]["rpki"] == {"fetched_at": "2026-11-26T05:00:00Z", "source": "https://rpki.example/vrps.json"}
    assert rs.check_snapshot_age(snap["metadata"], {"irr": {"warn": 1, "fail": 2}}, NOW) == []


def test_vrps_are_reduced_to_roas_overlapping_irr_prefixes(tmp_path):
    refresh.refresh(tmp_path, "guadeloupe", MEMBERS, list(rs.SNAPSHOT_PARTS), fake_bgpq4, fake_http,
                    "https://rpki.example/vrps.json", now=NOW)
    roas = json.loads((tmp_path / "vrps.json").read_text())["roas"]
    # 192.0.2.0/24 overlaps no member route object; a covering /36 is kept.
    assert [(r["prefix"], r["asn"]) for r in roas] == [("198.51.100.0/24", 64500), ("2001:db8:1000::/36", 64510)]
    assert rs.count_unique_roas({"roas": roas}) == 2


def test_outage_keeps_the_previous_part_and_its_timestamp(tmp_path):
    refresh.refresh(tmp_path, "guadeloupe", MEMBERS, list(rs.SNAPSHOT_PARTS), fake_bgpq4, fake_http,
                    "https://rpki.example/vrps.json", now=NOW)
    before = (tmp_path / "peeringdb.json").read_text()
    later = NOW + dt.timedelta(days=2)
    status = refresh.refresh(tmp_path, "guadeloupe", MEMBERS, ["peeringdb", "rpki"], fake_bgpq4, offline,
                             "https://rpki.example/vrps.json", now=later)
    assert status["peeringdb"].endswith("Network is unreachable") and status["rpki"] != "ok"
    assert (tmp_path / "peeringdb.json").read_text() == before
    meta = yaml.safe_load((tmp_path / "metadata.yml").read_text())
    assert meta["parts"]["peeringdb"]["fetched_at"] == "2026-11-26T05:00:00Z"
    # Two days without RPKI data: the build warns, and after a week fails.
    limits = {"rpki": {"warn": 24, "fail": 168}}
    assert "'rpki' is 48.0 h old" in rs.check_snapshot_age(meta, limits, later)[0]
    with pytest.raises(rs.RouteServerBuildError):
        rs.check_snapshot_age(meta, limits, NOW + dt.timedelta(days=8))


@pytest.mark.parametrize(
    "text,message",
    [
        ("not json", "not JSON"),
        ('{"asn_list": ["x"]}', "expected"),
    ],
)
def test_bad_bgpq4_asn_output_is_refused(text, message):
    with pytest.raises(refresh.RefreshError, match=message):
        refresh.parse_bgpq4_asns(text, "AS-X")


def test_bad_bgpq4_prefix_is_refused():
    with pytest.raises(refresh.RefreshError, match="bad entry"):
        refresh.parse_bgpq4_prefixes('{"pl": [{"prefix": "198.51.100.0/33"}]}', 64500)


def test_bad_vrp_export_is_refused():
    with pytest.raises(refresh.RefreshError, match="rpki-client JSON"):
        refresh.filter_vrps({"roa": []}, {"route_objects": {}})


def test_unknown_part_is_refused(tmp_path):
    with pytest.raises(refresh.RefreshError, match="unknown snapshot part 'bgp'"):
        refresh.refresh(tmp_path, "gp", MEMBERS, ["bgp"], fake_bgpq4, fake_http, "u", now=NOW)


def test_as_set_that_is_an_asn_needs_no_query():
    members = [dict(MEMBERS[0], as_set="AS64500")]

    def no_set_queries(args):
        assert "asn_list" not in args
        return fake_bgpq4(args)

    assert refresh.fetch_irr(members, no_set_queries)["as_sets"] == {"AS64500": [64500]}


def test_rpki_without_irr_fails_cleanly(tmp_path):
    status = refresh.refresh(tmp_path, "gp", MEMBERS, ["rpki"], fake_bgpq4, fake_http, "https://rpki.example/vrps.json", now=NOW)
    assert "needs irr.json" in status["rpki"]


def test_refresh_playbook_runs_the_refresh_for_the_island(tmp_path):
    """playbooks/refresh_snapshots.yml end to end for the part that works offline (file:// VRPs)."""
    import shutil
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    snap = tmp_path / "guadeloupe"
    shutil.copytree(root / "snapshots" / "guadeloupe", snap)
    ansible = Path(sys.executable).parent / "ansible-playbook"
    proc = subprocess.run(
        [str(ansible), "-i", "inventories/guadeloupe", "playbooks/refresh_snapshots.yml",
         "-e", "refresh_snapshot_parts=rpki",
         "-e", f"refresh_snapshot_vrps_url=file://{DATA / 'rpki-client-vrps.json'}",
         "-e", f"refresh_snapshot_dir={snap}"],
        cwd=root, capture_output=True, text=True, check=False, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    meta = yaml.safe_load((snap / "metadata.yml").read_text())
    assert meta["parts"]["rpki"]["source"].startswith("file://")
    # The IRR part was not asked for: kept as it was.
    assert meta["parts"]["irr"]["source"] == "example"
    roas = json.loads((snap / "vrps.json").read_text())["roas"]
    assert ("198.51.100.0/24", 64500) in [(r["prefix"], r["asn"]) for r in roas]
