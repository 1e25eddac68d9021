"""The JSON Schemas of the event streams."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from tap_openai_compliance.feeds import KNOWN_EVENT_TYPES, KNOWN_FEEDS, Scope
from tap_openai_compliance.sandbox.data import PRINCIPAL_TYPES, templates
from tap_openai_compliance.schemas import event_schema

TYPES_WITH_SCHEMA_FILE = [
    "AUTH_LOG",
    "AUDIT_LOG",
    "APP_LOG",
    "APP_AUTH_LOG",
    "CODEX_LOG",
    "CODEX_SECURITY_LOG",
    "CUSTOM_AGENTS_LOG",
    "CONVERSATION_MESSAGE",
    "CHATGPT_PLUGIN_SPREADSHEET",
    "COSTS",
]
ENVELOPE_PROPERTIES = {"event_id", "type", "timestamp", "principal", "actor"}
ANY_TYPE = ["array", "boolean", "number", "object", "string", "null"]
ANY_ITEM_TYPE = ["boolean", "number", "object", "string", "null"]
# The example events of OpenAI's API reference (v2.5.3), one file per event type.
REFERENCE_EXAMPLES = Path(__file__).parent / "fixtures" / "reference_examples"


def _property_schemas(schema: dict[str, Any], path: str) -> list[tuple[str, dict[str, Any]]]:
    """Every property and array item schema under ``schema``, with its path."""
    found: list[tuple[str, dict[str, Any]]] = []
    for name, child in schema.get("properties", {}).items():
        found.append((f"{path}.{name}", child))
        found.extend(_property_schemas(child, f"{path}.{name}"))
    if schema.get("items"):
        found.append((f"{path}[]", schema["items"]))
        found.extend(_property_schemas(schema["items"], f"{path}[]"))
    return found


def _lint(schema: Any, path: str) -> list[str]:
    """What a Singer schema linter flags under ``schema``: empty schemas, objects without an
    explicit ``additionalProperties``, arrays without ``items``."""
    if schema == {}:
        return [f"{path}: empty schema"]
    types = schema.get("type", [])
    types = types if isinstance(types, list) else [types]
    found = []
    if "object" in types and "additionalProperties" not in schema:
        found.append(f"{path}: object without additionalProperties")
    if "array" in types and "items" not in schema:
        found.append(f"{path}: array without items")
    for name, child in schema.get("properties", {}).items():
        found.extend(_lint(child, f"{path}.{name}"))
    if "items" in schema:
        found.extend(_lint(schema["items"], f"{path}[]"))
    return found


def _undeclared(value: Any, schema: dict[str, Any], path: str) -> list[str]:
    """The paths of the fields in ``value``, at any depth, that ``schema`` does not declare."""
    found: list[str] = []
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for name, child in value.items():
            if name in properties:
                found.extend(_undeclared(child, properties[name], f"{path}.{name}"))
            else:
                found.append(f"{path}.{name}")
    elif isinstance(value, list):
        for item in value:
            found.extend(_undeclared(item, schema.get("items", {}), f"{path}[]"))
    return found


def _field_paths(value: Any, path: str = "$") -> set[str]:
    """The paths of every field in ``value``, at any depth (array items as ``[]``)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for name, child in value.items():
            found |= {f"{path}.{name}"} | _field_paths(child, f"{path}.{name}")
    elif isinstance(value, list):
        for item in value:
            found |= _field_paths(item, f"{path}[]")
    return found


def _reference_examples(event_type: str) -> list[dict[str, Any]]:
    """The reference's example events of ``event_type``."""
    text = (REFERENCE_EXAMPLES / f"{event_type}.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _validator(schema: dict[str, Any]) -> Draft7Validator:
    """A Draft 7 validator of ``schema`` that checks formats."""
    return Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)


@pytest.mark.parametrize("event_type", TYPES_WITH_SCHEMA_FILE)
def test_schema_is_a_valid_draft7_schema_keyed_on_event_id(event_type: str) -> None:
    schema = event_schema(event_type)
    Draft7Validator.check_schema(schema)
    assert schema["type"] == "object"
    # Records hold only declared top-level fields; the rest go to _sdc_unknown_fields.
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["event_id"]
    assert schema["properties"]["event_id"]["type"] == "string"
    assert schema["properties"]["timestamp"]["format"] == "date-time"


@pytest.mark.parametrize("event_type", TYPES_WITH_SCHEMA_FILE)
def test_type_specific_properties_are_merged_into_the_envelope(event_type: str) -> None:
    properties = set(event_schema(event_type)["properties"])
    assert properties > ENVELOPE_PROPERTIES


@pytest.mark.parametrize("event_type", TYPES_WITH_SCHEMA_FILE)
def test_every_property_but_event_id_is_nullable_and_nested_values_are_open(
    event_type: str,
) -> None:
    schema = event_schema(event_type)
    for path, child in _property_schemas(schema, "$"):
        if path == "$.event_id":
            continue
        types = child["type"]
        # Two types, or an open value of unknown shape: any JSON type (an array of those
        # holds anything but nested arrays).
        assert len(types) == 2 or types in (ANY_TYPE, ANY_ITEM_TYPE), path
        assert types[-1] == "null", path
        if "object" in types:
            assert child["additionalProperties"] is True, path
            assert isinstance(child["properties"], dict), path
        if "array" in types:
            assert "items" in child, path


@pytest.mark.parametrize("event_type", ["SOME_NEW_LOG", "envelope", "../envelope"])
def test_a_type_without_schema_file_gets_the_envelope_only(event_type: str) -> None:
    schema = event_schema(event_type)
    Draft7Validator.check_schema(schema)
    assert set(schema["properties"]) == ENVELOPE_PROPERTIES
    assert schema["required"] == ["event_id"]
    assert schema["additionalProperties"] is False


def test_every_known_type_has_a_schema_file() -> None:
    assert sorted(TYPES_WITH_SCHEMA_FILE) == sorted(KNOWN_EVENT_TYPES)


@pytest.mark.parametrize("event_type", sorted(KNOWN_EVENT_TYPES))
def test_schema_passes_the_singer_schema_lint(event_type: str) -> None:
    assert _lint(event_schema(event_type), "$") == []


def test_the_lint_flags_what_it_should() -> None:
    schema = {
        "type": "object",
        "additionalProperties": True,
        "properties": {
            "a": {},
            "b": {"type": ["object", "null"], "properties": {}},
            "c": {"type": ["array", "null"]},
            "d": {"type": ["array", "null"], "items": {"type": "object", "properties": {}}},
        },
    }
    assert _lint(schema, "$") == [
        "$.a: empty schema",
        "$.b: object without additionalProperties",
        "$.c: array without items",
        "$.d[]: object without additionalProperties",
    ]


@pytest.mark.parametrize("event_type", sorted(KNOWN_EVENT_TYPES))
def test_sandbox_templates_are_valid_and_use_only_declared_top_level_fields(
    event_type: str,
) -> None:
    schema = event_schema(event_type)
    validator = _validator(schema)
    assert templates(event_type)
    for template in templates(event_type):
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(template)]
        assert errors == [], template["event_id"]
        assert set(template) <= set(schema["properties"]), template["event_id"]


def test_format_checking_is_on_for_templates() -> None:
    validator = _validator(event_schema("COSTS"))
    template = templates("COSTS")[0]
    assert not validator.is_valid({**template, "timestamp": "yesterday"})
    assert not validator.is_valid(
        {**template, "payload": {**template["payload"], "day": "2030-13-01"}}
    )


def test_each_call_returns_a_fresh_copy() -> None:
    schema = event_schema("AUTH_LOG")
    schema["properties"]["actor"]["properties"].clear()
    schema["required"].append("type")
    assert event_schema("AUTH_LOG")["properties"]["actor"]["properties"]
    assert event_schema("SOME_NEW_LOG")["required"] == ["event_id"]


def test_an_event_without_event_id_is_invalid() -> None:
    validator = _validator(event_schema("AUTH_LOG"))
    assert not validator.is_valid({"type": "AUTH_LOG"})
    assert not validator.is_valid({"event_id": None, "type": "AUTH_LOG"})


def test_nested_unknown_fields_and_nulls_are_accepted_and_top_level_ones_are_not() -> None:
    event = {
        "event_id": "ca000000-0000-0000-0000-000000000008",
        "type": "CUSTOM_AGENTS_LOG",
        "timestamp": "2026-03-10T18:15:21Z",
        "principal": None,
        "actor": {
            "type": "AGENT",
            "id": "agent-harness-123",
            "agent_runtime": {"id": "runtime-123", "delegator": {"type": "ACCOUNT_USER"}},
            "brand_new": {"nested": [1, 2]},
        },
        "event_type": None,
        "event_details": {
            "detail_type": "AGENT_UPDATED",
            "agent_fields": {"tools": {"web_search": [{"x": 1}], "widget_tools": [{"y": 2}]}},
            "brand_new": 1.5,
        },
    }
    validator = _validator(event_schema("CUSTOM_AGENTS_LOG"))

    assert validator.is_valid(event)
    # A record moves top-level fields the schema does not declare into _sdc_unknown_fields.
    assert not validator.is_valid({**event, "brand_new_top_level": "moved"})


@pytest.mark.parametrize("event_type", TYPES_WITH_SCHEMA_FILE)
def test_the_reference_has_examples_of_every_type(event_type: str) -> None:
    examples = _reference_examples(event_type)
    assert examples
    assert {example["type"] for example in examples} == {event_type}
    assert len({example["event_id"] for example in examples}) == len(examples)


@pytest.mark.parametrize("event_type", TYPES_WITH_SCHEMA_FILE)
def test_every_field_of_the_reference_examples_is_declared(event_type: str) -> None:
    # An undeclared top-level field would land in _sdc_unknown_fields; an undeclared nested
    # one would get no column when a target flattens, and no type or description.
    schema = event_schema(event_type)
    for example in _reference_examples(event_type):
        assert _undeclared(example, schema, "$") == [], example["event_id"]


@pytest.mark.parametrize("event_type", TYPES_WITH_SCHEMA_FILE)
def test_the_reference_examples_are_valid(event_type: str) -> None:
    validator = _validator(event_schema(event_type))
    for example in _reference_examples(event_type):
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(example)]
        assert errors == [], example["event_id"]


@pytest.mark.parametrize("event_type", TYPES_WITH_SCHEMA_FILE)
def test_every_field_of_the_reference_examples_is_described(event_type: str) -> None:
    schema = event_schema(event_type)
    described = {path for path, child in _property_schemas(schema, "$") if child.get("description")}
    for example in _reference_examples(event_type):
        assert _field_paths(example) - described == set(), example["event_id"]


@pytest.mark.parametrize("event_type", TYPES_WITH_SCHEMA_FILE)
def test_the_sandbox_templates_carry_every_field_of_the_reference_examples(
    event_type: str,
) -> None:
    in_templates = set().union(*map(_field_paths, templates(event_type)))
    in_examples = set().union(*map(_field_paths, _reference_examples(event_type)))
    assert in_examples - in_templates == set()


@pytest.mark.parametrize("event_type", sorted(KNOWN_EVENT_TYPES))
def test_sandbox_templates_name_their_principal_type_as_the_reference_does(
    event_type: str,
) -> None:
    # A type served on both routes is templated as a workspace's (the sandbox sets the
    # organization's principal type when it serves the organization's feed).
    routes = {feed.scope for feed in KNOWN_FEEDS if feed.event_type == event_type}
    expected = PRINCIPAL_TYPES[Scope.WORKSPACE if Scope.WORKSPACE in routes else Scope.ORGANIZATION]
    assert {template["principal"]["type"] for template in templates(event_type)} == {expected}


@pytest.mark.parametrize("event_type", sorted(KNOWN_EVENT_TYPES))
def test_no_schema_rejects_a_value_the_reference_does_not_list(event_type: str) -> None:
    # The API adds values without notice (new actions, clients, statuses): documented values
    # are listed in descriptions, never as an enum a target would reject a new value by.
    for path, child in _property_schemas(event_schema(event_type), "$"):
        assert not {"enum", "const"} & child.keys(), path


def test_the_undeclared_field_finder_flags_what_it_should() -> None:
    schema = {
        "properties": {
            "a": {"properties": {"b": {}}},
            "c": {"items": {"properties": {"d": {}}}},
        }
    }
    event = {"a": {"b": 1, "x": 2}, "c": [{"d": 3}, {"y": [{"z": 4}]}], "e": None}
    assert _undeclared(event, schema, "$") == ["$.a.x", "$.c[].y", "$.e"]
    assert _field_paths(event) == {
        "$.a",
        "$.a.b",
        "$.a.x",
        "$.c",
        "$.c[].d",
        "$.c[].y",
        "$.c[].y[].z",
        "$.e",
    }
