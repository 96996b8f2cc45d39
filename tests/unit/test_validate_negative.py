"""The negative corpus: every bad input in tests/negative/ produces exactly
its expected messages (see tests/unit/negative_corpus.py for the format).

Validation also reads what the first deploy needs beside the inventory:
the island's route-server snapshot (snapshots/<island>/, beside
inventories/), which the corpus copies too.
"""

from __future__ import annotations

import shutil

import pytest

from caribix.validate import validate_directory

import negative_corpus

CASES = negative_corpus.case_names()


def test_corpus_covers_at_least_thirty_failure_kinds():
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", CASES)
def test_bad_input_produces_its_expected_messages(case, tmp_path, monkeypatch):
    inventory = negative_corpus.build_case(case, tmp_path)
    # Relative paths in messages, as when run from the repository root.
    monkeypatch.chdir(tmp_path)
    errors = [str(error) for error in validate_directory(inventory, vault_ids=[negative_corpus.LAB_VAULT_ID])]
    assert errors == negative_corpus.expected_errors(case)


def test_removing_the_snapshot_copy_is_what_a_missing_snapshot_looks_like(tmp_path, monkeypatch):
    """The corpus copy is complete: without snapshots/ every case would fail the same way."""
    inventory = negative_corpus.build_case("duplicate-mac", tmp_path)
    shutil.rmtree(tmp_path / "snapshots")
    monkeypatch.chdir(tmp_path)
    errors = [str(error) for error in validate_directory(inventory, vault_ids=[negative_corpus.LAB_VAULT_ID])]
    assert errors[:-1] == negative_corpus.expected_errors("duplicate-mac")
    assert errors[-1].startswith("snapshots/guadeloupe/: does not exist")
