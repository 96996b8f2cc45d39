"""The validator on the real islands, its rules at their boundaries, and
the two ways it runs: the CLI and playbooks/validate.yml."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from caribix.model import island_directories, load_island
from caribix.validate import asn_problem, format_report, validate_directory

import negative_corpus
from negative_corpus import build_case

REPOSITORY = negative_corpus.REPOSITORY
ISLANDS = [path.name for path in island_directories(REPOSITORY / "inventories")]
PLAYBOOK_ENV = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}


def test_the_three_islands_are_found_and_the_template_is_not():
    assert ISLANDS == ["guadeloupe", "saint-barthelemy", "saint-martin"]


@pytest.mark.parametrize("island", ISLANDS)
def test_real_island_is_valid(island, monkeypatch):
    monkeypatch.chdir(REPOSITORY)
    assert [str(e) for e in validate_directory(f"inventories/{island}")] == []


@pytest.mark.parametrize("island", ISLANDS)
def test_real_island_has_four_to_eight_members_and_lab_mode(island):
    data = load_island(REPOSITORY / "inventories" / island, vault_ids=[f"lab@{REPOSITORY}/inventories/lab-vault-password.txt"])
    assert 4 <= len(data.variables["members"]) <= 8
    # Documentation ASNs and prefixes: an explicit lab setting, not a default.
    assert data.variables["caribix_lab_mode"] is True
    assert data.origins["caribix_lab_mode"] == os.path.relpath(REPOSITORY / "inventories" / island / "group_vars/all/exchange.yml")


@pytest.mark.parametrize(
    ("asn", "lab_mode", "allowed"),
    [
        (1, False, True),
        (3215, False, True),
        (64495, False, True),
        (64496, False, False),
        (64496, True, True),
        (64511, True, True),
        (64512, False, False),
        (64512, True, True),
        (65534, True, True),
        (65535, True, False),
        (65536, True, True),
        (65551, True, True),
        (65552, True, False),
        (131071, True, False),
        (131072, False, True),
        (23456, True, False),
        (0, True, False),
        (4199999999, False, True),
        (4200000000, False, False),
        (4200000000, True, True),
        (4294967294, True, True),
        (4294967295, True, False),
        (4294967296, True, False),
        (-1, True, False),
    ],
)
def test_asn_ranges_at_their_boundaries(asn, lab_mode, allowed):
    assert (asn_problem(asn, lab_mode) is None) is allowed


def test_report_numbers_every_problem():
    errors = validate_directory(REPOSITORY / "tests" / "does-not-exist")
    report = format_report(errors, "x")
    assert report.splitlines()[1].startswith("  1. ")
    assert "is not a directory" in report


def test_cli_exit_codes(tmp_path):
    good = subprocess.run(
        [sys.executable, "-m", "caribix.validate", "inventories/guadeloupe", "inventories/saint-martin"],
        cwd=REPOSITORY, capture_output=True, text=True, check=False,
    )
    assert good.returncode == 0, good.stderr
    assert "inventories/saint-martin: the island data is valid" in good.stdout

    inventory = build_case("many-errors-one-run", tmp_path)
    bad = subprocess.run(
        [sys.executable, "-m", "caribix.validate", str(inventory), "--vault-id", negative_corpus.LAB_VAULT_ID],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )
    assert bad.returncode == 1
    expected = negative_corpus.expected_errors("many-errors-one-run")
    assert f"{len(expected)} problems in the island data" in bad.stderr
    for number, message in enumerate(expected, start=1):
        assert f"{number:>3}. {message}" in bad.stderr


def _playbook(inventory: Path, playbook: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(inventory), str(playbook), *extra],
        cwd=REPOSITORY, capture_output=True, text=True, check=False, env=PLAYBOOK_ENV,
    )


def _site_after_validation(tmp_path: Path, marker: str) -> Path:
    """A playbook that validates, then leaves MARKER on the controller for
    every host it reaches: any marker left means a host would have changed."""
    site = tmp_path / "site.yml"
    site.write_text(
        "---\n"
        f"- ansible.builtin.import_playbook: {REPOSITORY}/playbooks/validate.yml\n"
        "- name: Would change every host\n"
        "  hosts: all\n"
        "  gather_facts: false\n"
        "  tasks:\n"
        "    - name: Leave a mark per host\n"
        "      ansible.builtin.file:\n"
        f"        path: {marker}\n"
        "        state: touch\n"
        "      delegate_to: localhost\n"
    )
    return site


@pytest.mark.parametrize("island", ISLANDS)
def test_validation_play_passes_on_each_island(island):
    run = _playbook(REPOSITORY / "inventories" / island, REPOSITORY / "playbooks" / "validate.yml")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "failed=0" in run.stdout


def test_validation_play_fails_with_the_messages_and_touches_no_host(tmp_path):
    """The playbook path: a bad island stops the run before any later play."""
    inventory = tmp_path / build_case("many-errors-one-run", tmp_path)
    marker_dir = tmp_path / "touched"
    marker_dir.mkdir()
    site = _site_after_validation(tmp_path, f"{marker_dir}/{{{{ inventory_hostname }}}}")
    run = _playbook(inventory, site)
    output = run.stdout + run.stderr
    assert run.returncode != 0
    expected = negative_corpus.expected_errors("many-errors-one-run")
    assert f"{len(expected)} problems in the island data, nothing was changed" in output
    # Paths are absolute here (the bad copy lives outside the repository).
    for message in expected:
        assert message.replace("inventories/", f"{tmp_path}/inventories/") in output
    assert list(marker_dir.iterdir()) == []
    assert "Would change every host" not in output


def test_validation_runs_whatever_limit_tags_and_check_mode_say(tmp_path):
    """--limit, --tags and --check cannot skip validation (tags: always, run_once on the first limited host)."""
    inventory = tmp_path / build_case("duplicate-mac", tmp_path)
    run = _playbook(inventory, REPOSITORY / "playbooks" / "validate.yml", "--limit", "gp-lg1", "--tags", "route_server", "--check", "--diff")
    assert run.returncode != 0
    assert "1 problem in the island data" in run.stdout + run.stderr


@pytest.mark.parametrize("island", ISLANDS)
def test_ansible_inventory_graph_works_on_each_island(island):
    run = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-inventory")), "-i", f"inventories/{island}", "--graph"],
        cwd=REPOSITORY, capture_output=True, text=True, check=False, env=PLAYBOOK_ENV,
    )
    assert run.returncode == 0, run.stderr
    for group in ("@route_servers:", "@peering_switches:", "@monitoring:", "@looking_glass:"):
        assert group in run.stdout


@pytest.mark.parametrize(
    "case",
    [
        "yaml-syntax-error",
        "duplicate-members-key",
        "host-vars-override-data-model",
        "vault-bgp-password-empty",
        "vault-decrypted",
        "mac-unquoted-base60",
    ],
)
def test_the_playbook_path_reports_what_the_cli_reports(case, tmp_path):
    """YAML errors (with file and line), duplicate keys, variables set for
    one host, empty vault passwords and a decrypted vault stop
    ansible-playbook with the corpus's messages before any play runs.
    (YAML errors stop the inventory load, in plugins/vars; the rest the
    validation play.)"""
    inventory = tmp_path / build_case(case, tmp_path)
    marker = tmp_path / "touched"
    site = _site_after_validation(tmp_path, str(marker))
    run = _playbook(inventory, site)
    output = " ".join((run.stdout + run.stderr).split())
    assert run.returncode != 0
    for message in negative_corpus.expected_errors(case):
        assert message.replace("inventories/", f"{tmp_path}/inventories/") in output, output[-3000:]
    assert not marker.exists()
