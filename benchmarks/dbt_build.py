"""How long `dbt build` of transform/ takes through Meltano, on the sandbox's data and on N events.

Run as ``python benchmarks/dbt_build.py [--events 1000000] [--meltano-home DIR]`` with the
project's virtualenv. It starts a throwaway PostgreSQL cluster, loads the sandbox's demo data
with `meltano run sync-postgres` (not timed), and times `meltano invoke dbt-postgres:build` as a
whole process (Meltano's and dbt's start-up included) three ways:

- first: every model built from nothing (staging tables, then the models downstream);
- again: the same data, nothing new (what an hourly run costs when no file came);
- hourly: after a new hour of files (one per stream, the size of one hour's share of the data).

Then it fills the loaded tables to ``--events`` events with SQL (INSERT ... SELECT over
generate_series, copying the sandbox's rows under new event ids, times and log files spread
over 30 days, 2,500 events a file, in a mix of streams like a busy workspace's) and times the
same three. Results go to results/latest-dbt-build.json (ignored by git).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import typing as t
from pathlib import Path

import psycopg
from psycopg import sql

from tap_openai_compliance.sandbox import DEMO_API_KEY, FakeComplianceAPI, build_demo_dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.meltano_project import PROJECT_ROOT, meltano_env
from tests.postgres import PostgresCluster, throwaway_cluster

BIN = Path(sys.executable).parent
MELTANO = str(BIN / "meltano")
RESULTS = PROJECT_ROOT / "benchmarks" / "results"
RAW, MODELS = "bench_raw", "bench_models"
EVENTS_PER_FILE = 2500
DAYS = 30
# Each stream's share of the events: conversations dominate, costs are hourly rows.
MIX = {
    "conversation_message": 0.40,
    "codex_log": 0.15,
    "app_log": 0.10,
    "auth_log": 0.10,
    "audit_log": 0.05,
    "custom_agents_log": 0.05,
    "chatgpt_plugin_spreadsheet": 0.04,
    "costs": 0.05,
    "app_auth_log": 0.03,
    "codex_security_log": 0.03,
}


def timed(args: list[str], env: dict[str, str]) -> dict[str, t.Any]:
    """Run a meltano command to its end; its wall time and what dbt says it took."""
    started = time.monotonic()
    result = subprocess.run(
        [MELTANO, *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=False
    )
    wall = time.monotonic() - started
    output = result.stdout + result.stderr
    if result.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n" + "\n".join(output.splitlines()[-40:]))
    finished = re.search(r"Finished running .* in .*\(([\d.]+)s\)", output)
    done = re.search(r"Done\. (PASS=\d+ WARN=\d+ ERROR=\d+ SKIP=\d+)", output)
    return {
        "wall_seconds": round(wall, 2),
        "dbt_seconds": float(finished.group(1)) if finished else None,
        "tests": done.group(1) if done else None,
    }


def fill(cluster: PostgresCluster, events: int) -> dict[str, int]:
    """Fill the loaded tables to about ``events`` events, copying each one's sandbox rows."""
    counts = {}
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    with psycopg.connect(cluster.conninfo, autocommit=True) as conn:
        for table, share in MIX.items():
            existing = conn.execute(
                sql.SQL("SELECT count(*) FROM {}.{}").format(
                    sql.Identifier(RAW), sql.Identifier(table)
                )
            ).fetchone()
            assert existing is not None
            wanted = max(int(events * share) - existing[0], 0)
            columns = [
                row[0]
                for row in conn.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                    (RAW, table),
                )
            ]
            # Row g: a copy of a sandbox row, at a time spread over the last 30 days, in the
            # log file of its 2,500 neighbours.
            replaced = {
                "event_id": sql.SQL("'bench-' || {} || '-' || g").format(sql.Literal(table)),
                "timestamp": sql.SQL("{} - (g * ({} / {}::float)) * interval '1 second'").format(
                    sql.Literal(now), sql.Literal(DAYS * 86400), sql.Literal(wanted)
                ),
                "_sdc_log_file_id": sql.SQL("'bench_' || {} || '_' || (g / {})").format(
                    sql.Literal(table), sql.Literal(EVENTS_PER_FILE)
                ),
                "_sdc_log_file_end_time": sql.SQL(
                    "{} - ((g / {}) * {} * ({} / {}::float)) * interval '1 second'"
                ).format(
                    sql.Literal(now),
                    sql.Literal(EVENTS_PER_FILE),
                    sql.Literal(EVENTS_PER_FILE),
                    sql.Literal(DAYS * 86400),
                    sql.Literal(wanted),
                ),
            }
            select = sql.SQL(", ").join(
                replaced.get(name, sql.SQL("s.{}").format(sql.Identifier(name))) for name in columns
            )
            conn.execute(
                sql.SQL(
                    "INSERT INTO {table} ({columns}) "
                    "SELECT {select} FROM generate_series(1, {wanted}) AS g "
                    "JOIN (SELECT *, row_number() OVER (ORDER BY event_id) - 1 AS n, "
                    "count(*) OVER () AS total FROM {table}) AS s "
                    "ON s.n = g % s.total"
                ).format(
                    table=sql.Identifier(RAW, table),
                    columns=sql.SQL(", ").join(sql.Identifier(name) for name in columns),
                    select=select,
                    wanted=sql.Literal(wanted),
                )
            )
            conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(RAW, table)))
            counts[table] = existing[0] + wanted
    return counts


def add_hour(cluster: PostgresCluster, total_events: int) -> int:
    """Add one new log file per stream ending now: an hour's share of the events."""
    added = 0
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    per_hour = max(total_events // (DAYS * 24), len(MIX))
    with psycopg.connect(cluster.conninfo, autocommit=True) as conn:
        for table, share in MIX.items():
            rows = max(int(per_hour * share), 1)
            columns = [
                row[0]
                for row in conn.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                    (RAW, table),
                )
            ]
            replaced = {
                "event_id": sql.SQL("'hour-' || {} || '-' || {} || '-' || g").format(
                    sql.Literal(table), sql.Literal(now.isoformat())
                ),
                "timestamp": sql.Literal(now),
                "_sdc_log_file_id": sql.SQL("'hour_' || {} || '_' || {}").format(
                    sql.Literal(table), sql.Literal(now.isoformat())
                ),
                "_sdc_log_file_end_time": sql.Literal(now),
            }
            select = sql.SQL(", ").join(
                replaced.get(name, sql.SQL("s.{}").format(sql.Identifier(name))) for name in columns
            )
            conn.execute(
                sql.SQL(
                    "INSERT INTO {table} ({columns}) SELECT {select} "
                    "FROM generate_series(1, {rows}) AS g "
                    "JOIN (SELECT * FROM {table} LIMIT 1) AS s ON true"
                ).format(
                    table=sql.Identifier(RAW, table),
                    columns=sql.SQL(", ").join(sql.Identifier(name) for name in columns),
                    select=select,
                    rows=sql.Literal(rows),
                )
            )
            added += rows
    return added


def three_builds(env: dict[str, str], cluster: PostgresCluster, events: int) -> dict[str, t.Any]:
    """First build, a build with nothing new, a build after a new hour of files."""
    first = timed(["invoke", "dbt-postgres:build"], env)
    again = timed(["invoke", "dbt-postgres:build"], env)
    added = add_hour(cluster, events)
    hourly = timed(["invoke", "dbt-postgres:build"], env)
    return {"first": first, "again": again, "hourly": {**hourly, "events_added": added}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--meltano-home", type=Path, help="keep the installed plugins here")
    options = parser.parse_args()
    home = options.meltano_home or Path(tempfile.mkdtemp(prefix="dbt-bench-meltano-"))
    results: dict[str, t.Any] = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip(),
        "machine": {
            "cores": len(os.sched_getaffinity(0)),
            "python": platform.python_version(),
            "load_average_before": list(os.getloadavg()),
        },
    }
    with (
        throwaway_cluster() as cluster,
        FakeComplianceAPI(api_key=DEMO_API_KEY) as api,
        tempfile.TemporaryDirectory(prefix="dbt-bench-") as work,
    ):
        build_demo_dataset(api, now=datetime.datetime.now(datetime.UTC))
        env = meltano_env(
            home,
            Path(work) / "meltano.db",
            MELTANO_ENVIRONMENT="sandbox",
            TAP_OPENAI_COMPLIANCE_API_URL=api.api_url,
            PYTHONUNBUFFERED="1",
            **cluster.target_postgres_env(RAW),
            DBT_POSTGRES_SCHEMA=MODELS,
            DBT_TARGET_PATH=str(Path(work) / "target"),
            DBT_LOG_PATH=str(Path(work) / "logs"),
        )
        install = ["install", "tap-openai-compliance", "target-postgres", "dbt-postgres"]
        subprocess.run([MELTANO, *install], cwd=PROJECT_ROOT, env=env, check=True)
        subprocess.run(
            [MELTANO, "run", "sync-postgres"],
            cwd=PROJECT_ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        with psycopg.connect(cluster.conninfo) as conn:
            counted = sum(
                conn.execute(
                    sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(RAW, table))
                ).fetchone()[0]  # type: ignore[index]
                for table in MIX
            )
        print(f"sandbox: {counted} events loaded", flush=True)
        results["sandbox"] = {"events": counted, **three_builds(env, cluster, counted)}
        print(json.dumps(results["sandbox"], indent=2), flush=True)

        with psycopg.connect(cluster.conninfo, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(MODELS)))
        started = time.monotonic()
        counts = fill(cluster, options.events)
        fill_seconds = round(time.monotonic() - started, 1)
        total = sum(counts.values())
        print(f"filled to {total} events in {fill_seconds} s", flush=True)
        results["filled"] = {
            "events": total,
            "per_stream": counts,
            "fill_seconds": fill_seconds,
            **three_builds(env, cluster, total),
        }
        print(json.dumps(results["filled"], indent=2), flush=True)
    results["machine"]["load_average_after"] = list(os.getloadavg())
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest-dbt-build.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
