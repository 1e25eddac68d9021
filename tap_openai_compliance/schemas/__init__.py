"""The JSON Schemas of the event streams, shipped as package data next to this module."""

from __future__ import annotations

import copy
import functools
import json
from importlib import resources
from typing import Any

_ENVELOPE_FILE = "envelope.json"


@functools.cache
def _load(file_name: str) -> dict[str, Any]:
    """The parsed schema file ``file_name`` of this package."""
    text = resources.files(__name__).joinpath(file_name).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def _type_specific_files() -> frozenset[str]:
    """The names of the schema files that hold one event type's own properties."""
    names = {entry.name for entry in resources.files(__name__).iterdir()}
    return frozenset(name for name in names if name.endswith(".json")) - {_ENVELOPE_FILE}


def event_schema(event_type: str) -> dict[str, Any]:
    """A fresh JSON Schema of an event type: the envelope plus the type's own properties.

    Nested objects keep fields they do not declare; at the top level a record holds only
    declared properties (see ``records.as_records``).
    """
    envelope = _load(_ENVELOPE_FILE)
    file_name = f"{event_type.lower()}.json"
    own = _load(file_name)["properties"] if file_name in _type_specific_files() else {}
    return copy.deepcopy({**envelope, "properties": {**envelope["properties"], **own}})
