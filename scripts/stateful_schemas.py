"""Write the stateful tables' JSON Schemas from OpenAI's API reference (an OpenAPI file).

    python scripts/stateful_schemas.py path/to/programmatic-admin-platform-openapi-2.5.3.json

For each table of ``tap_openai_compliance/tables.py``, the item schema of its list endpoint's
200 answer (``data[]``), with every ``$ref``, ``allOf`` and ``oneOf`` resolved, becomes
``tap_openai_compliance/schemas/stateful/<table>.json`` as Singer targets want it: every
property nullable, documented values listed in the description (an ``enum`` would make a
validating target refuse a value OpenAI adds), nested objects open
(``additionalProperties: true``), date-time strings kept as such, other formats left out. The
resolved item schemas also go to ``tests/fixtures/reference_stateful_items.json``, and each
endpoint's query parameters, answer fields and documented rate limit to
``tests/fixtures/reference_stateful_endpoints.json``, so that the tests hold the schemas and
``tables.py`` to the reference without it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import typing as t
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tap_openai_compliance.tables import TABLES  # noqa: E402

SCHEMA_DIRECTORY = REPO / "tap_openai_compliance" / "schemas" / "stateful"
FIXTURE = REPO / "tests" / "fixtures" / "reference_stateful_items.json"
ENDPOINTS_FIXTURE = REPO / "tests" / "fixtures" / "reference_stateful_endpoints.json"
WORKSPACE_PATH = "/compliance/workspaces/{workspace_id}/"
# Keys of an OpenAPI schema that say nothing a Singer schema keeps.
DROPPED = {"example", "examples", "required", "nullable", "default", "minimum", "maximum"}
JSON_TYPES = ["array", "boolean", "integer", "number", "object", "string"]


class Resolver:
    """Resolves ``$ref``, ``allOf``, ``oneOf`` and ``anyOf`` of one OpenAPI document."""

    def __init__(self, document: dict[str, t.Any]) -> None:
        self.document = document

    def lookup(self, ref: str) -> dict[str, t.Any]:
        """The node a local ``$ref`` points at."""
        node: t.Any = self.document
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
        return t.cast("dict[str, t.Any]", node)

    def flatten(self, node: dict[str, t.Any], seen: tuple[str, ...] = ()) -> dict[str, t.Any]:
        """``node`` without references or combinators; its own keys win over what it joins."""
        own = {key: value for key, value in node.items() if key not in ("$ref", "allOf")}
        parts: list[dict[str, t.Any]] = []
        if ref := node.get("$ref"):
            if ref in seen:
                raise ValueError(f"a schema refers to itself: {' > '.join((*seen, ref))}")
            parts.append(self.flatten(self.lookup(ref), (*seen, ref)))
        parts.extend(self.flatten(part, seen) for part in node.get("allOf", []))
        for combinator in ("oneOf", "anyOf"):
            if alternatives := own.pop(combinator, None):
                parts.append(self.union([self.flatten(part, seen) for part in alternatives]))
        merged: dict[str, t.Any] = {}
        for part in [*parts, own]:
            merged = merge(merged, part)
        for key in ("properties",):
            if key in merged:
                merged[key] = {
                    name: self.flatten(child, seen) for name, child in merged[key].items()
                }
        if isinstance(merged.get("items"), dict):
            merged["items"] = self.flatten(merged["items"], seen)
        if isinstance(merged.get("additionalProperties"), dict):
            merged["additionalProperties"] = self.flatten(merged["additionalProperties"], seen)
        return merged

    @staticmethod
    def union(alternatives: list[dict[str, t.Any]]) -> dict[str, t.Any]:
        """One schema accepting each alternative: their types, and their properties merged."""
        types: list[str] = []
        merged: dict[str, t.Any] = {}
        for alternative in alternatives:
            kind = alternative.get("type") or ("object" if "properties" in alternative else None)
            if kind and kind not in types:
                types.append(kind)
            merged = merge(merged, {k: v for k, v in alternative.items() if k != "type"})
        merged.pop("description", None)
        merged["type"] = types[0] if len(types) == 1 else types
        return merged


def merge(base: dict[str, t.Any], over: dict[str, t.Any]) -> dict[str, t.Any]:
    """``over`` laid on ``base``; their properties merged name by name."""
    merged = {**base, **over}
    if "enum" in base and "enum" in over:
        # One of several alternatives (oneOf) documents each one's values.
        merged["enum"] = list(dict.fromkeys([*base["enum"], *over["enum"]]))
    if "properties" in base and "properties" in over:
        properties = dict(base["properties"])
        for name, child in over["properties"].items():
            properties[name] = merge(properties.get(name, {}), child)
        merged["properties"] = properties
    return merged


def types_of(node: dict[str, t.Any]) -> list[str]:
    """The JSON types a flattened OpenAPI schema allows (every one when it says none)."""
    kind = node.get("type")
    if kind is None:
        return ["object"] if "properties" in node else list(JSON_TYPES)
    return [kind] if isinstance(kind, str) else list(kind)


def described(node: dict[str, t.Any]) -> str | None:
    """The description, with the documented values an ``enum`` lists."""
    text = " ".join(str(node.get("description") or "").split())
    values = node.get("enum")
    if values:
        listed = ", ".join(str(value) for value in values)
        documented = f"Always {listed}." if len(values) == 1 else f"Documented values: {listed}."
        text = f"{text.rstrip('.')}. {documented}" if text else documented
    return text or None


def singer_schema(node: dict[str, t.Any]) -> dict[str, t.Any]:
    """A flattened OpenAPI schema as a nullable, open Singer schema."""
    out: dict[str, t.Any] = {}
    if text := described(node):
        out["description"] = text
    kinds = types_of(node)
    out["type"] = [*kinds, "null"]
    if node.get("format") == "date-time" and kinds == ["string"]:
        out["format"] = "date-time"
    if "object" in kinds:
        properties = node.get("properties") or {}
        if properties:
            out["properties"] = {name: singer_schema(child) for name, child in properties.items()}
        out["additionalProperties"] = True
    if "array" in kinds:
        items = node.get("items") or {"type": [kind for kind in JSON_TYPES if kind != "array"]}
        out["items"] = singer_schema(items)
    return out


def item_schema(resolver: Resolver, path: str) -> dict[str, t.Any]:
    """The resolved schema of one ``data[]`` item of a list endpoint's 200 answer."""
    operation = resolver.document["paths"][WORKSPACE_PATH + path]["get"]
    answer = resolver.flatten(operation["responses"]["200"])
    body = resolver.flatten(answer["content"]["application/json"]["schema"])
    return resolver.flatten(body["properties"]["data"]["items"])


def endpoint(resolver: Resolver, path: str) -> dict[str, t.Any]:
    """What the tests check ``tables.py`` against: a list endpoint's query parameters, the
    fields of its answer, its 429 description and security."""
    operation = resolver.document["paths"][WORKSPACE_PATH + path]["get"]
    answer = resolver.flatten(operation["responses"]["200"])
    body = resolver.flatten(answer["content"]["application/json"]["schema"])
    return {
        "query": {
            parameter["name"]: {
                **resolver.flatten(parameter.get("schema", {})),
                "description": " ".join(str(parameter.get("description", "")).split()),
            }
            for parameter in operation.get("parameters", [])
            if parameter.get("in") == "query"
        },
        "answer_fields": sorted(body["properties"]),
        "too_many_requests": " ".join(
            str(operation["responses"].get("429", {}).get("description", "")).split()
        ),
        "security": operation.get("security"),
    }


def table_schema(item: dict[str, t.Any]) -> dict[str, t.Any]:
    """A table's schema: the item's properties, nothing undeclared at the top level."""
    return {
        "type": "object",
        "properties": {name: singer_schema(child) for name, child in item["properties"].items()},
        "additionalProperties": False,
    }


def without_noise(node: t.Any) -> t.Any:
    """A resolved schema without the keys no test reads (examples and the like)."""
    if isinstance(node, dict):
        return {key: without_noise(value) for key, value in node.items() if key not in DROPPED}
    if isinstance(node, list):
        return [without_noise(value) for value in node]
    return node


def compact_lists(text: str) -> str:
    """Indented JSON with each list of strings on one line, as the other schema files have."""
    return (
        re.sub(
            r"\[\s*((?:\"[^\"]*\",\s*)*\"[^\"]*\")\s*\]",
            lambda match: "[" + ", ".join(re.findall(r'"[^"]*"', match[1])) + "]",
            text,
        )
        + "\n"
    )


def main(argv: list[str] | None = None) -> int:
    """Write every table's schema, and the fixture of the reference's item schemas."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference", type=Path, help="the OpenAPI JSON file of the reference")
    args = parser.parse_args(argv)
    resolver = Resolver(json.loads(args.reference.read_text()))
    SCHEMA_DIRECTORY.mkdir(parents=True, exist_ok=True)
    items = {}
    endpoints = {}
    for table in TABLES.values():
        endpoints[table.name] = endpoint(resolver, table.path)
        item = item_schema(resolver, table.path)
        items[table.name] = without_noise(item)
        text = compact_lists(json.dumps(table_schema(item), indent=2, ensure_ascii=False))
        (SCHEMA_DIRECTORY / f"{table.name}.json").write_text(text)
    FIXTURE.write_text(json.dumps(items, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
    ENDPOINTS_FIXTURE.write_text(
        json.dumps(endpoints, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
    )
    print(f"wrote {len(items)} schemas to {SCHEMA_DIRECTORY.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
