"""BATCH messages: whole log files in gzip JSON Lines files, each covered by the STATE after it."""

from __future__ import annotations

import gzip
import json
import os
import time
import typing as t
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from singer_sdk.helpers._batch import BatchConfig

from tap_openai_compliance.batching import BatchConfigError, BatchFile, local_root
from tap_openai_compliance.sandbox import Fault
from tests.conftest import (
    FIRST_END_TIME,
    WORKSPACE_ID,
    add_files,
    events_of,
    files_covered_by,
    hourly,
    tap_config,
)
from tests.tap_runner import run_tap, run_tap_until

if t.TYPE_CHECKING:
    from tests.tap_runner import TapRun


def batch_config(root: Path, batch_size: int = 10, **storage: t.Any) -> dict[str, t.Any]:
    """A batch_config writing gzip JSON Lines under ``root``."""
    return {
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "storage": {"root": root.as_uri(), **storage},
        "batch_size": batch_size,
    }


def batch_records(url: str) -> list[dict[str, t.Any]]:
    """The records of a batch file."""
    with gzip.open(urlsplit(url).path) as file:
        return [json.loads(line) for line in file]


def walk_batches(run: TapRun) -> list[tuple[list[str], dict[str, t.Any]]]:
    """Each BATCH message's file ids, with the auth_log bookmark of the STATE after it."""
    batches = []
    for index, message in enumerate(run.messages):
        if message["type"] == "BATCH":
            (url,) = message["manifest"]
            file_ids = list(dict.fromkeys(r["_sdc_log_file_id"] for r in batch_records(url)))
            state = next(m for m in run.messages[index:] if m["type"] == "STATE")
            batches.append((file_ids, state["value"]["bookmarks"]["auth_log"]))
    return batches


def test_whole_files_are_gathered_into_batches_each_covered_by_the_state_after_it(api, tmp_path):
    file_ids = add_files(api, "AUTH_LOG", hourly(7), events_per_file=4)
    config = tap_config(api, event_types=["AUTH_LOG"], batch_config=batch_config(tmp_path))

    run = run_tap(tmp_path, config)

    assert run.returncode == 0, run.stderr
    assert run.events() == []
    batches = walk_batches(run)
    # 4 events a file, closed once 10 or more: files 1-3, 4-6, then 7.
    assert [ids for ids, _ in batches] == [file_ids[:3], file_ids[3:6], file_ids[6:]]
    done = []
    for ids, bookmark in batches:
        done += ids
        assert files_covered_by(bookmark, api, file_ids) == set(done)
    urls = [m["manifest"][0] for m in run.messages if m["type"] == "BATCH"]
    records = [r for url in urls for r in batch_records(url)]
    assert [{k: v for k, v in r.items() if not k.startswith("_sdc")} for r in records] == (
        events_of(api, file_ids)
    )
    assert {row["id"] for row in run.records("log_files")} == set(file_ids)


def test_a_batch_also_closes_after_batch_max_seconds(api, tmp_path):
    file_ids = add_files(api, "AUTH_LOG", hourly(3), events_per_file=1)
    for file_id in file_ids[1:]:
        api.inject("storage", Fault.delay(0.5), file_id=file_id)
    config = tap_config(
        api,
        event_types=["AUTH_LOG"],
        batch_config=batch_config(tmp_path, batch_size=1000),
        batch_max_seconds=0.2,
        max_concurrent_downloads=1,
    )

    run = run_tap(tmp_path, config)

    assert [ids for ids, _ in walk_batches(run)] == [[file_id] for file_id in file_ids]


def test_a_kill_mid_batch_loses_nothing_when_rerun(api, tmp_path):
    file_ids = add_files(api, "AUTH_LOG", hourly(9), events_per_file=4)
    config = tap_config(
        api,
        event_types=["AUTH_LOG"],
        batch_config=batch_config(tmp_path),
        max_concurrent_downloads=1,
    )

    killed = run_tap_until(tmp_path, config, None, count=1)
    resumed = run_tap(tmp_path, config, killed.last_state)

    covered = files_covered_by(killed.last_state["bookmarks"]["auth_log"], api, file_ids)
    assert covered == set(file_ids[:3])
    loaded = [ids for run in (killed, resumed) for ids, _ in walk_batches(run)]
    assert sorted(file_id for ids in loaded for file_id in ids) == sorted(file_ids)


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"stream_maps": {"auth_log": {"actor": "__NULL__"}}}, "cannot be combined with"),
        ({"flattening_enabled": True}, "cannot be combined with"),
    ],
)
def test_batches_with_stream_maps_or_flattening_are_refused_up_front(
    api, tmp_path, overrides, says
):
    config = tap_config(api, batch_config=batch_config(tmp_path), **overrides)

    run = run_tap(tmp_path, config)

    assert run.returncode == 1
    assert says in run.stderr
    assert api.requests == []


def test_batches_with_a_deselected_field_are_refused(api, tmp_path):
    add_files(api, "AUTH_LOG", hourly(1))
    config = tap_config(api, event_types=["AUTH_LOG"], batch_config=batch_config(tmp_path))
    catalog = json.loads(run_tap(tmp_path, config, extra_args=["--discover"]).stdout)
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == ["properties", "actor"]:
                metadata["metadata"]["selected"] = False
    (tmp_path / "catalog.json").write_text(json.dumps(catalog))

    run = run_tap(tmp_path, config, extra_args=["--catalog", str(tmp_path / "catalog.json")])

    assert run.returncode == 1
    (line,) = run.errors()
    assert "Stream auth_log has fields deselected" in line


def test_batch_files_of_runs_ended_an_hour_ago_are_removed_by_the_next_run(api, tmp_path):
    add_files(api, "AUTH_LOG", hourly(2))
    config = tap_config(api, event_types=["AUTH_LOG"], batch_config=batch_config(tmp_path))
    first = run_tap(tmp_path, config)
    (old,) = [path for path in tmp_path.glob("batches-tap-openai-compliance-*") if path.is_dir()]
    second = run_tap(tmp_path, config, first.last_state)
    assert old.exists(), "a target may still be loading them"
    hour_ago = time.time() - 3601
    os.utime(old, (hour_ago, hour_ago))

    run_tap(tmp_path, config, second.last_state)

    assert not old.exists()
    assert not old.with_suffix(".lock").exists()


def test_batch_files_go_to_a_local_directory_only(tmp_path):
    s3 = BatchConfig.from_dict(
        {"encoding": {"format": "jsonl"}, "storage": {"root": "s3://bucket/batches"}}
    )
    parquet = BatchConfig.from_dict(
        {"encoding": {"format": "parquet"}, "storage": {"root": tmp_path.as_uri()}}
    )

    for config in (s3, parquet):
        with pytest.raises(BatchConfigError, match="to a local directory"):
            local_root(config)
    assert local_root(BatchConfig.from_dict(batch_config(tmp_path / "new"))) == tmp_path / "new"


def test_a_batch_is_full_at_its_size_or_its_age(tmp_path):
    clock = [0.0]
    batch = BatchFile(tmp_path, "b", max_records=3, max_seconds=60, clock=lambda: clock[0])

    batch.write([{"n": 1}, {"n": 2}])
    assert not batch.is_full()
    clock[0] = 60
    assert batch.is_full()
    batch.write([{"n": 3}])
    url = batch.close()

    assert batch_records(url) == [{"n": 1}, {"n": 2}, {"n": 3}]


def test_a_full_disk_under_the_batch_root_stops_the_sync_in_one_plain_line(
    api, tmp_path, small_disk
):
    # Random hex, which gzip shrinks to half at best: 5 MB of it, on a 2 MiB disk.
    events = [{"event_id": f"e{n}", "pad": os.urandom(64).hex()} for n in range(40_000)]
    api.add_log_file("workspaces", WORKSPACE_ID, "AUTH_LOG", events, FIRST_END_TIME)
    config = tap_config(
        api,
        event_types=["AUTH_LOG"],
        batch_config=batch_config(small_disk, batch_size=100_000),
    )

    run = run_tap(tmp_path, config)

    assert run.returncode == 1
    (line,) = run.errors()
    assert f"Cannot write batch file {small_disk}/" in line
    assert "batch_config.storage.root" in line
    assert "Traceback" not in run.stderr
    # The unfinished batch file is gone: no BATCH message names it, and the disk is free again.
    assert not list(small_disk.rglob("*.jsonl.gz"))
