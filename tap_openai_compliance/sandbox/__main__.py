"""Serve the sandbox with its demo dataset until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

from tap_openai_compliance.sandbox.data import (
    DEMO_ORGANIZATION_ID,
    DEMO_WORKSPACE_ID,
    build_demo_dataset,
)
from tap_openai_compliance.sandbox.server import DEMO_API_KEY, FakeComplianceAPI


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line options."""
    parser = argparse.ArgumentParser(
        prog="tap-openai-compliance-sandbox",
        description="Serve a fake Compliance Logs Platform with a demo dataset.",
    )
    parser.add_argument("--port", type=int, default=8788, help="API port (0: any free port)")
    parser.add_argument("--storage-port", type=int, default=8789, help="storage host port")
    parser.add_argument("--workspace-id", default=DEMO_WORKSPACE_ID)
    parser.add_argument("--organization-id", default=DEMO_ORGANIZATION_ID)
    parser.add_argument("--days", type=int, default=3, help="days of log files to serve")
    parser.add_argument("--api-key", default=DEMO_API_KEY)
    parser.add_argument(
        "--downloads-per-minute",
        type=int,
        default=0,
        help="refuse download calls past this many per fixed minute, as the API does (0: off)",
    )
    parser.add_argument("--ready-file", type=Path, help="write the API URL here once listening")
    return parser.parse_args(argv)


def write_ready_file(path: Path, api_url: str) -> None:
    """Write ``api_url`` to ``path`` atomically, so a watcher never reads half of it."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(api_url + "\n")
    os.replace(partial, path)


def main(argv: list[str] | None = None) -> int:
    """Start the sandbox, announce it, and serve until told to stop."""
    args = parse_args(argv)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    api = FakeComplianceAPI(
        api_key=args.api_key,
        api_port=args.port,
        storage_port=args.storage_port,
        downloads_per_window=(args.downloads_per_minute, 60.0)
        if args.downloads_per_minute
        else None,
    )
    build_demo_dataset(
        api,
        workspace_id=args.workspace_id,
        organization_id=args.organization_id,
        now=datetime.now(UTC),
        days=args.days,
    )
    with api:
        print(
            f"sandbox listening: api_url={api.api_url} workspace_id={args.workspace_id} "
            f"organization_id={args.organization_id}",
            file=sys.stderr,
            flush=True,
        )
        if args.ready_file:
            write_ready_file(args.ready_file, api.api_url)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
