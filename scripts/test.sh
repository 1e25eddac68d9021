#!/usr/bin/env bash
# The README's second command, and exactly what CI runs: lint, formatting, types, every test.
# The end-to-end tests start a throwaway PostgreSQL cluster, so PostgreSQL's server binaries
# must be installed (Debian: apt-get install postgresql; elsewhere set POSTGRES_BIN_DIR).
# Arguments go to pytest, e.g. `bash scripts/test.sh -k meltano`.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}

if [ ! -x "$VENV/bin/python" ]; then
  echo "==> Creating the virtualenv $VENV"
  "${PYTHON:-python3}" -m venv "$VENV"
fi
# Cheap when nothing changed, and it picks up dev dependencies added since the venv was made.
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[dev]'
PATH="$PWD/$VENV/bin:$PATH"
export PATH

echo "==> ruff check"
ruff check .
echo "==> ruff format --check"
ruff format --check .
echo "==> mypy"
mypy
echo "==> pytest"
# One worker per core: the end-to-end modules share one (tests/meltano_fixtures.py END_TO_END),
# the others take the rest. `-n 0` among the arguments runs everything in this process.
pytest --numprocesses=auto --dist=loadgroup "$@"
