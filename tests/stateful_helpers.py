"""What the stateful tables' tests share: settings, the sandbox's rows, the tap's messages."""

from __future__ import annotations

import copy
import typing as t

from tap_openai_compliance.tables import TABLES, Table
from tests.conftest import WORKSPACE_ID, tap_config

if t.TYPE_CHECKING:
    from tap_openai_compliance.sandbox import FakeComplianceAPI
    from tap_openai_compliance.sandbox.stateful import StatefulWorkspace
    from tests.tap_runner import TapRun

WORKSPACE_TABLES = [name for name, table in TABLES.items() if not table.per_user]
PER_USER_TABLES = [name for name, table in TABLES.items() if table.per_user]


def stateful_config(api: FakeComplianceAPI, **overrides: t.Any) -> dict[str, t.Any]:
    """The tests' settings with the stateful tables at their defaults (unless overridden)."""
    config = tap_config(api, **overrides)
    if "stateful_tables" not in overrides:
        del config["stateful_tables"]
    return config


def parent_rows(data: StatefulWorkspace, table: Table) -> list[tuple[str, ...]]:
    """The parent ids each call of ``table`` is made under (outermost first)."""
    if table.parent is None:
        return [()]
    parent = TABLES[table.parent]
    return [
        (*ids, row["id"])
        for ids in parent_rows(data, parent)
        for row in data.list(parent.name, ids)
    ]


def served_rows(data: StatefulWorkspace, name: str) -> dict[tuple[str, ...], dict[str, t.Any]]:
    """Every row of a table the sandbox serves, by primary key, with its parents' ids."""
    table = TABLES[name]
    found = {}
    for ids in parent_rows(data, table):
        for row in data.list(name, ids):
            record = {**copy.deepcopy(row), **dict(zip(table.keys[:-1], ids, strict=True))}
            found[(*ids, row["id"])] = record
    return found


def by_primary_key(
    name: str, rows: list[dict[str, t.Any]], where: str
) -> dict[tuple[str, ...], dict[str, t.Any]]:
    """A table's rows by primary key; a repeated key fails, saying ``where`` it repeats."""
    keys = TABLES[name].keys
    by_key = {tuple(row[key] for key in keys): row for row in rows}
    assert len(by_key) == len(rows), f"{name} {where} a key twice"
    return by_key


def synced_rows(run: TapRun, name: str) -> dict[tuple[str, ...], dict[str, t.Any]]:
    """Every record of a table the tap emitted, by primary key; a repeated key fails."""
    return by_primary_key(name, run.records(name), "emitted")


def without_download_urls(value: t.Any) -> t.Any:
    """``value`` with every download_url left out, as the tap sends rows by default."""
    if isinstance(value, dict):
        return {k: without_download_urls(v) for k, v in value.items() if k != "download_url"}
    if isinstance(value, list):
        return [without_download_urls(item) for item in value]
    return value


def messages_of(run: TapRun, name: str) -> list[dict[str, t.Any]]:
    """The messages of one stream, in order."""
    return [message for message in run.messages if message.get("stream") == name]


def workspace_of(api: FakeComplianceAPI) -> StatefulWorkspace:
    """The tests' workspace in the sandbox's stateful data."""
    return api.stateful.workspace(WORKSPACE_ID)
