"""The command line roles/route_server runs: python -m caribix.routeserver build ..."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from caribix.routeserver import __doc__ as PACKAGE_DOC
from caribix.routeserver.builder import build
from caribix.routeserver.clients import rs_members, secret_file_name
from caribix.routeserver.policy import RouteServerBuildError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m caribix.routeserver", description=PACKAGE_DOC.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("build", help="build bird.conf for one route server")
    cmd.add_argument("--input", required=True, help="JSON file ('-': stdin): exchange, members, router_id, lab_mode, policy")
    cmd.add_argument("--snapshot-dir", required=True)
    cmd.add_argument("--output-dir", required=True)
    cmd.add_argument("--shared-cache", help="directory where the other route server's build of the same input is reused")
    args = parser.parse_args(argv)

    raw = sys.stdin.read() if args.input == "-" else Path(args.input).read_text()
    data = json.loads(raw)
    out = Path(args.output_dir)
    try:
        with tempfile.TemporaryDirectory(prefix="caribix-rs-") as tmp:
            result = build(data, args.snapshot_dir, tmp, shared_cache=args.shared_cache)
            out.mkdir(parents=True, exist_ok=True)
            for name in ("general.yml", "clients.yml", "bogons.yml"):
                shutil.copy(Path(tmp) / name, out / name)
    except RouteServerBuildError as exc:
        print(json.dumps({"failed": True, "msg": str(exc)}))
        return 1
    (out / "bird.conf").write_text(result.config)
    print(
        json.dumps(
            {
                "failed": False,
                "config": str(out / "bird.conf"),
                "expected_bgp_sessions": result.expected_bgp_sessions,
                "expected_roas": result.expected_roas,
                "warnings": result.warnings,
                "snapshot_metrics": result.snapshot_metrics,
                "limit_metrics": result.limit_metrics,
                # The files the role writes from the vault, named here only
                # (the passwords never reach this program).
                "secret_files": [
                    {"file": secret_file_name(member), "vault_key": member["bgp_password_vault_key"]}
                    for member in rs_members(data["members"])
                    if member.get("bgp_password_vault_key")
                ],
                "timings": result.timings,
            }
        )
    )
    return 0

