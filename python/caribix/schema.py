"""The island data's shape, from schemas/island.schema.json.

The JSON Schema is the one description of which fields exist, their types
and formats; editors check members.yml against it as people type (the
``yaml-language-server`` modeline of the inventories). This module runs it
and turns each schema error into what the validator reports: the field's
dotted path, the problem, and the schema's ``x-expected`` text.
Checks across fields and files (uniqueness, addresses inside the LANs,
the other islands, the vault, the snapshot) stay in caribix.validate.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import netaddr



def repository_file(relative: str) -> Path:
    """A file of the repository (schemas/...): beside this package when it
    is installed editable (the controller), else in the project the
    plugins come from (the execution environment installs the package as
    a wheel; the plugins set CARIBIX_REPOSITORY), else the current
    directory (ansible-runner runs from the project)."""
    candidates = [Path(__file__).resolve().parents[2] / relative]
    if os.environ.get("CARIBIX_REPOSITORY"):
        candidates.append(Path(os.environ["CARIBIX_REPOSITORY"]) / relative)
    candidates.append(Path.cwd() / relative)
    return next((path for path in candidates if path.is_file()), candidates[0])


SCHEMA_PATH = repository_file("schemas/island.schema.json")


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def describe(value: Any) -> str:
    """A value as shown in a message (type named when that is the problem)."""
    if value is None:
        return "empty (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the string '{value}'"
    if is_int(value):
        return f"the number {value}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def _address(version: int):
    def check(value: Any) -> bool:
        if not isinstance(value, str) or "/" in value:
            return False
        try:
            return netaddr.IPAddress(value, flags=netaddr.INET_PTON).version == version
        except (netaddr.AddrFormatError, ValueError):
            return False

    return check


def _prefix(version: int):
    def check(value: Any) -> bool:
        if not isinstance(value, str) or "/" not in value:
            return False
        try:
            address, length = value.split("/", 1)
            netaddr.IPAddress(address, flags=netaddr.INET_PTON)
            return netaddr.IPNetwork(value).version == version and length.isdigit()
        except (netaddr.AddrFormatError, ValueError):
            return False

    return check


# Our formats (an editor that does not know them still checks the rest).
FORMATS = jsonschema.FormatChecker(formats=())
for _name, _check in (("ipv4", _address(4)), ("ipv6", _address(6)), ("ipv4-prefix", _prefix(4)), ("ipv6-prefix", _prefix(6))):
    FORMATS.checks(_name)(_check)

# YAML's true is not an integer here, as in Ansible's own type checks.
_TYPES = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", lambda _checker, value: is_int(value))
_Validator = jsonschema.validators.extend(jsonschema.Draft202012Validator, type_checker=_TYPES)


@lru_cache(maxsize=1)
def island_schema() -> dict[str, Any]:
    return json.loads(repository_file("schemas/island.schema.json").read_text(encoding="utf-8"))


@lru_cache(maxsize=None)
def _validator(definition: str) -> jsonschema.protocols.Validator:
    schema = island_schema()
    return _Validator({"$ref": f"#/$defs/{definition}", "$defs": schema["$defs"]}, format_checker=FORMATS)


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    """A schema with its local $ref followed (its own keywords win)."""
    while "$ref" in schema:
        target = island_schema()
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        schema = {**target, **{key: value for key, value in schema.items() if key != "$ref"}}
    return schema


def definition(name: str) -> dict[str, Any]:
    return _resolve(island_schema()["$defs"][name])


def _child(schema: dict[str, Any], key: Any) -> dict[str, Any]:
    schema = _resolve(schema)
    if isinstance(key, int):
        return _resolve(schema.get("items", {}))
    properties = schema.get("properties", {})
    if key in properties:
        return _resolve(properties[key])
    extra = schema.get("additionalProperties")
    return _resolve(extra) if isinstance(extra, dict) else {}


@dataclass(frozen=True)
class ShapeProblem:
    """One place where the data does not have the schema's shape."""

    path: tuple[Any, ...]
    problem: str
    expected: str

    @property
    def field(self) -> str:
        return ".".join(str(part) for part in self.path)


def _order(schema: dict[str, Any], instance: Any, path: tuple[Any, ...]) -> tuple:
    """Schema order: declared fields as the schema lists them, then unknown
    ones as the file has them; depth-first below."""
    key: list[tuple[int, int]] = []
    for part in path:
        schema = _resolve(schema)
        names = list(schema.get("properties", {}))
        if isinstance(part, int):
            key.append((0, part))
        elif part in names:
            key.append((0, names.index(part)))
        else:
            members = list(instance) if isinstance(instance, dict) else []
            key.append((1, members.index(part) if part in members else 0))
        schema = _child(schema, part)
        if isinstance(instance, dict):
            instance = instance.get(part)
        elif isinstance(instance, list) and isinstance(part, int) and part < len(instance):
            instance = instance[part]
        else:
            instance = None
    return tuple(key)


def shape_problems(instance: Any, definition_name: str, allowed_extra: tuple[str, ...] = ()) -> list[ShapeProblem]:
    """Every way ``instance`` differs from ``$defs/<definition_name>``, one
    problem per field, in the schema's field order."""
    root = definition(definition_name)
    found: dict[tuple[Any, ...], ShapeProblem] = {}
    for error in _validator(definition_name).iter_errors(instance):
        path = tuple(error.absolute_path)
        schema = root
        for part in path:
            schema = _child(schema, part)
        if error.validator == "required":
            for name in error.validator_value:
                if isinstance(error.instance, dict) and name not in error.instance:
                    expected = _child(schema, name).get("x-expected", name)
                    found.setdefault(path + (name,), ShapeProblem(path + (name,), "is missing", f"{expected} (required)"))
            continue
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = list(schema.get("properties", {}))
            for name in error.instance:
                if name not in known and name not in allowed_extra:
                    found.setdefault(
                        path + (name,),
                        ShapeProblem(path + (name,), "is not a field of the data model (typo?)", "one of " + ", ".join(sorted(k for k in known if "x-problem" not in _child(schema, k)))),
                    )
            continue
        if "propertyNames" in error.relative_schema_path:
            # The error is about a key of the mapping at ``path``.
            names = _resolve(schema.get("propertyNames", {}))
            key = error.instance
            found.setdefault(path + (key,), ShapeProblem(path + (key,), f"the name '{key}' is not valid", names.get("x-expected", "a valid name")))
            continue
        if path and any(path[: len(other)] == other for other in found if other and len(other) < len(path)):
            continue  # the enclosing field's problem says it already
        value = error.instance if error.validator != "not" or path else instance
        if error.validator in ("type",) and not path:
            problem = f"is {describe(value)}"
        else:
            problem = schema.get("x-problem") or f"{describe(_value_at(instance, path))} is not valid"
        found.setdefault(path, ShapeProblem(path, problem, schema.get("x-expected", "a value of the data model")))
    # Problems below a field that is itself wrong add nothing.
    problems = [p for p in found.values() if not any(q.path and p.path[: len(q.path)] == q.path and p.path != q.path for q in found.values())]
    return sorted(problems, key=lambda p: _order(root, instance, p.path))


def _value_at(instance: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        instance = instance[part]
    return instance


# --- docs/data-model.md's field tables ----------------------------------------
DOCS_PATH = Path(__file__).resolve().parents[2] / "docs" / "data-model.md"
# The tables generated into the docs, between <!-- schema:NAME --> and
# <!-- /schema:NAME --> markers.
DOC_TABLES = ("exchange", "member", "inter_island_link", "host")


def _type_name(schema: dict[str, Any]) -> str:
    schema = _resolve(schema)
    kinds = schema.get("type")
    if "enum" in schema:
        return " / ".join(f"`{value}`" for value in schema["enum"])
    if isinstance(kinds, list):
        return " or ".join(_type_name({"type": kind}) for kind in kinds)
    return {"string": "str", "integer": "int", "boolean": "bool", "object": "mapping", "array": "list", None: "-"}.get(kinds, str(kinds))


def _rows(schema: dict[str, Any], prefix: str = "") -> list[str]:
    schema = _resolve(schema)
    required = set(schema.get("required", []))
    rows = []
    for name, child in schema.get("properties", {}).items():
        child = _resolve(child)
        if "x-problem" in child:
            continue  # a refused field: the prose says why
        if child.get("type") == "object" and "properties" in child:
            rows += _rows(child, f"{prefix}{name}.")
            continue
        needed = "yes" if name in required else "no"
        rows.append(f"| `{prefix}{name}` | {_type_name(child)} | {needed} | {child.get('description', '')} |")
    return rows


def doc_table(name: str) -> str:
    """The Markdown table of ``$defs/<name>``: field, type, required, rule."""
    lines = ["| Field | Type | Required | Rule |", "|---|---|---|---|", *_rows(island_schema()["$defs"][name])]
    return "\n".join(lines)


def render_docs(text: str) -> str:
    """``text`` (docs/data-model.md) with its generated tables rewritten."""
    for name in DOC_TABLES:
        start, end = f"<!-- schema:{name} -->", f"<!-- /schema:{name} -->"
        before, found, rest = text.partition(start)
        if not found:
            raise ValueError(f"{DOCS_PATH}: no {start} marker")
        _, found, after = rest.partition(end)
        if not found:
            raise ValueError(f"{DOCS_PATH}: no {end} marker")
        text = f"{before}{start}\n{doc_table(name)}\n{end}{after}"
    return text


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    parser = argparse.ArgumentParser(description="Write (or --check) the field tables of docs/data-model.md from schemas/island.schema.json.")
    parser.add_argument("--check", action="store_true", help="exit 1 if the docs differ from the schema")
    args = parser.parse_args(argv)
    current = DOCS_PATH.read_text(encoding="utf-8")
    wanted = render_docs(current)
    if args.check:
        if current != wanted:
            print(f"{DOCS_PATH}: field tables differ from {SCHEMA_PATH}; run python -m caribix.schema", file=sys.stderr)
            return 1
        return 0
    if current != wanted:
        DOCS_PATH.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
