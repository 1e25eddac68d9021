"""Reading a file with one huge line keeps memory flat, plain or gzip-compressed."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import typing as t

MIB = 2**20
MAX_LINE_BYTES = 32 * MIB
PEAK_RSS_LIMIT_MIB = 150
FIRST = b'{"event_id":"before"}\n'
LAST = b'{"event_id":"after"}\n'

# Reads the file and prints what it yielded and its own peak RSS (Linux: KiB).
READER = """
import json, resource, sys
from pathlib import Path
from tap_openai_compliance.parsing import read_lines
lines = [
    [line.number, len(line.raw), line.events, line.problem]
    for line in read_lines(Path(sys.argv[1]), int(sys.argv[2]))
]
peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"lines": lines, "peak_rss_mib": peak_mib}))
"""
# Linux carries a parent's peak RSS over into a child's ru_maxrss at exec: the reader is
# started by a small interpreter, not by the test process.
LAUNCHER = "import subprocess, sys; sys.exit(subprocess.run(sys.argv[1:]).returncode)"


def read_in_a_subprocess(path) -> t.Any:
    reader = [sys.executable, "-c", READER, str(path), str(MAX_LINE_BYTES)]
    result = subprocess.run(
        [sys.executable, "-S", "-c", LAUNCHER, *reader],
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    )
    return json.loads(result.stdout)


def write_body(file, huge_line_size: int) -> None:
    """A line, a line of ``huge_line_size`` bytes (not JSON), and a line."""
    file.write(FIRST)
    chunk = b"x" * MIB
    for _ in range(huge_line_size // MIB):
        file.write(chunk)
    file.write(b"\n")
    file.write(LAST)


EXPECTED_LINES = [
    [1, len(FIRST), [{"event_id": "before"}], None],
    [
        2,
        64 * 1024,
        [],
        "longer than the 32 MiB a line may hold; only its first 65,536 bytes are kept here",
    ],
    [3, len(LAST), [{"event_id": "after"}], None],
]


def test_a_200_mb_line_is_read_in_flat_memory(tmp_path):
    path = tmp_path / "body.jsonl"
    with path.open("wb") as file:
        write_body(file, 200 * MIB)

    read = read_in_a_subprocess(path)

    assert read["lines"] == EXPECTED_LINES
    assert read["peak_rss_mib"] < PEAK_RSS_LIMIT_MIB


def test_a_gzip_body_holding_a_2_gib_line_is_read_in_flat_memory(tmp_path):
    path = tmp_path / "body.jsonl.gz"
    with gzip.GzipFile(path, "wb", compresslevel=1) as file:
        write_body(file, 2048 * MIB)

    read = read_in_a_subprocess(path)

    assert read["lines"] == EXPECTED_LINES
    assert read["peak_rss_mib"] < PEAK_RSS_LIMIT_MIB
