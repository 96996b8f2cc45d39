"""schemas/island.schema.json is the one description of the island data's
shape: the real islands and the template conform, the editors find it,
the docs' field tables are generated from it, and the validator reports
its problems with file, member and field."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml

from caribix import schema
from caribix.model import island_directories
from caribix.validate import validate_directory

import negative_corpus

REPOSITORY = Path(__file__).resolve().parents[2]
ISLANDS = island_directories(REPOSITORY / "inventories")
MODELINE_FILES = ("exchange.yml", "members.yml", "inter_island.yml")


def test_the_schema_is_a_valid_2020_12_schema():
    document = schema.island_schema()
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(document)


@pytest.mark.parametrize("island", ISLANDS, ids=lambda path: path.name)
def test_every_island_file_conforms_to_the_schema(island):
    """What an editor checks: each group_vars file on its own, each host's variables."""
    validator = jsonschema.Draft202012Validator(schema.island_schema(), format_checker=schema.FORMATS)
    for name in MODELINE_FILES:
        data = yaml.safe_load((island / "group_vars" / "all" / name).read_text(encoding="utf-8"))
        assert list(validator.iter_errors(data)) == [], name
    for host_file in sorted((island / "host_vars").glob("*.yml")):
        data = yaml.safe_load(host_file.read_text(encoding="utf-8"))
        assert schema.shape_problems(data, "host") == [], host_file.name


@pytest.mark.parametrize(
    "path",
    [island / "group_vars" / "all" / name for island in ISLANDS for name in MODELINE_FILES]
    + [REPOSITORY / "inventories" / "template" / "group_vars" / "all" / f"{name}.j2" for name in MODELINE_FILES],
    ids=lambda path: str(path.relative_to(REPOSITORY)),
)
def test_data_files_name_the_schema_for_editors(path):
    first = path.read_text(encoding="utf-8").splitlines()[0]
    prefix = "# yaml-language-server: $schema="
    assert first.startswith(prefix)
    # Relative to the file; the template's files land at the same depth.
    assert (path.parent / first[len(prefix):]).resolve() == schema.SCHEMA_PATH


def test_the_docs_field_tables_are_generated_from_the_schema():
    current = schema.DOCS_PATH.read_text(encoding="utf-8")
    assert schema.render_docs(current) == current, "run: python -m caribix.schema"
    assert schema.main(["--check"]) == 0


def test_a_schema_change_shows_in_the_docs_and_the_messages(monkeypatch):
    """The docs and the validator read the same file: change a description
    and an expectation, both follow."""
    document = schema.island_schema()
    changed = {**document, "$defs": {**document["$defs"]}}
    member = dict(changed["$defs"]["member"])
    member["properties"] = {**member["properties"], "speed": {"type": "integer", "description": "NEW RULE", "x-expected": "NEW EXPECTATION"}}
    changed["$defs"]["member"] = member
    monkeypatch.setattr(schema, "island_schema", lambda: changed)
    schema._validator.cache_clear()
    try:
        assert "| `speed` | int | yes | NEW RULE |" in schema.doc_table("member")
        problems = schema.shape_problems({"speed": "fast"}, "member")
        assert any(p.field == "speed" and p.expected == "NEW EXPECTATION" for p in problems)
    finally:
        schema._validator.cache_clear()


def test_shape_problems_name_the_field_and_keep_the_schema_order():
    problems = schema.shape_problems(
        {"name": "X", "asn": "64500", "max_prefix": {"ipv4": 0}, "colour": "red", "bgp_password": "secret"},
        "member",
    )
    fields = [(p.field, p.problem) for p in problems]
    assert ("asn", "the string '64500' is not valid") in fields
    assert ("max_prefix.ipv4", "the number 0 is not valid") in fields
    assert ("max_prefix.ipv6", "is missing") in fields
    assert ("bgp_password", "holds a plain-text password") in fields
    assert fields[-1] == ("colour", "is not a field of the data model (typo?)")
    # Declared fields first, in the schema's order.
    assert [f for f, _ in fields].index("asn") < [f for f, _ in fields].index("max_prefix.ipv4")


def test_the_validator_reports_schema_problems_with_file_member_and_field(tmp_path, monkeypatch):
    inventory = negative_corpus.build_case("mac-wrong-format", tmp_path)
    monkeypatch.chdir(tmp_path)
    errors = [str(error) for error in validate_directory(inventory, vault_ids=[negative_corpus.LAB_VAULT_ID])]
    assert errors and all(e.startswith("inventories/guadeloupe/group_vars/all/members.yml: member '") for e in errors)
    assert "field mac:" in errors[0]
