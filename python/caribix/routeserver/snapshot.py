"""The island's route-server snapshot (snapshots/<island>/): reading it,
judging each part's age, and the metric that tells monitoring that age."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import netaddr
import yaml

from caribix.routeserver.policy import RouteServerBuildError

SNAPSHOT_PARTS = ("irr", "peeringdb", "rpki")
SNAPSHOT_FILES = {"irr": "irr.json", "peeringdb": "peeringdb.json", "rpki": "vrps.json"}


def load_snapshot(snapshot_dir: str | Path) -> dict[str, Any]:
    """Read the four files of ``snapshots/<island>/``; complain precisely."""
    snapshot_dir = Path(snapshot_dir)
    if not snapshot_dir.is_dir():
        raise RouteServerBuildError(f"{snapshot_dir}: snapshot directory missing")
    snapshot: dict[str, Any] = {}
    for part, name in SNAPSHOT_FILES.items():
        path = snapshot_dir / name
        try:
            snapshot[part] = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise RouteServerBuildError(f"{path}: missing snapshot part '{part}'") from exc
        except json.JSONDecodeError as exc:
            raise RouteServerBuildError(f"{path}: not valid JSON: {exc}") from exc
    meta_path = snapshot_dir / "metadata.yml"
    try:
        snapshot["metadata"] = yaml.safe_load(meta_path.read_text()) or {}
    except FileNotFoundError as exc:
        raise RouteServerBuildError(f"{meta_path}: missing (records when each part was fetched)") from exc
    _check_snapshot_shape(snapshot, snapshot_dir)
    return snapshot


def _check_snapshot_shape(snapshot: dict[str, Any], where: Path) -> None:
    irr = snapshot["irr"]
    if not isinstance(irr.get("as_sets"), dict) or not isinstance(irr.get("route_objects"), dict):
        raise RouteServerBuildError(f"{where}/irr.json: needs objects 'as_sets' and 'route_objects'")
    for name, asns in irr["as_sets"].items():
        if not isinstance(asns, list) or not all(isinstance(a, int) for a in asns):
            raise RouteServerBuildError(f"{where}/irr.json: as_sets.{name} must be a list of ASNs (integers)")
    for asn, prefixes in irr["route_objects"].items():
        for prefix in prefixes:
            try:
                netaddr.IPNetwork(prefix)
            except (netaddr.AddrFormatError, ValueError) as exc:
                raise RouteServerBuildError(f"{where}/irr.json: route_objects.{asn}: bad prefix {prefix!r}") from exc
    if not isinstance(snapshot["peeringdb"].get("networks"), dict):
        raise RouteServerBuildError(f"{where}/peeringdb.json: needs an object 'networks'")
    if not isinstance(snapshot["rpki"].get("roas"), list):
        raise RouteServerBuildError(f"{where}/vrps.json: needs a list 'roas' (rpki-client JSON format)")
    if not isinstance(snapshot["rpki"].get("aspas"), list):
        raise RouteServerBuildError(
            f"{where}/vrps.json: needs a list 'aspas' (rpki-client JSON format; [] when no ASPA object exists)"
        )
    parts = snapshot["metadata"].get("parts")
    if not isinstance(parts, dict):
        raise RouteServerBuildError(f"{where}/metadata.yml: needs a mapping 'parts'")
    for part in SNAPSHOT_PARTS:
        if "fetched_at" not in (parts.get(part) or {}):
            raise RouteServerBuildError(f"{where}/metadata.yml: parts.{part}.fetched_at missing")


def parse_timestamp(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        stamp = value
    else:
        try:
            stamp = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError as exc:
            raise RouteServerBuildError(f"not an ISO 8601 timestamp: {value!r}") from exc
    if stamp.tzinfo is None:
        raise RouteServerBuildError(f"timestamp without time zone: {value!r}")
    return stamp


# A part whose metadata says ``source: example`` is hand-written example
# data (the example islands, test fixtures): nothing was fetched, so its
# age means nothing. Only a lab island may build from it.
EXAMPLE_SOURCE = "example"


def refresh_command(island: str) -> str:
    return f"ansible-playbook -i inventories/{island} playbooks/refresh_snapshots.yml"


def is_example_part(metadata: dict[str, Any], part: str) -> bool:
    return (metadata["parts"][part] or {}).get("source") == EXAMPLE_SOURCE


def check_snapshot_age(
    metadata: dict[str, Any],
    max_age_hours: dict[str, dict[str, float]],
    now: dt.datetime | None = None,
    lab_mode: bool = False,
) -> list[str]:
    """Judge each part's age: return warnings (and notes), raise past ``fail``.

    Example parts are reported, not judged, on a lab island; a production
    island (lab mode off) refuses them. Fetched parts are always judged.
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    island = metadata.get("island", "<island>")
    warnings, failures = [], []
    for part in SNAPSHOT_PARTS:
        fetched = parse_timestamp(metadata["parts"][part]["fetched_at"])
        age_h = (now - fetched).total_seconds() / 3600
        limits = max_age_hours.get(part, {})
        if is_example_part(metadata, part):
            if lab_mode:
                warnings.append(
                    f"NOT JUDGED: snapshot part '{part}' is {age_h:.1f} h old (fetched {fetched.isoformat()}); "
                    f"its age is not judged because it is example data (metadata.yml: source: {EXAMPLE_SOURCE}) "
                    f"on a lab island (caribix_lab_mode: true)"
                )
            else:
                failures.append(
                    f"snapshot part '{part}' is example data (metadata.yml: source: {EXAMPLE_SOURCE}), "
                    f"not fetched, and island {island} is not in lab mode: fetch it with `{refresh_command(island)}`"
                )
        elif age_h < -1:
            failures.append(f"snapshot part '{part}' fetched in the future ({fetched.isoformat()})")
        elif "fail" in limits and age_h > limits["fail"]:
            failures.append(
                f"snapshot part '{part}' is {age_h:.1f} h old (fetched {fetched.isoformat()}), "
                f"over the {limits['fail']} h limit: refresh it with `{refresh_command(island)}`"
            )
        elif "warn" in limits and age_h > limits["warn"]:
            warnings.append(
                f"snapshot part '{part}' is {age_h:.1f} h old (fetched {fetched.isoformat()}), "
                f"over the {limits['warn']} h warning age: refresh it soon with `{refresh_command(island)}`"
            )
    if failures:
        raise RouteServerBuildError("\n".join(failures))
    return warnings


def snapshot_metrics(metadata: dict[str, Any]) -> str:
    """The node exporter textfile that tells monitoring when each part was fetched.

    ``example="true"`` marks hand-written example parts, whose age the
    CaribixSnapshotTooOld alert does not judge (as the build does not).
    """
    lines = [
        "# HELP caribix_snapshot_timestamp_seconds When the route server's snapshot part was fetched (Unix time).",
        "# TYPE caribix_snapshot_timestamp_seconds gauge",
    ]
    for part in SNAPSHOT_PARTS:
        stamp = parse_timestamp(metadata["parts"][part]["fetched_at"]).timestamp()
        example = "true" if is_example_part(metadata, part) else "false"
        lines.append(f'caribix_snapshot_timestamp_seconds{{part="{part}",example="{example}"}} {stamp:.0f}')
    return "\n".join(lines) + "\n"
