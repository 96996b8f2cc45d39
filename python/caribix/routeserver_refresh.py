"""Refresh an island's route-server snapshot when the island is online.

Writes ``snapshots/<island>/`` (the input of caribix.routeserver):

* ``irr.json``: each member AS-SET expanded to ASNs (``bgpq4 -f 1``) and
  each of those ASNs' route objects (``bgpq4 -4/-6 -l pl AS<n>``);
* ``peeringdb.json``: PeeringDB ``net`` records of the members (prefix
  counts for max-prefix) and every network flagged never-via-route-servers;
* ``vrps.json``: a validator's VRP export (rpki-client JSON), reduced to
  the ROAs that overlap the members' IRR prefixes (every other route is
  rejected by the IRR prefix filter anyway, so those ROAs cannot matter;
  this keeps a committed file small);
* ``metadata.yml``: when and from where each part was fetched.

A part that cannot be fetched keeps its previous file and timestamp (the
build's age check then warns, then fails): an outage never empties a
snapshot. Network access is injected (``run_bgpq4``, ``http_get``) so the
parsing is unit-tested on recorded outputs.

    python -m caribix.routeserver_refresh --members-file members.json \\
        --snapshot-dir snapshots/guadeloupe --vrps-url https://.../vrps.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any, Callable

import netaddr
import yaml

from caribix.routeserver import SNAPSHOT_PARTS, rs_members

PEERINGDB_API = "https://www.peeringdb.com/api"
DEFAULT_BGPQ4_HOST = "rr.ntt.net"
DEFAULT_IRR_SOURCES = "RIPE,APNIC,AFRINIC,ARIN,LACNIC,NTTCOM,ALTDB,RADB"


class RefreshError(Exception):
    """A part could not be fetched or parsed."""


Runner = Callable[[list[str]], str]
Getter = Callable[[str], str]


def bgpq4_runner(host: str, sources: str, timeout: int = 120) -> Runner:
    def run(args: list[str]) -> str:
        cmd = ["bgpq4", "-h", host, "-S", sources, "-j"] + args
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RefreshError(f"{' '.join(cmd)}: {exc}") from exc
        if proc.returncode != 0:
            raise RefreshError(f"{' '.join(cmd)}: exit {proc.returncode}: {proc.stderr.strip()}")
        return proc.stdout

    return run


def http_getter(timeout: int = 60, api_key: str | None = None) -> Getter:
    def get(url: str) -> str:
        request = urllib.request.Request(url, headers={"User-Agent": "caribix-routeserver-refresh"})
        if api_key:
            request.add_header("Authorization", f"Api-Key {api_key}")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (https URLs from config)
                return response.read().decode()
        except OSError as exc:
            raise RefreshError(f"GET {url}: {exc}") from exc

    return get


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise RefreshError(f"{what}: not JSON: {exc}") from exc


def parse_bgpq4_asns(text: str, as_set: str) -> list[int]:
    data = _json(text, f"bgpq4 {as_set}")
    asns = data.get("asn_list") if isinstance(data, dict) else None
    if not isinstance(asns, list) or not all(isinstance(a, int) for a in asns):
        raise RefreshError(f"bgpq4 {as_set}: expected {{'asn_list': [ASNs]}}")
    return sorted(set(asns))


def parse_bgpq4_prefixes(text: str, asn: int) -> list[str]:
    data = _json(text, f"bgpq4 AS{asn}")
    entries = data.get("pl") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise RefreshError(f"bgpq4 AS{asn}: expected {{'pl': [...]}}")
    prefixes = []
    for entry in entries:
        try:
            prefixes.append(str(netaddr.IPNetwork(entry["prefix"]).cidr))
        except (KeyError, TypeError, netaddr.AddrFormatError, ValueError) as exc:
            raise RefreshError(f"bgpq4 AS{asn}: bad entry {entry!r}") from exc
    return prefixes


def fetch_irr(members: list[dict[str, Any]], run_bgpq4: Runner) -> dict[str, Any]:
    as_sets: dict[str, list[int]] = {}
    for member in rs_members(members):
        name = member["as_set"]
        if name.upper().startswith("AS") and name[2:].isdigit():
            as_sets[name] = [int(name[2:])]
        else:
            as_sets[name] = parse_bgpq4_asns(run_bgpq4(["-f", "1", "-l", "asn_list", name]), name)
    route_objects: dict[str, list[str]] = {}
    for asn in sorted({a for asns in as_sets.values() for a in asns} | {m["asn"] for m in rs_members(members)}):
        prefixes = []
        for family in ("-4", "-6"):
            prefixes += parse_bgpq4_prefixes(run_bgpq4([family, "-l", "pl", f"AS{asn}"]), asn)
        route_objects[str(asn)] = prefixes
    return {"as_sets": as_sets, "route_objects": route_objects}


def parse_peeringdb_nets(text: str) -> list[dict[str, Any]]:
    data = _json(text, "PeeringDB net")
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise RefreshError("PeeringDB net: expected {'data': [...]}")
    return data["data"]


def fetch_peeringdb(members: list[dict[str, Any]], http_get: Getter) -> dict[str, Any]:
    asns = sorted({m["asn"] for m in rs_members(members)})
    networks: dict[str, dict[str, Any]] = {}
    for net in parse_peeringdb_nets(http_get(f"{PEERINGDB_API}/net?asn__in={','.join(map(str, asns))}")):
        networks[str(net["asn"])] = {
            "info_prefixes4": net.get("info_prefixes4"),
            "info_prefixes6": net.get("info_prefixes6"),
            "irr_as_set": net.get("irr_as_set") or "",
            "info_never_via_route_servers": bool(net.get("info_never_via_route_servers")),
        }
    for net in parse_peeringdb_nets(http_get(f"{PEERINGDB_API}/net?info_never_via_route_servers=1")):
        entry = networks.setdefault(str(net["asn"]), {"info_prefixes4": None, "info_prefixes6": None, "irr_as_set": ""})
        entry["info_never_via_route_servers"] = True
    return {"networks": networks}


def filter_vrps(vrps: dict[str, Any], irr: dict[str, Any]) -> dict[str, Any]:
    """Keep the ROAs that overlap (cover or are covered by) an IRR prefix,
    and every ASPA (AS path verification needs the providers of any ASN on
    a member's paths; the whole set is small)."""
    if not isinstance(vrps, dict) or not isinstance(vrps.get("roas"), list):
        raise RefreshError("VRP export: expected rpki-client JSON with a 'roas' list")
    wanted = netaddr.IPSet(p for prefixes in irr["route_objects"].values() for p in prefixes)
    kept = []
    for roa in vrps["roas"]:
        try:
            net = netaddr.IPNetwork(roa["prefix"])
            asn = int(str(roa["asn"]).upper().removeprefix("AS"))
            max_len = int(roa.get("maxLength", net.prefixlen))
        except (KeyError, ValueError, TypeError, netaddr.AddrFormatError) as exc:
            raise RefreshError(f"VRP export: bad ROA {roa!r}") from exc
        if wanted & netaddr.IPSet([net]):
            kept.append({"asn": asn, "prefix": str(net.cidr), "maxLength": max_len, "ta": roa.get("ta", "")})
    metadata = dict(vrps.get("metadata") or {})
    metadata["roas"] = len(kept)
    aspas = vrps.get("aspas", [])
    if not isinstance(aspas, list):
        raise RefreshError("VRP export: 'aspas' must be a list (rpki-client JSON)")
    metadata["aspas"] = len(aspas)
    return {"metadata": metadata, "roas": kept, "aspas": aspas}


def refresh(
    snapshot_dir: Path,
    island: str,
    members: list[dict[str, Any]],
    parts: list[str],
    run_bgpq4: Runner,
    http_get: Getter,
    vrps_url: str,
    now: dt.datetime | None = None,
) -> dict[str, str]:
    """Refresh the named parts; return {part: 'ok' | error message}."""
    now = now or dt.datetime.now(dt.timezone.utc)
    snapshot_dir.mkdir(parents=True, exist_ok=True)
    meta_path = snapshot_dir / "metadata.yml"
    metadata = yaml.safe_load(meta_path.read_text()) if meta_path.exists() else {}
    metadata = metadata or {}
    metadata["island"] = island
    metadata.setdefault("parts", {})
    status: dict[str, str] = {}
    irr: dict[str, Any] | None = None
    stamp = now.replace(microsecond=0).isoformat().replace("+00:00", "Z")

    def write(name: str, data: Any) -> None:
        tmp = snapshot_dir / f".{name}.tmp"
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        tmp.replace(snapshot_dir / name)

    for part in parts:
        if part not in SNAPSHOT_PARTS:
            raise RefreshError(f"unknown snapshot part {part!r} (known: {', '.join(SNAPSHOT_PARTS)})")
        try:
            if part == "irr":
                irr = fetch_irr(members, run_bgpq4)
                write("irr.json", irr)
                source = "bgpq4"
            elif part == "peeringdb":
                write("peeringdb.json", fetch_peeringdb(members, http_get))
                source = PEERINGDB_API
            else:
                if irr is None:
                    irr_path = snapshot_dir / "irr.json"
                    if not irr_path.exists():
                        raise RefreshError("the rpki part needs irr.json (refresh irr first)")
                    irr = json.loads(irr_path.read_text())
                write("vrps.json", filter_vrps(_json(http_get(vrps_url), vrps_url), irr))
                source = vrps_url
        except RefreshError as exc:
            status[part] = str(exc)
            continue
        metadata["parts"][part] = {"fetched_at": stamp, "source": source}
        status[part] = "ok"
    meta_path.write_text("---\n" + yaml.safe_dump(metadata, sort_keys=True))
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m caribix.routeserver_refresh", description=__doc__.split("\n")[0])
    parser.add_argument("--members-file", required=True, help="JSON or YAML with 'island' and 'members' ('-': stdin)")
    parser.add_argument("--snapshot-dir", required=True)
    parser.add_argument("--parts", default=",".join(SNAPSHOT_PARTS))
    parser.add_argument("--vrps-url", default="https://console.rpki-client.org/vrps.json")
    parser.add_argument("--bgpq4-host", default=DEFAULT_BGPQ4_HOST)
    parser.add_argument("--irr-sources", default=DEFAULT_IRR_SOURCES)
    parser.add_argument("--peeringdb-api-key", default=None)
    args = parser.parse_args(argv)

    raw = sys.stdin.read() if args.members_file == "-" else Path(args.members_file).read_text()
    data = yaml.safe_load(raw)
    status = refresh(
        Path(args.snapshot_dir),
        data["island"],
        data["members"],
        [p.strip() for p in args.parts.split(",") if p.strip()],
        bgpq4_runner(args.bgpq4_host, args.irr_sources),
        http_getter(api_key=args.peeringdb_api_key),
        args.vrps_url,
    )
    print(json.dumps(status))
    return 0 if all(v == "ok" for v in status.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
