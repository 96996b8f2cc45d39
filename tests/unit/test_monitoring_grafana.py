"""The optional Grafana dashboard: valid JSON whose every query is valid PromQL on our metrics.

Grafana is not packaged for Debian, so the dashboard is not deployed; sites
that run Grafana import roles/monitoring/files/grafana/caribix-island.json.
promtool has no expression checker, so each query is checked as the
expression of a recording rule (Grafana's $variables replaced first).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import yaml
from conftest import require_tool

DASHBOARD = Path(__file__).resolve().parents[2] / "roles" / "monitoring" / "files" / "grafana" / "caribix-island.json"
# Metrics the monitoring stack really exports (measured: docs/monitoring.md).
KNOWN_METRICS = {
    "caribix_member_traffic_bytes_total",
    "caribix_peering_matrix_bytes_total",
    "bird_protocol_up",
    "bird_protocol_prefix_import_count",
    "probe_success",
}


def queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def test_dashboard_shape():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "caribix-island"
    assert [variable["name"] for variable in dashboard["templating"]["list"]] == ["island"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for expr in queries():
        assert 'island="$island"' in expr
        assert set(re.findall(r"\b(caribix_\w+|bird_\w+|probe_\w+)\b", expr)) <= KNOWN_METRICS


def test_queries_are_valid_promql(tmp_path):
    require_tool("promtool", "prometheus")
    rules = [{"record": f"caribix:grafana_panel_{index}", "expr": expr.replace("$__rate_interval", "5m").replace("$island", "lab")} for index, expr in enumerate(queries())]
    path = tmp_path / "panels.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "grafana", "rules": rules}]}))
    result = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
