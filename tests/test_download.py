"""Downloads: only verified bodies are kept, files come out in order, a stop is prompt."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from tap_openai_compliance.download import (
    CorruptDownloadError,
    DownloadCancelledError,
    download_in_order,
    save_verified,
)
from tap_openai_compliance.listing import LogFile
from tap_openai_compliance.sandbox import Fault
from tap_openai_compliance.wording import Masker
from tests.conftest import API_KEY, WORKSPACE_ID, add_files, hourly

NO_SECRETS = Masker()


def body_response(api, file_id: str) -> requests.Response:
    """The storage host's streamed answer for a file, through the API's signed link."""
    redirect = requests.get(
        f"{api.api_url}/workspaces/{WORKSPACE_ID}/logs/{file_id}",
        headers={"Authorization": f"Bearer {API_KEY}"},
        allow_redirects=False,
        timeout=10,
    )
    return requests.get(redirect.headers["Location"], stream=True, timeout=10)


def listed(api, file_id: str) -> LogFile:
    """The file as the listing describes it."""
    return LogFile.from_listing(api.log_file(file_id).listing_entry(), "Listing", NO_SECRETS)


def test_a_body_that_matches_the_listing_is_saved(api, tmp_path):
    (file_id,) = add_files(api, "AUTH_LOG", hourly(1), events_per_file=50)

    path = save_verified(
        body_response(api, file_id), listed(api, file_id), tmp_path, threading.Event()
    )

    assert path.read_bytes() == api.log_file(file_id).body


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.corrupt(), CorruptDownloadError),
        (Fault.truncate(), requests.exceptions.ChunkedEncodingError),
    ],
    ids=["corrupt", "truncate"],
)
def test_a_damaged_body_raises_a_retriable_error_and_leaves_nothing_behind(
    api, tmp_path, fault, error
):
    (file_id,) = add_files(api, "AUTH_LOG", hourly(1), events_per_file=50)
    api.inject("storage", fault)

    with pytest.raises(error):
        save_verified(
            body_response(api, file_id), listed(api, file_id), tmp_path, threading.Event()
        )

    assert list(tmp_path.iterdir()) == []


def test_a_body_shorter_than_listed_is_damaged_even_when_the_connection_ends_cleanly(api, tmp_path):
    (file_id,) = add_files(api, "AUTH_LOG", hourly(1))
    entry = api.log_file(file_id).listing_entry()
    longer = LogFile.from_listing(
        {**entry, "file_size": entry["file_size"] + 1}, "Listing", NO_SECRETS
    )

    with pytest.raises(CorruptDownloadError, match="bytes instead of the"):
        save_verified(body_response(api, file_id), longer, tmp_path, threading.Event())

    assert list(tmp_path.iterdir()) == []


def test_a_download_abandoned_at_a_stop_leaves_nothing_behind(api, tmp_path):
    (file_id,) = add_files(api, "AUTH_LOG", hourly(1))
    stopping = threading.Event()
    stopping.set()

    with pytest.raises(DownloadCancelledError):
        save_verified(body_response(api, file_id), listed(api, file_id), tmp_path, stopping)

    assert list(tmp_path.iterdir()) == []


def log_files(count: int) -> list[LogFile]:
    """``count`` listing entries (no body needed: the download below writes its own)."""
    return [
        LogFile.from_listing(
            {"id": f"f{n}", "end_time": f"2026-11-20T{n:02}:00:00Z"}, "Listing", NO_SECRETS
        )
        for n in range(count)
    ]


class Writer:
    """A download that takes ``delays[id]`` seconds, writes the id, and fails for ``failing``."""

    def __init__(self, tmp_path, delays: dict[str, float], failing: str | None = None) -> None:
        self.tmp_path = tmp_path
        self.delays = delays
        self.failing = failing
        self.running = 0
        self.most_at_once = 0
        self.lock = threading.Lock()

    def __call__(self, log_file: LogFile):
        with self.lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            time.sleep(self.delays.get(log_file.id, 0.0))
            if log_file.id == self.failing:
                raise CorruptDownloadError("the body arrived damaged")
            path = self.tmp_path / log_file.id
            path.write_text(log_file.id)
            return path
        finally:
            with self.lock:
                self.running -= 1


def test_files_come_out_in_listing_order_however_their_downloads_finish(tmp_path):
    files = log_files(6)
    download = Writer(tmp_path, {"f0": 0.2, "f1": 0.1, "f2": 0.0, "f3": 0.15})

    handed_out = []
    for log_file, path in download_in_order(files, download, 3, threading.Event()):
        handed_out.append((log_file.id, path.read_text()))

    assert handed_out == [(f.id, f.id) for f in files]
    assert download.most_at_once == 3
    assert list(tmp_path.iterdir()) == [], "each file is deleted once the caller moved on"


def test_workers_take_files_in_listing_order_however_long_taking_one_lasts(tmp_path):
    # Taking a file books its call's turn at the API; a worker slow to book (the pacer's lock
    # busy) must not let the next file's worker book first: the budget's last turn of a
    # minute would go to a file the sync needs later.
    files = log_files(12)
    taken: list[str] = []
    delays = iter([0.02, 0.0, 0.01] * 4)

    def take(log_file: LogFile) -> None:
        time.sleep(next(delays))
        taken.append(log_file.id)

    for _ in download_in_order(files, Writer(tmp_path, {}), 3, threading.Event(), on_take=take):
        pass

    assert taken == [f.id for f in files]


def test_a_failed_download_surfaces_at_its_turn_after_every_earlier_file(tmp_path):
    files = log_files(4)
    download = Writer(tmp_path, {"f0": 0.1}, failing="f1")
    stopping = threading.Event()
    order = download_in_order(files, download, 4, stopping)

    first, _ = next(order)
    with pytest.raises(CorruptDownloadError):
        next(order)

    assert first.id == "f0"
    assert stopping.is_set()
    time.sleep(0.1)
    assert list(tmp_path.iterdir()) == [], "files downloaded after the failure are deleted"


def test_stopping_early_does_not_wait_for_a_stuck_download(tmp_path):
    files = log_files(3)
    never = threading.Event()

    def download(log_file: LogFile):
        if log_file.id == "f2":
            never.wait(60)
        path = tmp_path / log_file.id
        path.write_text(log_file.id)
        return path

    stopping = threading.Event()
    order = download_in_order(files, download, 3, stopping)
    first, _ = next(order)
    started = time.monotonic()
    order.close()

    assert first.id == "f0"
    assert stopping.is_set()
    assert time.monotonic() - started < 2
    never.set()
