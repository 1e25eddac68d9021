"""Session fixtures of the tests through Meltano: one PostgreSQL cluster, one set of plugins.

Registered for every test module by ``tests/conftest.py``, so that test_meltano.py and
test_transform.py share them instead of each starting a cluster and installing plugins.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest

from tests.meltano_project import PROJECT_ROOT, meltano_env
from tests.postgres import PostgresCluster, throwaway_cluster

if t.TYPE_CHECKING:
    from collections.abc import Iterator

MELTANO = shutil.which("meltano", path=str(Path(sys.executable).parent)) or "meltano"
# What the tests run. Inherited plugins share their parent's virtualenv; the dbt transformers
# each get one of their own.
PLUGINS = (
    "tap-openai-compliance",
    "target-postgres",
    "target-jsonl",
    "target-csv",
    "dbt-postgres",
    "dbt-snowflake",
)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster for the whole session; failing to start it fails the tests."""
    with throwaway_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def meltano_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A .meltano directory outside the work tree, with the plugins the tests run installed."""
    home = tmp_path_factory.mktemp("meltano-home")
    env = meltano_env(home, home / "install.db")
    installed = subprocess.run(
        [MELTANO, "install", *PLUGINS],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return home
