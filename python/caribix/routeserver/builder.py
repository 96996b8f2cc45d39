"""One route server's build: arouteserver run offline on the prepared
inputs, its output post-processed, and shared between the two route
servers of an island (--shared-cache)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import netaddr
import yaml

from caribix.routeserver.birdconf import (
    LOCAL_FILES_MARKER,
    add_receive_limits,
    count_bgp_protocols,
    count_unique_roas,
    hook_config,
    inline_local_files,
    lab_asns,
    limit_metrics,
    quieten_logging,
    relax_invalid_asns,
    rtr_config,
    split_prefix_length_reject,
    strip_build_timestamps,
)
from caribix.routeserver.cache import seed_cache
from caribix.routeserver.clients import bogons_config, clients_config, general_config, rs_members
from caribix.routeserver.policy import ASPA_FILE, BIRD_TARGET_VERSION, RouteServerBuildError, policy_with_defaults
from caribix.routeserver.snapshot import SNAPSHOT_PARTS, check_snapshot_age, load_snapshot, snapshot_metrics


@dataclass
class BuildResult:
    config: str
    expected_bgp_sessions: int
    expected_roas: int = 0
    warnings: list[str] = field(default_factory=list)
    snapshot_metrics: str = ""
    limit_metrics: str = ""
    clients: dict[str, Any] = field(default_factory=dict)
    general: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


def write_inputs(workdir: Path, general: dict, clients: dict, bogons: dict, cache_dir: Path) -> Path:
    import pierky.arouteserver as ars

    package = Path(ars.__file__).parent
    program_cfg = {
        "cfg_dir": str(workdir),
        "logging_config_file": str(package / "config.d" / "log.ini"),
        "cfg_general": "general.yml",
        "cfg_clients": "clients.yml",
        "cfg_bogons": "bogons.yml",
        "templates_dir": str(package / "templates"),
        "cache_dir": str(cache_dir),
        # A cache miss must fail the build, never go online.
        "bgpq3_path": shutil.which("false") or "/bin/false",
        "bgpq3_timeout": 5,
        "check_new_release": False,
        "threads": 1,
        # The snapshot's age is checked by this module; the cache is fresh.
        "cache_expiry": 864000,
    }
    for name, data in (
        ("arouteserver.yml", program_cfg),
        ("general.yml", general),
        ("clients.yml", clients),
        ("bogons.yml", bogons),
    ):
        (workdir / name).write_text(yaml.safe_dump(data, sort_keys=False))
    return workdir / "arouteserver.yml"


def run_arouteserver(
    program_cfg: Path, output: Path, extra_args: list[str] | None = None, module: str = "caribix.arouteserver_run"
) -> None:
    """arouteserver's `bird` command; `module` pierky.arouteserver.cli is
    arouteserver's own entry point, caribix.arouteserver_run the same
    with its speed-ups (same output)."""
    cmd = [
        sys.executable,
        "-m",
        module,
        "bird",
        "--cfg",
        str(program_cfg),
        "--target-version",
        BIRD_TARGET_VERSION,
        "-o",
        str(output),
    ] + (extra_args or [])
    env = dict(os.environ, PEERINGDB_API_KEY="", HOME=str(program_cfg.parent))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, cwd=program_cfg.parent)
    if proc.returncode != 0:
        raise RouteServerBuildError(f"arouteserver failed (exit {proc.returncode}):\n{proc.stderr.strip()}")


_ROUTER_ID_LINE = re.compile(r"^router id [0-9.]+;$", re.M)
SHARED_BUILDS_KEPT = 6


def shared_build_key(data: dict[str, Any], snapshot_dir: str | Path) -> str:
    """What a build depends on, but the router id: the input, the snapshot
    files, this package's code and arouteserver's."""
    import pierky.arouteserver as ars
    from pierky.arouteserver.version import __version__ as ars_version

    digest = hashlib.sha256()
    digest.update(json.dumps({k: v for k, v in data.items() if k != "router_id"}, sort_keys=True).encode())
    for path in sorted(Path(snapshot_dir).iterdir()):
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    package = Path(__file__).parent
    for source in sorted(package.glob("*.py")) + [package.parent / "arouteserver_run.py"]:
        digest.update(source.read_bytes())
    digest.update(f"{ars_version} {Path(ars.__file__).parent} {BIRD_TARGET_VERSION}".encode())
    return digest.hexdigest()


def _load_shared_build(shared_cache: Path, key: str) -> dict[str, Any] | None:
    try:
        return json.loads((shared_cache / f"{key}.json").read_text())
    except (OSError, ValueError):
        return None


def _store_shared_build(shared_cache: Path, key: str, entry: dict[str, Any]) -> None:
    shared_cache.mkdir(parents=True, exist_ok=True)
    temporary = shared_cache / f".{key}.{os.getpid()}.tmp"
    temporary.write_text(json.dumps(entry))
    temporary.replace(shared_cache / f"{key}.json")
    # Only the last few builds: each is a whole config.
    entries = sorted(shared_cache.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[SHARED_BUILDS_KEPT:]:
        old.unlink(missing_ok=True)


def build(
    data: dict[str, Any],
    snapshot_dir: str | Path,
    workdir: str | Path,
    now: dt.datetime | None = None,
    shared_cache: str | Path | None = None,
) -> BuildResult:
    """Build one route server's bird.conf.

    ``data`` keys: exchange, members, router_id, lab_mode (bool),
    graceful_shutdown (bool: drain this route server), secrets_dir,
    policy (overrides of DEFAULT_POLICY). ``shared_cache``: a directory
    where a build for another router id with the same input is reused
    (module docstring).
    """
    for key in ("exchange", "members", "router_id"):
        if key not in data:
            raise RouteServerBuildError(f"build input: '{key}' missing")
    try:
        router_id = str(netaddr.IPAddress(data["router_id"], version=4))
    except (netaddr.AddrFormatError, ValueError) as exc:
        raise RouteServerBuildError(f"router_id: not an IPv4 address: {data['router_id']!r}") from exc
    policy = policy_with_defaults(data.get("policy"))
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    started = time.monotonic()

    snapshot = load_snapshot(snapshot_dir)
    lab_mode = bool(data.get("lab_mode"))
    warnings = check_snapshot_age(snapshot["metadata"], policy["snapshot_max_age_hours"], now, lab_mode=lab_mode)
    members = data["members"]
    # arouteserver reads the ASPAs from a file in rpki-client's format;
    # only the `aspas` are needed (ROAs reach BIRD over RTR).
    # The path is relative to the build directory (arouteserver's working
    # directory): general.yml stays the same from build to build.
    (workdir / ASPA_FILE).write_text(json.dumps({"roas": [], "aspas": snapshot["rpki"]["aspas"]}))
    general = general_config(data["exchange"], router_id, policy, ASPA_FILE)
    clients = clients_config(members, data.get("secrets_dir", "/etc/bird/route-server-secrets"))
    bogons = bogons_config(policy["lab_member_prefixes"] if lab_mode else [])

    cache_dir = workdir / "cache"
    shutil.rmtree(cache_dir, ignore_errors=True)
    program_cfg = write_inputs(workdir, general, clients, bogons, cache_dir)
    key = shared_build_key(data, snapshot_dir) if shared_cache else ""
    shared = _load_shared_build(Path(shared_cache), key) if shared_cache else None
    fetched = ", ".join(f"{p} {snapshot['metadata']['parts'][p]['fetched_at']}" for p in SNAPSHOT_PARTS)
    header = (
        f"# Built by caribix.routeserver for {data['exchange'].get('shortname', '?')} route server {router_id}\n"
        f"# from the members data and snapshot {Path(snapshot_dir).name} "
        f"({fetched}).\n"
        + ("# GRACEFUL SHUTDOWN of this route server is ON (routes sent with 65535:0).\n" if data.get("graceful_shutdown") else "")
    )
    if shared:
        # The other route server's build: only its router id line differs.
        body, count = _ROUTER_ID_LINE.subn(f"router id {router_id};", shared["body"], count=1)
        if count == 1:
            timings["shared_build"] = 1
            return BuildResult(
                config=header + body,
                expected_bgp_sessions=shared["expected_bgp_sessions"],
                expected_roas=count_unique_roas(snapshot["rpki"]),
                warnings=warnings,
                snapshot_metrics=snapshot_metrics(snapshot["metadata"]),
                limit_metrics=shared["limit_metrics"],
                clients=clients,
                general=general,
                timings=timings,
            )
    seed_cache(cache_dir, members, snapshot, longer_prefixes=policy["irr_allow_longer_prefixes"])
    timings["prepare_s"] = time.monotonic() - started

    args = [
        "--local-files-dir",
        LOCAL_FILES_MARKER,
        "--use-local-files",
        "header",
        "--use-hooks",
        "pre_receive_from_client",
    ]
    if data.get("graceful_shutdown"):
        args.append("--perform-graceful-shutdown")
    raw_output = workdir / "arouteserver-output.conf"
    started = time.monotonic()
    run_arouteserver(program_cfg, raw_output, args)
    timings["arouteserver_s"] = time.monotonic() - started

    config = raw_output.read_text()
    config = inline_local_files(
        config,
        {"rpki_rtr_config": rtr_config(policy["rtr_port"]), "header": hook_config(policy["max_communities"])},
    )
    config = quieten_logging(config)
    config = split_prefix_length_reject(config)
    config = add_receive_limits(config, policy["max_prefix_receive_factor"], policy["max_prefix_receive_action"])
    if lab_mode:
        config = relax_invalid_asns(config, lab_asns(members, snapshot, policy["lab_extra_asns"]))
    expected = sum(1 for m in rs_members(members) for fam in ("ipv4", "ipv6") if m.get(fam))
    found = count_bgp_protocols(config)
    if found != expected:
        raise RouteServerBuildError(f"sanity check: {found} BGP sessions in the config, {expected} expected")
    body = strip_build_timestamps(config)
    limits = limit_metrics(body)
    if shared_cache and len(_ROUTER_ID_LINE.findall(body)) == 1:
        _store_shared_build(Path(shared_cache), key, {"body": body, "expected_bgp_sessions": expected, "limit_metrics": limits})
    return BuildResult(
        config=header + body,
        expected_bgp_sessions=expected,
        expected_roas=count_unique_roas(snapshot["rpki"]),
        warnings=warnings,
        snapshot_metrics=snapshot_metrics(snapshot["metadata"]),
        limit_metrics=limits,
        clients=clients,
        general=general,
        timings=timings,
    )
