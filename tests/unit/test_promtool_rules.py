"""Alert rules: rendered with the monitoring role's defaults, unit-tested by promtool.

``promtool test rules`` runs tests/promtool/*.test.yml against the rules
the role deploys. Then each alert is broken twice (never fires; always
fires) and the tests must fail: an alert whose test still passes with a
broken rule is not really tested.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import jinja2
import pytest
import yaml
from conftest import require_tool

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "monitoring"
RULES_TEMPLATE = ROLE / "templates" / "caribix-alerts.rules.yml.j2"
PROMTOOL_TESTS = sorted((ROOT / "tests" / "promtool").glob("*.test.yml"))
PROMTOOL = "promtool"


@pytest.fixture(autouse=True)
def _promtool_installed():
    require_tool(PROMTOOL, "prometheus")


def render_rules(overrides: dict | None = None) -> str:
    """Render the rules template as Ansible would, with the role defaults."""
    variables = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    variables.update(overrides or {})
    source = RULES_TEMPLATE.read_text()
    header, _, body = source.partition("\n")
    assert header.startswith("#jinja2:"), "the template must keep its #jinja2 delimiter header"
    environment = jinja2.Environment(variable_start_string="[[", variable_end_string="]]", undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return environment.from_string(body).render(**variables)


def alert_names() -> list[str]:
    rules = yaml.safe_load(render_rules())
    return [rule["alert"] for group in rules["groups"] for rule in group["rules"] if "alert" in rule]


def run_promtool_tests(directory: Path, rules_text: str) -> subprocess.CompletedProcess:
    (directory / "caribix-alerts.rules.yml").write_text(rules_text)
    copies = []
    for test in PROMTOOL_TESTS:
        shutil.copy(test, directory / test.name)
        copies.append(str(directory / test.name))
    return subprocess.run([PROMTOOL, "test", "rules", *copies], capture_output=True, text=True, cwd=directory, timeout=120)


def with_expr(rules_text: str, alert: str, make_expr) -> str:
    rules = yaml.safe_load(rules_text)
    for group in rules["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == alert:
                rule["expr"] = make_expr(rule["expr"])
                return yaml.safe_dump(rules, sort_keys=False)
    raise AssertionError(f"no alert {alert}")


def test_rules_pass_promtool_check(tmp_path):
    path = tmp_path / "caribix-alerts.rules.yml"
    path.write_text(render_rules())
    result = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_unit_tests_pass(tmp_path):
    result = run_promtool_tests(tmp_path, render_rules())
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_unit_test():
    tested = set()
    for test_file in PROMTOOL_TESTS:
        for test in yaml.safe_load(test_file.read_text())["tests"]:
            tested.update(case["alertname"] for case in test.get("alert_rule_test", []))
    assert set(alert_names()) - tested == set()


@pytest.mark.parametrize("alert", alert_names())
def test_tests_catch_an_alert_that_never_fires(tmp_path, alert):
    broken = with_expr(render_rules(), alert, lambda expr: "vector(1) == 0")
    result = run_promtool_tests(tmp_path, broken)
    assert result.returncode != 0, f"{alert}: tests still pass when it never fires"


@pytest.mark.parametrize("alert", alert_names())
def test_tests_catch_an_alert_that_always_fires(tmp_path, alert):
    broken = with_expr(render_rules(), alert, lambda expr: f"({expr}) or on () vector(1)")
    result = run_promtool_tests(tmp_path, broken)
    assert result.returncode != 0, f"{alert}: tests still pass when it fires while healthy"


def test_tests_catch_state_label_not_aggregated(tmp_path):
    """Without `max without (state)`, a session whose state text changes never alerts."""
    broken = with_expr(render_rules(), "CaribixBgpSessionDown", lambda expr: 'bird_protocol_up{proto="BGP"} == 0')
    result = run_promtool_tests(tmp_path, broken)
    assert result.returncode != 0


def test_lab_durations_render(tmp_path):
    """The Molecule scenario shortens `for:`; the result must still be valid rules."""
    lab_for = {key: "30s" for key in yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())["monitoring_alert_for"]}
    path = tmp_path / "caribix-alerts.rules.yml"
    path.write_text(render_rules({"monitoring_alert_for": lab_for}))
    result = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "for: 30s" in path.read_text()
