"""A state, read by a person: each stream's bookmark, window and files in it, one line each.

``tap-openai-compliance-state`` reads a state from a file or stdin, in any shape the tap takes
(the state itself, a whole STATE line, what ``meltano state get`` prints) and prints a table;
with ``--without STREAM``, it prints the same state without those streams' bookmarks, so that
the next run syncs them again from start_date (the others go on where they were).
"""

from __future__ import annotations

import argparse
import json
import sys
import typing as t
from pathlib import Path

from tap_openai_compliance.bookmark import DONE, DONE_SINCE, UnusableStateError, given_state

ROW = "{:<30} {:<28} {:<28} {:>6}"


def rows(state: dict[str, t.Any]) -> list[str]:
    """The table: a header, then a line per stream holding a bookmark."""
    lines = [ROW.format("stream", "bookmark (latest file end)", "window starts", "files")]
    for stream, bookmark in sorted(state.get("bookmarks", {}).items()):
        if not bookmark.get("replication_key_value"):
            continue
        lines.append(
            ROW.format(
                stream,
                bookmark["replication_key_value"],
                bookmark.get(DONE_SINCE, bookmark["replication_key_value"]),
                len(bookmark.get(DONE, {})),
            )
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    """Print the table of the state in the file named, or on stdin."""
    parser = argparse.ArgumentParser(
        prog="tap-openai-compliance-state",
        description=(
            "Show a tap-openai-compliance state: per stream, the end_time of the latest "
            "log file synced, where the lookback window starts, and the files in it."
        ),
    )
    parser.add_argument("file", nargs="?", help="a state file (default: stdin)")
    parser.add_argument(
        "--without",
        action="append",
        metavar="STREAM",
        help="print the state, in the shape given, without this stream's bookmark (repeatable)",
    )
    args = parser.parse_args(argv)
    try:
        given = json.loads(Path(args.file).read_text() if args.file else sys.stdin.read())
        state, _ = given_state(given)
    except (OSError, ValueError, UnusableStateError) as exc:
        print(f"Cannot read a state there: {exc}", file=sys.stderr)
        return 1
    if args.without:
        unknown = set(args.without) - state.get("bookmarks", {}).keys()
        if unknown:
            print(f"The state holds no bookmark of {', '.join(sorted(unknown))}.", file=sys.stderr)
            return 1
        for stream in args.without:
            # ``state`` is the very object inside ``given``: the shape given is kept.
            del state["bookmarks"][stream]
        print(json.dumps(given))
        return 0
    print("\n".join(rows(state)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
