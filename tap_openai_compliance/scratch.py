"""Private directories for a run's files on disk, and clearing away those of runs gone.

Downloads wait in one until their records are out; batch files in another until the target has
loaded them. Both hold personal data, so a directory is readable by its owner only. A run
killed with SIGKILL cannot clean up after itself, so the next run does: a directory's lock file
stays locked while its run lives, and the kernel releases the lock when the run dies. The
directory of a run still going is never touched, whatever other runs start meanwhile.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
import time
import typing as t
from pathlib import Path

from tap_openai_compliance.errors import ComplianceTapError

if t.TYPE_CHECKING:
    from collections.abc import Iterator

# Releases before lock files left plain directories: removed once this long untouched.
UNLOCKED_LEFTOVER_AGE = 24 * 60 * 60


class DiskError(ComplianceTapError):
    """Files could not be kept on disk."""


@contextlib.contextmanager
def run_directory(root: Path, prefix: str, *, keep_for: float | None = None) -> Iterator[Path]:
    """A new directory under ``root`` for this run, readable by its owner only.

    It is removed when the block ends; with ``keep_for``, it stays for someone else to read
    (a target loading batch files), and a later run removes it once it has been untouched
    that many seconds.
    """
    _remove_leftovers(root, prefix, keep_for or 0.0)
    try:
        lock_descriptor, lock_name = tempfile.mkstemp(prefix=prefix, suffix=".lock", dir=root)
        # Locked before the directory exists, so no other run takes it for a leftover (a run
        # looking at the lock this instant holds it briefly: wait for it).
        fcntl.flock(lock_descriptor, fcntl.LOCK_EX)
        directory = Path(lock_name).with_suffix("")
        directory.mkdir(mode=0o700)
    except OSError as exc:
        msg = (
            f"Cannot create a directory in {root}: {exc.strerror}. Point the tap at a "
            "directory this user can write to (TMPDIR for downloads)."
        )
        raise DiskError(msg) from None
    try:
        yield directory
    finally:
        if keep_for is None:
            # A download abandoned at a stop may still be finishing in its thread.
            shutil.rmtree(directory, ignore_errors=True)
            Path(lock_name).unlink(missing_ok=True)
        os.close(lock_descriptor)


def _remove_leftovers(root: Path, prefix: str, kept_for: float) -> None:
    """Remove the directories of runs that are no longer running, once kept long enough."""
    now = time.time()
    for directory in root.glob(f"{prefix}*"):
        with contextlib.suppress(OSError):
            unlocked = directory.is_dir() and not directory.with_suffix(".lock").exists()
            if unlocked and directory.stat().st_mtime < now - UNLOCKED_LEFTOVER_AGE:
                shutil.rmtree(directory, ignore_errors=True)
    for lock in root.glob(f"{prefix}*.lock"):
        try:
            descriptor = os.open(lock, os.O_RDWR)
        except OSError:
            continue
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            directory = lock.with_suffix("")
            if not directory.exists() or directory.stat().st_mtime < now - kept_for:
                shutil.rmtree(directory, ignore_errors=True)
                lock.unlink(missing_ok=True)
        except OSError:
            pass  # Its run is still going (the lock is held), or another run removed it.
        finally:
            os.close(descriptor)
