"""The stateful tables' schemas and paging, held to OpenAI's reference (fixtures written from it
by scripts/stateful_schemas.py, so that CI needs only the repo)."""

from __future__ import annotations

import json
import re
import typing as t
from pathlib import Path

import pytest
from jsonschema import Draft7Validator

from tap_openai_compliance.stateful import STREAM_TYPES, table_schema
from tap_openai_compliance.tables import TABLES, Paging
from tests.test_schemas import _lint

FIXTURES = Path(__file__).parent / "fixtures"
REFERENCE_ITEMS = json.loads((FIXTURES / "reference_stateful_items.json").read_text())
ENDPOINTS = json.loads((FIXTURES / "reference_stateful_endpoints.json").read_text())
JSON_TYPES = {"array", "boolean", "integer", "number", "object", "string"}


def reference_fields(node: dict[str, t.Any], path: str = "$") -> dict[str, set[str]]:
    """Every field path the reference documents under ``node``, with its JSON types."""
    found: dict[str, set[str]] = {}
    for name, child in (node.get("properties") or {}).items():
        kind = child.get("type")
        types = {kind} if isinstance(kind, str) else set(kind or JSON_TYPES)
        if "properties" in child and not kind:
            types = {"object"}
        found[f"{path}.{name}"] = types
        found.update(reference_fields(child, f"{path}.{name}"))
    if isinstance(node.get("items"), dict):
        found.update(reference_fields(node["items"], f"{path}[]"))
    return found


def declared_fields(node: dict[str, t.Any], path: str = "$") -> dict[str, set[str]]:
    """Every field path a Singer schema declares, with its non-null types."""
    found: dict[str, set[str]] = {}
    for name, child in (node.get("properties") or {}).items():
        found[f"{path}.{name}"] = set(child["type"]) - {"null"}
        found.update(declared_fields(child, f"{path}.{name}"))
    if isinstance(node.get("items"), dict):
        found.update(declared_fields(node["items"], f"{path}[]"))
    return found


@pytest.mark.parametrize("name", TABLES)
def test_a_table_declares_every_field_the_reference_documents_with_its_types(name):
    reference = reference_fields(REFERENCE_ITEMS[name])
    declared = declared_fields(table_schema(TABLES[name], download_urls=True))

    assert reference
    for path, types in reference.items():
        assert path in declared, (name, path)
        # An integer fits a number column: the reference's number may be either.
        assert types - {"integer"} <= declared[path] | ({"number"} & types), (name, path)
    added = {f"$.{key}" for key in TABLES[name].keys[:-1]} | {"$._sdc_unknown_fields"}
    top_level = {path for path in declared if path.count(".") == 1}
    assert top_level - added == {path for path in reference if path.count(".") == 1} - added


@pytest.mark.parametrize("name", TABLES)
def test_every_value_is_nullable_open_and_no_enum_rejects_a_new_value(name):
    schema = table_schema(TABLES[name], download_urls=True)
    Draft7Validator.check_schema(schema)

    assert _lint(schema, "$") == []
    text = json.dumps(schema)
    assert '"enum"' not in text
    for path, types in declared_fields(schema).items():
        assert types, path
    nested = [child for child in schema["properties"].values() if "object" in child["type"]]
    assert all(child["additionalProperties"] is True for child in nested)
    assert all(
        "null" in child["type"]
        for key, child in schema["properties"].items()
        if key not in TABLES[name].keys[:-1]
    )


def test_documented_values_are_listed_in_descriptions():
    role = table_schema(TABLES["users"])["properties"]["role"]["description"]

    assert role.endswith("Documented values: account-owner, account-admin, standard-user.")


def test_download_urls_are_declared_only_where_records_keep_them():
    kept = json.dumps(table_schema(TABLES["gpt_configs"], download_urls=True))
    dropped = json.dumps(table_schema(TABLES["gpt_configs"]))

    assert '"download_url"' in kept
    assert '"download_url"' not in dropped


@pytest.mark.parametrize("name", TABLES)
def test_a_table_pages_and_is_paced_as_its_endpoint_documents(name):
    table = TABLES[name]
    endpoint = ENDPOINTS[name]
    query = endpoint["query"]

    if table.paging is Paging.ONE_PAGE:
        assert not {"after", "cursor"} & set(query)
    else:
        assert table.paging.parameter in query
    if table.paging is Paging.CURSOR:
        assert "cursor" in endpoint["answer_fields"]
    if table.paging is Paging.CURSOR_FROM_LAST_ID:
        assert "cursor" not in endpoint["answer_fields"]
        assert "last_id" in endpoint["answer_fields"]
    if table.page_size is not None:
        limit = query["limit"]
        documented_max = re.search(r"max(?:imum)? (?:=|are|is) (\d+)", limit["description"])
        maxima = [limit.get("maximum"), int(documented_max[1]) if documented_max else None]
        assert table.page_size <= min(m for m in maxima if m is not None), name
    for parameter, _value in table.params:
        assert parameter in query
    documented = re.search(r"(\d+) requests per minute", endpoint["too_many_requests"])
    assert table.calls_per_minute == (int(documented[1]) if documented else None), name


@pytest.mark.parametrize("name", TABLES)
def test_a_table_is_one_stream_class_whose_parent_is_its_parent_tables(name):
    stream_type = STREAM_TYPES[name]
    parent = stream_type.parent_stream_type

    assert stream_type.table is TABLES[name]
    assert (parent.table.name if parent else None) == TABLES[name].parent  # type: ignore[attr-defined]
    assert TABLES[name].keys[-1] == "id"
    schema = table_schema(TABLES[name])
    assert set(TABLES[name].keys) <= set(schema["properties"])
