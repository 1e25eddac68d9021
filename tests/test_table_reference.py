"""docs/log-tables.md is the schemas' own table reference, never a copy left behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_table_reference_is_generated_from_the_current_schemas():
    check = subprocess.run(
        [sys.executable, "scripts/table_reference.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )

    assert check.returncode == 0, check.stdout + check.stderr


def test_the_reference_lists_every_feeds_table_and_the_documented_values():
    page = (ROOT / "docs" / "log-tables.md").read_text()

    for table in ("auth_log", "app_organization_log", "costs", "log_files", "rejected_lines"):
        assert f"\n## {table}\n" in page
    (action,) = [line for line in page.splitlines() if line.startswith("| `action_data.action` |")][
        :1
    ]
    assert "login_success" in action
