"""Running meltano on this project, from the end-to-end tests and the benchmark."""

from __future__ import annotations

import os
import re
import sys
import typing as t
from pathlib import Path

if t.TYPE_CHECKING:
    from collections.abc import Mapping

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Settings a developer's shell might hold that would change what a run does.
FOREIGN_VARIABLES = re.compile(
    r"^(MELTANO_|TAP_OPENAI_COMPLIANCE|TARGET_|COMPLIANCE_API_KEY$|EMAIL_HASH_SALT$|SNOWFLAKE_|DBT_)"
)


def without_foreign_settings(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` less any setting of meltano, the tap or its targets."""
    return {name: value for name, value in environ.items() if not FOREIGN_VARIABLES.match(name)}


def meltano_env(
    home: Path, database: Path, base: Mapping[str, str] | None = None, /, **extra: str
) -> dict[str, str]:
    """The environment of a meltano command: this project, the given system dir and db.

    ``base`` is the rest of it: by default this process's, less foreign settings.
    """
    env = without_foreign_settings(os.environ) if base is None else dict(base)
    return {
        **env,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "MELTANO_PROJECT_ROOT": str(PROJECT_ROOT),
        "MELTANO_SYS_DIR_ROOT": str(home),
        "MELTANO_DATABASE_URI": f"sqlite:///{database}",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        **extra,
    }
