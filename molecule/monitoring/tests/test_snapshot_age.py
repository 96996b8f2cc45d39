"""CaribixSnapshotTooOld end to end: an old snapshot fires it, a refresh clears it.

The route server's textfile is written as the route_server role writes it
(caribix.routeserver.snapshot_metrics, the build's own output; the role
wrote it from the scenario's example snapshot at deploy, which
test_monitoring checks): first from a snapshot fetched long ago, then
from a refreshed one.
"""

from __future__ import annotations

import datetime as dt
import subprocess

from test_monitoring import query, wait_for
from test_outage import _firing

from caribix import routeserver

ROUTE_SERVER = "mon-rs1"
TEXTFILE = "/var/lib/prometheus/node-exporter/caribix_snapshot.prom"

testinfra_hosts = ["mon-monitoring"]


def _install_snapshot_metrics(fetched_at: dt.datetime) -> None:
    metadata = {
        "island": "anguilla",
        "parts": {part: {"fetched_at": fetched_at.isoformat(), "source": "bgpq4"} for part in routeserver.SNAPSHOT_PARTS},
    }
    subprocess.run(
        ["docker", "exec", "-i", ROUTE_SERVER, "sh", "-c", f"cat > {TEXTFILE}.tmp && mv {TEXTFILE}.tmp {TEXTFILE}"],
        input=routeserver.snapshot_metrics(metadata), text=True, check=True,
    )


def _snapshot_alerts() -> list[dict]:
    return [a for a in _firing("CaribixSnapshotTooOld") if a["labels"].get("host") == ROUTE_SERVER]


def test_old_snapshot_fires_and_refresh_clears():
    assert not _snapshot_alerts(), "a snapshot alert fires before the test"
    _install_snapshot_metrics(dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc))
    try:
        alerts = wait_for(lambda: len(_snapshot_alerts()) == 3 and _snapshot_alerts(), 120, "CaribixSnapshotTooOld for every part")
        assert {a["labels"]["part"] for a in alerts} == set(routeserver.SNAPSHOT_PARTS)
        assert all(a["labels"]["example"] == "false" for a in alerts)
        assert "refresh it (playbooks/refresh_snapshots.yml)" in alerts[0]["annotations"]["summary"]
    finally:
        # The refresh: a snapshot fetched now, as a rebuild would write it.
        _install_snapshot_metrics(dt.datetime.now(dt.timezone.utc))
    wait_for(lambda: not _snapshot_alerts(), 120, "CaribixSnapshotTooOld to clear after the refresh")
    fresh = query(f'caribix_snapshot_timestamp_seconds{{host="{ROUTE_SERVER}"}}')
    assert len(fresh) == 3
