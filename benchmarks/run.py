"""Benchmarks of issue 4: the tap against the local fake API, next to what the network allows.

Run as ``python benchmarks/run.py [--quick] [--case NAME]``. Each case runs
once: the machine is shared and noisy, so the table gives ratios against a reference measured
in the same minute, not only seconds. The tap always runs through its console command, as a
user runs it; its stdout is piped back here and its RECORD lines counted, so a sync that loses
events shows up. The tap measured is the one ``tap_openai_compliance`` imports: to measure a
commit while others edit the work tree, check it out elsewhere and put it on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import datetime
import io
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import typing as t
from importlib import metadata
from pathlib import Path

import orjson
import requests

import tap_openai_compliance
from tap_openai_compliance import settings
from tap_openai_compliance.sandbox import FakeComplianceAPI
from tap_openai_compliance.sandbox.data import make_event
from tap_openai_compliance.sandbox.server import encode_jsonl

if t.TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
TAP = shutil.which("tap-openai-compliance") or str(
    Path(sys.executable).with_name("tap-openai-compliance")
)

API_KEY = "sk-bench-0000000000000000"
WORKSPACE_ID = "bbbbbbbb-0000-4000-8000-000000000001"
EVENT_TYPE = "AUTH_LOG"
STREAM = "auth_log"
FIRST_END_TIME = datetime.datetime(2026, 11, 1, tzinfo=datetime.timezone.utc)
MIB = 1 << 20
# The tap's default, read from its settings so that the reference follows a changed default.
DEFAULT_WORKERS: int = settings.CONFIG_SCHEMA["properties"]["max_concurrent_downloads"]["default"]
PAGE_SIZE = 100

API_LATENCY = 0.04
RATE_LIMIT = 20.0
MIN_SEQUENTIAL_OVER_TAP = 8.0
MAX_TAP_OVER_CONCURRENT = 1.3
MIN_TAP_OVER_ORJSON = 0.25
MAX_BIG_FILE_RSS = 200 * MIB
MAX_RSS_GROWTH = 50 * MIB
MAX_REFUSED_SHARE = 1 / 3


@dataclasses.dataclass(frozen=True)
class Sizes:
    """How much data each case moves."""

    latency_files: int
    events_per_small_file: int
    cpu_events: int
    cpu_files: int
    big_file_bytes: int
    small_file_bytes: int
    rate_limited_files: int


FULL = Sizes(
    latency_files=500,
    events_per_small_file=3,
    cpu_events=100_000,
    cpu_files=4,
    big_file_bytes=110 * MIB,
    small_file_bytes=1 * MIB,
    rate_limited_files=300,
)
# A smoke run: every code path, sizes too small for the targets to mean much.
QUICK = Sizes(
    latency_files=40,
    events_per_small_file=3,
    cpu_events=5_000,
    cpu_files=2,
    big_file_bytes=8 * MIB,
    small_file_bytes=1 * MIB,
    rate_limited_files=40,
)


@dataclasses.dataclass
class TapRun:
    """One run of the tap's CLI: how long, what it emitted, what it cost."""

    wall_seconds: float
    records: int
    # From the first RECORD line read to the last: the rate without start-up and shutdown.
    record_seconds: float
    returncode: int
    max_rss_bytes: int
    cpu_seconds: float
    stderr_tail: str


@dataclasses.dataclass
class Row:
    """One line of the printed table."""

    label: str
    value: str
    target: str = ""
    met: bool | None = None


# -- running the tap ------------------------------------------------------------------------


def tap_config(api: FakeComplianceAPI, **overrides: t.Any) -> dict[str, t.Any]:
    """Settings for one event type against the fake; everything else at the tap's defaults."""
    return {
        "api_key": API_KEY,
        "workspace_id": WORKSPACE_ID,
        "api_url": api.api_url,
        "event_types": [EVENT_TYPE],
        "start_date": "2026-10-01T00:00:00Z",
        **overrides,
    }


def is_record_line(line: bytes) -> bool:
    """Whether a Singer message line is an event's RECORD (not a log_files row)."""
    head = line[:64]
    return b'"RECORD"' in head and b'"log_files"' not in head


# Runs the tap and reports its own resource use. The tap must not be a direct child of this
# process: Linux carries the parent's peak RSS over into a child's ru_maxrss at exec, and this
# process holds the benchmark data. This wrapper is small (no site packages), so what it
# passes on is far below any tap's own peak.
USAGE_WRAPPER = """
import json, os, subprocess, sys, time
started = time.perf_counter()
process = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(process.pid, 0)
wall = time.perf_counter() - started
code = os.waitstatus_to_exitcode(status)
with open(sys.argv[1], "w") as out:
    json.dump({"wall": wall, "returncode": code, "max_rss_kib": usage.ru_maxrss,
               "cpu": usage.ru_utime + usage.ru_stime}, out)
sys.exit(code)
"""


def run_tap(config: dict[str, t.Any], workdir: Path) -> TapRun:
    """Run the tap to completion, counting RECORD lines as they arrive on its stdout."""
    config_path = workdir / "config.json"
    config_path.write_text(json.dumps(config))
    stderr_path = workdir / "stderr.log"
    usage_path = workdir / "usage.json"
    usage_path.unlink(missing_ok=True)
    records = 0
    first_record = last_record = 0.0
    command = [sys.executable, "-S", "-c", USAGE_WRAPPER, str(usage_path), TAP]
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [*command, "--config", str(config_path)], stdout=subprocess.PIPE, stderr=stderr
        )
        assert process.stdout is not None
        for line in process.stdout:
            if is_record_line(line):
                last_record = time.perf_counter()
                if not records:
                    first_record = last_record
                records += 1
        process.stdout.close()
        process.wait()
    usage = json.loads(usage_path.read_text())
    # Linux reports ru_maxrss in KiB, macOS in bytes.
    rss_unit = 1 if sys.platform == "darwin" else 1024
    return TapRun(
        wall_seconds=usage["wall"],
        records=records,
        record_seconds=last_record - first_record,
        returncode=usage["returncode"],
        max_rss_bytes=usage["max_rss_kib"] * rss_unit,
        cpu_seconds=usage["cpu"],
        stderr_tail="\n".join(stderr_path.read_text(errors="replace").splitlines()[-5:]),
    )


# -- data -----------------------------------------------------------------------------------


def new_api(**options: t.Any) -> FakeComplianceAPI:
    """A started fake with the benchmark's workspace."""
    api = FakeComplianceAPI(api_key=API_KEY, **options).start()
    api.add_principal("workspaces", WORKSPACE_ID)
    return api


def auth_log_events(
    count: int, rng: random.Random, end_time: datetime.datetime
) -> list[dict[str, t.Any]]:
    """``count`` AUTH_LOG events from the sandbox's templates, in the hour before ``end_time``."""
    return [
        make_event(
            EVENT_TYPE,
            principal_id=WORKSPACE_ID,
            timestamp=end_time - datetime.timedelta(seconds=count - n),
            rng=rng,
        )
        for n in range(count)
    ]


def add_small_files(api: FakeComplianceAPI, count: int, events_per_file: int) -> int:
    """Add ``count`` files an hour apart; return how many events they hold."""
    rng = random.Random(4)
    for index in range(count):
        end_time = FIRST_END_TIME + datetime.timedelta(hours=index)
        events = auth_log_events(events_per_file, rng, end_time)
        api.add_log_file("workspaces", WORKSPACE_ID, EVENT_TYPE, events, end_time)
    return count * events_per_file


def write_log_file(path: Path, target_bytes: int, rng: random.Random) -> int:
    """Write at least ``target_bytes`` of AUTH_LOG JSON Lines to ``path``; return the events."""
    written = events = 0
    with path.open("wb") as out:
        while written < target_bytes:
            batch = encode_jsonl(auth_log_events(1000, rng, FIRST_END_TIME))
            out.write(batch)
            written += len(batch)
            events += 1000
    return events


# -- the cookbook's loop, the reference for the latency case ---------------------------------


class CookbookClient:
    """Downloads the way the cookbook script does: list a page, then fetch each file."""

    def __init__(self, api_url: str) -> None:
        self.api_url = api_url
        self._local = threading.local()

    def _sessions(self) -> tuple[requests.Session, requests.Session]:
        """This thread's API and storage sessions (a Session is not shared across threads)."""
        if not hasattr(self._local, "api"):
            self._local.api = requests.Session()
            self._local.api.headers["Authorization"] = f"Bearer {API_KEY}"
            self._local.storage = requests.Session()
        return self._local.api, self._local.storage

    def pages(self, after: str) -> Iterator[list[dict[str, t.Any]]]:
        """Each listing page's files not seen before (``after`` is inclusive on this API)."""
        api, _ = self._sessions()
        seen: set[str] = set()
        while True:
            response = api.get(
                f"{self.api_url}/workspaces/{WORKSPACE_ID}/logs",
                params={"event_type": EVENT_TYPE, "after": after, "limit": str(PAGE_SIZE)},
                timeout=30,
            )
            response.raise_for_status()
            body = response.json()
            new = [item for item in body["data"] if item["id"] not in seen]
            seen.update(item["id"] for item in new)
            yield new
            if not body["has_more"]:
                return
            after = body["last_end_time"]

    def fetch(self, item: dict[str, t.Any]) -> int:
        """Download one file: the API's redirect, key-less storage GET; return its events."""
        api, storage = self._sessions()
        link = api.get(
            f"{self.api_url}/workspaces/{WORKSPACE_ID}/logs/{item['id']}",
            allow_redirects=False,
            timeout=30,
        )
        if link.status_code != requests.codes.temporary_redirect:
            raise RuntimeError(f"download of {item['id']} answered {link.status_code}")
        body = storage.get(link.headers["Location"], timeout=30)
        body.raise_for_status()
        return body.content.count(b"\n")


def cookbook_sequential(api: FakeComplianceAPI, after: str) -> tuple[float, int]:
    """One file at a time; return the seconds and the events downloaded."""
    client = CookbookClient(api.api_url)
    started = time.perf_counter()
    events = sum(client.fetch(item) for page in client.pages(after) for item in page)
    return time.perf_counter() - started, events


def cookbook_concurrent(api: FakeComplianceAPI, after: str, workers: int) -> tuple[float, int]:
    """``workers`` files at a time, listing on while they download: the network's limit."""
    client = CookbookClient(api.api_url)
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(client.fetch, item) for page in client.pages(after) for item in page]
        events = sum(future.result() for future in futures)
    return time.perf_counter() - started, events


# -- the cases ------------------------------------------------------------------------------


def api_calls(api: FakeComplianceAPI) -> int:
    """API-host requests received since the last ``clear_requests``."""
    return sum(1 for request in api.requests if request.host == "api")


def latency_case(sizes: Sizes, workdir: Path) -> dict[str, t.Any]:
    """Many small files behind a slow API: the tap against the cookbook loop."""
    # The storage host is another host with its own round trip, as a signed-URL fetch has.
    api = new_api(latency=API_LATENCY, storage_latency=API_LATENCY)
    try:
        expected = add_small_files(api, sizes.latency_files, sizes.events_per_small_file)
        after = "2026-10-01T00:00:00.000000Z"
        # A sync that finds nothing to do: start-up, one listing call, shutdown.
        idle = run_tap(tap_config(api, start_date="2030-01-01T00:00:00Z"), workdir)
        api.clear_requests()
        tap = run_tap(tap_config(api), workdir)
        tap_calls = api_calls(api)
        api.clear_requests()
        sequential_seconds, sequential_events = cookbook_sequential(api, after)
        sequential_calls = api_calls(api)
        api.clear_requests()
        concurrent_seconds, concurrent_events = cookbook_concurrent(api, after, DEFAULT_WORKERS)
        concurrent_calls = api_calls(api)
    finally:
        api.stop()
    return {
        "files": sizes.latency_files,
        "events": expected,
        "api_latency_seconds": API_LATENCY,
        "workers": DEFAULT_WORKERS,
        "tap": dataclasses.asdict(tap),
        "tap_api_calls": tap_calls,
        "tap_idle_seconds": idle.wall_seconds,
        "sequential_seconds": sequential_seconds,
        "sequential_events": sequential_events,
        "sequential_api_calls": sequential_calls,
        "concurrent_seconds": concurrent_seconds,
        "concurrent_events": concurrent_events,
        "concurrent_api_calls": concurrent_calls,
        "sequential_over_tap": sequential_seconds / tap.wall_seconds,
        "tap_over_concurrent": tap.wall_seconds / concurrent_seconds,
        "tap_less_idle_over_concurrent": (tap.wall_seconds - idle.wall_seconds)
        / concurrent_seconds,
    }


@dataclasses.dataclass(frozen=True)
class LoopRate:
    """Records per second of the orjson loop, by the clock and by CPU time."""

    wall: float
    cpu: float
    records: int


def orjson_rate(bodies: Sequence[bytes], rounds: int = 3) -> LoopRate:
    """Records per second of parsing each line and writing it as a RECORD; best of ``rounds``.

    What no tap in Python can beat: read a line, orjson both ways, write; nothing else.
    """
    best_wall = best_cpu = float("inf")
    records = 0
    with open(os.devnull, "wb") as sink:
        for _ in range(rounds):
            records = 0
            started, cpu_started = time.perf_counter(), time.process_time()
            for body in bodies:
                for line in io.BytesIO(body):
                    record = orjson.loads(line)
                    message = {"type": "RECORD", "stream": STREAM, "record": record}
                    sink.write(orjson.dumps(message, option=orjson.OPT_APPEND_NEWLINE))
                    records += 1
            best_wall = min(best_wall, time.perf_counter() - started)
            best_cpu = min(best_cpu, time.process_time() - cpu_started)
    return LoopRate(wall=records / best_wall, cpu=records / best_cpu, records=records)


def cpu_case(sizes: Sizes, workdir: Path) -> dict[str, t.Any]:
    """Many events in a few files, no latency: records per second against orjson alone."""
    rng = random.Random(5)
    per_file = sizes.cpu_events // sizes.cpu_files
    bodies = [
        encode_jsonl(auth_log_events(per_file, rng, FIRST_END_TIME + datetime.timedelta(hours=n)))
        for n in range(sizes.cpu_files)
    ]
    api = new_api()
    try:
        for index, body in enumerate(bodies):
            end_time = FIRST_END_TIME + datetime.timedelta(hours=index)
            api.add_log_file("workspaces", WORKSPACE_ID, EVENT_TYPE, body, end_time)
        tap = run_tap(tap_config(api), workdir)
    finally:
        api.stop()
    limit = orjson_rate(bodies)
    tap_rate = tap.records / tap.wall_seconds
    # Start-up (mostly the SDK's imports, ~0.6 s) is paid once per run, not per record: the
    # per-record comparison uses the rate from the first RECORD to the last.
    steady_rate = tap.records / tap.record_seconds if tap.record_seconds else 0.0
    return {
        "files": sizes.cpu_files,
        "events": per_file * sizes.cpu_files,
        "megabytes": sum(map(len, bodies)) / MIB,
        "tap": dataclasses.asdict(tap),
        "tap_records_per_second": tap_rate,
        "tap_steady_records_per_second": steady_rate,
        "tap_records_per_cpu_second": tap.records / tap.cpu_seconds,
        "orjson_records_per_second": limit.wall,
        "orjson_records_per_cpu_second": limit.cpu,
        "orjson_records": limit.records,
        "tap_over_orjson": steady_rate / limit.wall,
        "tap_with_start_up_over_orjson": tap_rate / limit.wall,
        # Another process's load moves wall rates far more than CPU rates: a steadier check.
        "tap_over_orjson_cpu": tap.records / tap.cpu_seconds / limit.cpu,
    }


def memory_case(sizes: Sizes, workdir: Path) -> dict[str, t.Any]:
    """Peak RSS of the tap for one big file served from disk, against one small file."""
    runs: dict[str, dict[str, t.Any]] = {}
    rng = random.Random(6)
    for label, target_bytes in (("small", sizes.small_file_bytes), ("big", sizes.big_file_bytes)):
        body = workdir / f"{label}.jsonl"
        events = write_log_file(body, target_bytes, rng)
        api = new_api()
        try:
            api.add_log_file("workspaces", WORKSPACE_ID, EVENT_TYPE, body, FIRST_END_TIME)
            tap = run_tap(tap_config(api), workdir)
        finally:
            api.stop()
            file_bytes = body.stat().st_size
            body.unlink()
        runs[label] = {"file_bytes": file_bytes, "events": events, "tap": dataclasses.asdict(tap)}
    big_rss = runs["big"]["tap"]["max_rss_bytes"]
    small_rss = runs["small"]["tap"]["max_rss_bytes"]
    return {**runs, "rss_growth_bytes": big_rss - small_rss}


def rate_limit_case(sizes: Sizes, workdir: Path) -> dict[str, t.Any]:
    """A few hundred files behind a rate limit: every event, few refused calls."""
    api = new_api(rate_limit=RATE_LIMIT)
    try:
        expected = add_small_files(api, sizes.rate_limited_files, sizes.events_per_small_file)
        tap = run_tap(tap_config(api), workdir)
        statuses = [request.status for request in api.requests if request.host == "api"]
    finally:
        api.stop()
    refused = statuses.count(429)
    return {
        "files": sizes.rate_limited_files,
        "events": expected,
        "rate_limit_per_second": RATE_LIMIT,
        "tap": dataclasses.asdict(tap),
        "api_calls": len(statuses),
        "refused": refused,
        "refused_share": refused / len(statuses) if statuses else 0.0,
        # Every call granted needs a token; the bucket starts full (a burst of RATE_LIMIT).
        "floor_seconds": max(0.0, (len(statuses) - refused - RATE_LIMIT) / RATE_LIMIT),
    }


# -- report ---------------------------------------------------------------------------------


def machine() -> dict[str, t.Any]:
    """What ran the benchmark, so that runs on different machines are not compared blindly."""
    # The tap measured is the one imported (PYTHONPATH can point at a clean worktree).
    code = Path(tap_openai_compliance.__file__).resolve().parent.parent
    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    commit = subprocess.run(
        ["git", "-C", str(code), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    # Others edit the tap while benchmarks run: note whether the measured code was committed.
    dirty = subprocess.run(
        ["git", "-C", str(code), "status", "--porcelain", "tap_openai_compliance"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "nproc": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "singer_sdk": metadata.version("singer-sdk"),
        "commit": (commit or "not a git checkout") + (" (tap code modified)" if dirty else ""),
        "load_average": list(os.getloadavg()),
    }


def verdict(met: bool | None) -> str:
    """A mark for a target: met, missed, or none."""
    return {True: "ok", False: "MISSED", None: ""}[met]


def seconds(value: float) -> str:
    """Seconds, to the hundredth."""
    return f"{value:.2f} s"


def complete(run: dict[str, t.Any], expected: int) -> str:
    """Records out of expected, with the exit code when the tap failed."""
    text = f"{run['records']:,} of {expected:,} records"
    if run["returncode"]:
        text += f", exit code {run['returncode']}"
    return text


def fetched(events: int, calls: int, expected: int) -> Row:
    """A reference loop's events and API calls, checked against the events served."""
    return Row(
        "  events, API calls", f"{events:,} of {expected:,}, {calls}", met=events == expected
    )


def latency_rows(result: dict[str, t.Any]) -> tuple[str, list[Row]]:
    """The latency case: its title and table rows."""
    tap = result["tap"]
    workers = result["workers"]
    title = (
        f"1. Latency-bound: {result['files']} files x {result['events'] // result['files']} "
        f"{EVENT_TYPE} events, {result['api_latency_seconds'] * 1000:.0f} ms per API response "
        f"and per storage response, {workers} downloads at once"
    )
    return title, [
        Row("tap, full sync through the CLI", seconds(tap["wall_seconds"])),
        Row(
            "  of which start-up and shutdown (sync of 0 files)",
            seconds(result["tap_idle_seconds"]),
        ),
        Row("  records", complete(tap, result["events"]), met=tap["records"] == result["events"]),
        Row("  API calls", str(result["tap_api_calls"])),
        Row("cookbook loop, sequential", seconds(result["sequential_seconds"])),
        fetched(result["sequential_events"], result["sequential_api_calls"], result["events"]),
        Row(
            f"cookbook loop, {workers} threads (network limit)",
            seconds(result["concurrent_seconds"]),
        ),
        fetched(result["concurrent_events"], result["concurrent_api_calls"], result["events"]),
        Row(
            "sequential / tap",
            f"{result['sequential_over_tap']:.2f}x",
            f">= {MIN_SEQUENTIAL_OVER_TAP:g}x",
            result["sequential_over_tap"] >= MIN_SEQUENTIAL_OVER_TAP,
        ),
        Row(
            "tap / concurrent",
            f"{result['tap_over_concurrent']:.2f}x",
            f"<= {MAX_TAP_OVER_CONCURRENT:g}x",
            result["tap_over_concurrent"] <= MAX_TAP_OVER_CONCURRENT,
        ),
        Row("(tap - start-up) / concurrent", f"{result['tap_less_idle_over_concurrent']:.2f}x"),
        Row(
            f"sequential / concurrent (the most {workers} workers can gain)",
            f"{result['sequential_seconds'] / result['concurrent_seconds']:.2f}x",
        ),
    ]


def cpu_rows(result: dict[str, t.Any]) -> tuple[str, list[Row]]:
    """The CPU case: its title and table rows."""
    tap = result["tap"]
    steady = result["tap_steady_records_per_second"]
    title = (
        f"2. CPU-bound: {result['events']:,} {EVENT_TYPE} events in {result['files']} files "
        f"({result['megabytes']:.0f} MiB), no latency"
    )
    return title, [
        Row(
            "tap, records/s (records / process wall time)",
            f"{result['tap_records_per_second']:,.0f}",
        ),
        Row("  wall time", seconds(tap["wall_seconds"])),
        Row("  records/s first to last RECORD", f"{steady:,.0f}" if steady else "-"),
        Row(
            "  records per CPU second (user + sys)", f"{result['tap_records_per_cpu_second']:,.0f}"
        ),
        Row("  records", complete(tap, result["events"]), met=tap["records"] == result["events"]),
        Row(
            "orjson parse + RECORD write, records/s (best of 3)",
            f"{result['orjson_records_per_second']:,.0f}",
        ),
        Row("  records per CPU second", f"{result['orjson_records_per_cpu_second']:,.0f}"),
        Row(
            "tap (first to last RECORD) / orjson",
            f"{result['tap_over_orjson']:.3f}",
            f">= {MIN_TAP_OVER_ORJSON:g}",
            result["tap_over_orjson"] >= MIN_TAP_OVER_ORJSON,
        ),
        Row("  the same with start-up", f"{result['tap_with_start_up_over_orjson']:.3f}"),
        Row(
            "  the same per CPU second (steadier under load)",
            f"{result['tap_over_orjson_cpu']:.3f}",
        ),
    ]


def memory_rows(result: dict[str, t.Any]) -> tuple[str, list[Row]]:
    """The memory case: its title and table rows."""
    small, big = result["small"], result["big"]
    return "3. Memory: one file served from disk, peak RSS of the tap process", [
        Row(
            f"peak RSS, one {small['file_bytes'] / MIB:.0f} MiB file",
            f"{small['tap']['max_rss_bytes'] / MIB:.1f} MiB",
        ),
        Row(
            f"peak RSS, one {big['file_bytes'] / MIB:.0f} MiB file",
            f"{big['tap']['max_rss_bytes'] / MIB:.1f} MiB",
            f"< {MAX_BIG_FILE_RSS / MIB:.0f} MiB",
            big["tap"]["max_rss_bytes"] < MAX_BIG_FILE_RSS,
        ),
        Row(
            "  growth over the small file",
            f"{result['rss_growth_bytes'] / MIB:.1f} MiB",
            f"< {MAX_RSS_GROWTH / MIB:.0f} MiB",
            result["rss_growth_bytes"] < MAX_RSS_GROWTH,
        ),
        Row(
            "  big file: records",
            complete(big["tap"], big["events"]),
            met=big["tap"]["records"] == big["events"],
        ),
        Row("  big file: wall time", seconds(big["tap"]["wall_seconds"])),
    ]


def rate_limit_rows(result: dict[str, t.Any]) -> tuple[str, list[Row]]:
    """The rate-limit case: its title and table rows."""
    tap = result["tap"]
    title = (
        f"4. Rate limit: {result['files']} files, {result['rate_limit_per_second']:g} API "
        "requests/s, the tap's retry settings at their defaults"
    )
    return title, [
        Row("records", complete(tap, result["events"]), met=tap["records"] == result["events"]),
        Row("API calls", str(result["api_calls"])),
        Row("refused (429)", str(result["refused"])),
        Row(
            "refused / calls",
            f"{result['refused_share']:.3f}",
            f"< {MAX_REFUSED_SHARE:.3f}",
            result["refused_share"] < MAX_REFUSED_SHARE,
        ),
        Row("wall time", seconds(tap["wall_seconds"])),
        Row("  floor at the rate limit", seconds(result["floor_seconds"])),
    ]


def print_table(results: dict[str, t.Any]) -> None:
    """Print the whole report."""
    host = results["machine"]
    load = " ".join(f"{value:.2f}" for value in host["load_average"])
    quick = " (quick: sizes too small for the targets)" if results["quick"] else ""
    print(f"tap-openai-compliance benchmarks, {results['date']}{quick}")
    print(
        f"machine: {host['nproc']} CPUs, {host['cpu_model']}, Python {host['python']}, "
        f"singer-sdk {host['singer_sdk']}, load average {load}"
    )
    print(f"commit: {host['commit']}")
    sections = [rows(results[case]) for case, rows in ROWS.items() if case in results]
    width = max(len(row.label) for _, rows in sections for row in rows) + 2
    for title, rows in sections:
        print()
        print(title)
        for row in rows:
            target = f"target {row.target}" if row.target else ""
            print(
                f"  {row.label:<{width}}{row.value:>22}   {target:<18}{verdict(row.met)}".rstrip()
            )
    for case, run in tap_runs(results):
        if run["returncode"]:
            print(f"\nthe tap failed in the {case} case:\n{run['stderr_tail']}")


def tap_runs(results: dict[str, t.Any]) -> Iterator[tuple[str, dict[str, t.Any]]]:
    """Every tap run in the results, with the case it belongs to."""
    for case in CASES:
        if case == "memory" and case in results:
            yield case, results[case]["small"]["tap"]
            yield case, results[case]["big"]["tap"]
        elif case in results:
            yield case, results[case]["tap"]


CASES: dict[str, t.Callable[[Sizes, Path], dict[str, t.Any]]] = {
    "latency": latency_case,
    "cpu": cpu_case,
    "memory": memory_case,
    "rate_limit": rate_limit_case,
}
ROWS: dict[str, t.Callable[[dict[str, t.Any]], tuple[str, list[Row]]]] = {
    "latency": latency_rows,
    "cpu": cpu_rows,
    "memory": memory_rows,
    "rate_limit": rate_limit_rows,
}


def main(argv: list[str] | None = None) -> int:
    """Run every case and report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument(
        "--output",
        type=Path,
        help="where to write the JSON results (default: results/latest.json; "
        "latest-quick.json, latest-partial.json for --quick, --case)",
    )
    parser.add_argument(
        "--case",
        action="append",
        choices=sorted(CASES),
        help="run only this case (repeatable; default: all)",
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    # A smoke run or a subset of cases never replaces the last full results.
    suffix = ("-quick" if args.quick else "") + ("-partial" if args.case else "")
    output = args.output or RESULTS / f"latest{suffix}.json"
    results: dict[str, t.Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": machine(),
        "sizes": dataclasses.asdict(sizes),
    }
    with tempfile.TemporaryDirectory(prefix="tap-openai-compliance-bench-") as name:
        workdir = Path(name)
        for case, measure in CASES.items():
            if args.case and case not in args.case:
                continue
            print(f"running {case}...", file=sys.stderr, flush=True)
            results[case] = measure(sizes, workdir)
    print_table(results)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
