"""Running the tap as a user does: its console command, real HTTP, Singer messages on stdout."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import typing as t
from pathlib import Path

SIDE_STREAMS = ("log_files", "rejected_lines")
TAP = shutil.which("tap-openai-compliance") or str(
    Path(sys.executable).with_name("tap-openai-compliance")
)


@dataclasses.dataclass
class TapRun:
    """What one run of the tap printed, and how it ended."""

    returncode: int
    messages: list[dict[str, t.Any]]
    stderr: str
    stdout: str
    seconds_to_exit: float = 0.0
    peak_rss_mib: float = 0.0

    def records(self, stream: str | None = None) -> list[dict[str, t.Any]]:
        """The RECORD payloads, of one stream or of all."""
        return [
            m["record"]
            for m in self.messages
            if m["type"] == "RECORD" and (stream is None or m["stream"] == stream)
        ]

    def events(self) -> list[dict[str, t.Any]]:
        """The RECORD payloads of the event streams (not log_files or rejected_lines)."""
        return [
            m["record"]
            for m in self.messages
            if m["type"] == "RECORD" and m["stream"] not in SIDE_STREAMS
        ]

    @property
    def states(self) -> list[dict[str, t.Any]]:
        """Every STATE value, in order."""
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    @property
    def last_state(self) -> dict[str, t.Any]:
        """The last STATE printed: where a rerun resumes."""
        return self.states[-1] if self.states else {}

    def errors(self) -> list[str]:
        """The lines the tap logged at ERROR level."""
        return error_lines(self.stderr)


def error_lines(stderr: str) -> list[str]:
    """The lines a run logged at ERROR level."""
    return [line for line in stderr.splitlines() if "| ERROR" in line]


def parse_messages(stdout: str) -> list[dict[str, t.Any]]:
    """Singer messages, one JSON object a line; a line cut by a kill is dropped."""
    messages = []
    for line in stdout.splitlines():
        try:
            messages.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return messages


def write_inputs(
    tmp_path: Path, config: dict[str, t.Any], state: dict[str, t.Any] | None
) -> list[str]:
    """Write the config (and state) files, and return the matching CLI arguments."""
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    args = ["--config", str(config_path)]
    if state:
        state_path = tmp_path / "state.json"
        state_path.write_text(json.dumps(state))
        args += ["--state", str(state_path)]
    return args


# Runs the tap and writes its peak RSS. The tap must not be a child of the test process
# itself: Linux carries a parent's peak RSS over into a child's ru_maxrss at exec.
PEAK_RSS_WRAPPER = """
import os, subprocess, sys
process = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(process.pid, 0)
open(sys.argv[1], "w").write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_tap(
    tmp_path: Path,
    config: dict[str, t.Any],
    state: dict[str, t.Any] | None = None,
    *,
    extra_args: t.Sequence[str] = (),
    env: dict[str, str] | None = None,
    timeout: float = 120,
    measure_memory: bool = False,
) -> TapRun:
    """Run the tap to completion (``measure_memory``: and note its peak RSS)."""
    args = [TAP, *write_inputs(tmp_path, config, state), *extra_args]
    peak_rss_path = tmp_path / "peak-rss"
    if measure_memory:
        args = [sys.executable, "-S", "-c", PEAK_RSS_WRAPPER, str(peak_rss_path), *args]
    result = subprocess.run(
        args,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    run = TapRun(result.returncode, parse_messages(result.stdout), result.stderr, result.stdout)
    if measure_memory:
        # Linux reports KiB.
        run.peak_rss_mib = int(peak_rss_path.read_text()) / 1024
    return run


def run_tap_until(
    tmp_path: Path,
    config: dict[str, t.Any],
    state: dict[str, t.Any] | None,
    *,
    lines_holding: str = '"type":"STATE"',
    count: int,
    sig: int = signal.SIGKILL,
    before_signal: t.Callable[[], object] = lambda: None,
    timeout: float = 120,
) -> TapRun:
    """Run the tap and send it ``sig`` once ``count`` output lines held ``lines_holding``.

    ``before_signal`` runs just before the signal is sent. The run's ``seconds_to_exit``
    tells how long the tap took to end after the signal.
    """
    args = [TAP, *write_inputs(tmp_path, config, state)]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    lines: list[str] = []
    seen = 0
    for line in process.stdout:
        lines.append(line)
        seen += lines_holding in line
        if seen == count:
            break
    before_signal()
    signalled = time.monotonic()
    process.send_signal(sig)
    # Not communicate(): it reads the pipe underneath the lines already buffered in
    # process.stdout, which would drop them.
    stderr_lines: list[str] = []
    reader = threading.Thread(target=lambda: stderr_lines.extend(process.stderr or ()))
    reader.start()
    rest = process.stdout.read()
    process.wait(timeout=timeout)
    reader.join(timeout)
    stderr = "".join(stderr_lines)
    seconds_to_exit = time.monotonic() - signalled
    # What reached the pipe before the signal is what an orchestrator would have read too.
    stdout = "".join(lines) + rest
    return TapRun(process.returncode, parse_messages(stdout), stderr, stdout, seconds_to_exit)
