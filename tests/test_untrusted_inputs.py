"""What the tap reads from outside, at its worst: dates, status lines, redirects, encodings,
slow hosts, certificates, config files and stdout. Each server here sends exactly those bytes.

What holds each time: nothing lost, one plain line (no traceback), no secret shown, the
bookmark never past the present, and no wait without end.
"""

from __future__ import annotations

import json
import subprocess
import typing as t
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tap_openai_compliance.sandbox import FakeComplianceAPI, Fault, encode_jsonl
from tap_openai_compliance.sandbox.data import make_event
from tap_openai_compliance.timestamps import parse_timestamp
from tests.conftest import (
    API_KEY,
    WORKSPACE_ID,
    add_files,
    as_served,
    events_of,
    files_covered_by,
    hourly,
)
from tests.conftest import tap_config as base_config
from tests.tap_runner import TAP, TapRun, run_tap, write_inputs

NOW = datetime.now(UTC)


def tap_config(api: FakeComplianceAPI, **overrides: t.Any) -> dict[str, t.Any]:
    """Settings for an AUTH_LOG sync against the fake, from a day back."""
    start = (NOW - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return base_config(api, **{"event_types": ["AUTH_LOG"], "start_date": start, **overrides})


def one_error(run: TapRun) -> str:
    """The run's one ERROR line, after checking it failed plainly."""
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    (line,) = run.errors()
    return line


def page(*entries: dict[str, t.Any], has_more: bool, last_end_time: str | None) -> bytes:
    """A listing page, byte for byte."""
    return json.dumps(
        {"data": list(entries), "has_more": has_more, "last_end_time": last_end_time}
    ).encode()


# -- a date in the future must not end the archive --------------------------------------------


@pytest.mark.parametrize("ahead", ["9999-12-31T23:59:59Z", "a day ahead"])
def test_a_file_ending_in_the_future_is_synced_but_the_bookmark_stays_in_the_present(
    api, tmp_path, ahead
):
    present = add_files(api, "AUTH_LOG", [NOW - timedelta(hours=3), NOW - timedelta(hours=2)])
    end = NOW + timedelta(days=1) if ahead == "a day ahead" else parse_timestamp(ahead)
    (future,) = add_files(api, "AUTH_LOG", [end], seed=2)

    first = run_tap(tmp_path, tap_config(api))

    assert first.returncode == 0, first.stderr
    assert [as_served(r) for r in first.records("auth_log")] == events_of(api, [*present, future])
    warnings = [line for line in first.stderr.splitlines() if "in the future" in line]
    assert len(warnings) == 1
    assert future in warnings[0]
    bookmark = first.last_state["bookmarks"]["auth_log"]
    assert parse_timestamp(bookmark["replication_key_value"]) <= datetime.now(UTC) + timedelta(
        minutes=10
    )
    assert parse_timestamp(bookmark["log_files_done_since"]) < datetime.now(UTC)

    # A file of the present, published after that run, is still found.
    (later,) = add_files(api, "AUTH_LOG", [datetime.now(UTC) - timedelta(minutes=5)], seed=3)
    second = run_tap(tmp_path, tap_config(api), first.last_state)

    assert second.returncode == 0, second.stderr
    assert [as_served(r) for r in second.records("auth_log")] == events_of(api, [later])


def test_a_bookmark_in_the_future_is_not_trusted_the_stream_syncs_again_from_start_date(
    api, tmp_path
):
    file_ids = add_files(api, "AUTH_LOG", [NOW - timedelta(hours=2), NOW - timedelta(hours=1)])
    poisoned = {
        "bookmarks": {
            "auth_log": {
                "replication_key": "_sdc_log_file_end_time",
                "replication_key_value": "9999-06-01T00:00:00.000000Z",
                "log_files_done_since": "9999-05-31T23:00:00.000000Z",
                "log_files_done": {},
            }
        }
    }

    run = run_tap(tmp_path, tap_config(api), poisoned)

    assert run.returncode == 0, run.stderr
    assert [as_served(r) for r in run.records("auth_log")] == events_of(api, file_ids)
    (warning,) = [line for line in run.stderr.splitlines() if "lies in the future" in line]
    assert "9999-06-01T00:00:00.000000Z" in warning
    assert "syncs again from start_date" in warning
    assert files_covered_by(run.last_state["bookmarks"]["auth_log"], api, file_ids) == set(file_ids)


def test_a_page_pointing_into_the_future_ends_paging_and_the_next_run_goes_on(api, tmp_path):
    first, second = add_files(api, "AUTH_LOG", [NOW - timedelta(hours=3), NOW - timedelta(hours=1)])
    entry = api.log_file(first).listing_entry()
    api.inject(
        "list", Fault.status(200, page(entry, has_more=True, last_end_time="9999-01-01T00:00:00Z"))
    )

    run = run_tap(tmp_path, tap_config(api))

    assert run.returncode == 0, run.stderr
    assert [as_served(r) for r in run.records("auth_log")] == events_of(api, [first])
    assert any("in the future: paging stops here" in line for line in run.stderr.splitlines())
    bookmark = run.last_state["bookmarks"]["auth_log"]
    assert files_covered_by(bookmark, api, [first, second]) == {first}

    again = run_tap(tmp_path, tap_config(api), run.last_state)

    assert [as_served(r) for r in again.records("auth_log")] == events_of(api, [second])


# -- secrets in whatever a server writes ------------------------------------------------------


def test_the_key_echoed_in_the_status_lines_reason_phrase_is_masked(api, tmp_path):
    add_files(api, "AUTH_LOG", hourly(1))
    api.inject("list", Fault.status(401, reason=f"Unauthorized key {API_KEY}"))

    run = run_tap(tmp_path, tap_config(api, start_date="2026-11-01T00:00:00Z"))

    line = one_error(run)
    assert "HTTP 401 Unauthorized key <redacted>" in line
    assert API_KEY not in run.stderr + run.stdout


def test_a_signed_url_echoed_in_the_storage_hosts_reason_phrase_is_masked(api, tmp_path):
    add_files(api, "AUTH_LOG", hourly(1))
    api.inject("storage", Fault.echo_url(400, in_reason=True))

    run = run_tap(tmp_path, tap_config(api, start_date="2026-11-01T00:00:00Z"))

    line = one_error(run)
    assert "the storage host answered HTTP 400 Bad Request /storage/" in line
    signatures = {call.query["signature"] for call in api.storage_calls()}
    assert signatures
    assert not [secret for secret in signatures if secret in run.stderr]


@pytest.mark.parametrize(
    ("target", "location", "says"),
    [
        (
            "list",
            "http://bob:s3cret-pass@127.0.0.2:9/collect/tok_8f7e6d5c4b3a2910",
            "HTTP 302, a redirect to http://127.0.0.2:9,",
        ),
        (
            "download",
            "ftp://bob:s3cret-pass@storage.example/tok_8f7e6d5c4b3a2910",
            "the download link is a ftp: address, not http(s)",
        ),
        (
            "download",
            "file:///etc/tok_8f7e6d5c4b3a2910",
            "the download link is a file: address, not http(s)",
        ),
    ],
    ids=["listing-redirect", "ftp-link", "file-link"],
)
def test_a_redirect_is_named_by_scheme_and_host_never_by_its_credentials(
    api, tmp_path, target, location, says
):
    add_files(api, "AUTH_LOG", hourly(1))
    status = 302 if target == "list" else 307
    api.inject(target, Fault.status(status, body=b"", headers={"Location": location}))

    run = run_tap(tmp_path, tap_config(api, start_date="2026-11-01T00:00:00Z"))

    line = one_error(run)
    assert says in line
    assert "s3cret-pass" not in run.stderr
    assert "tok_8f7e6d5c4b3a2910" not in run.stderr
    assert api.storage_calls() == []


# -- where a download link may lead ------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "kind"),
    [
        ("http://169.254.169.254/latest/meta-data/iam/security-credentials/", "link-local"),
        ("http://10.20.30.40/bucket/log.jsonl", "private"),
        ("http://[fe80::1]/bucket/log.jsonl", "link-local"),
    ],
)
def test_a_download_link_to_a_metadata_service_or_a_private_network_is_refused(
    api, tmp_path, location, kind
):
    add_files(api, "AUTH_LOG", hourly(1))
    api.inject("download", Fault.status(307, body=b"", headers={"Location": location}))

    run = run_tap(tmp_path, tap_config(api, start_date="2026-11-01T00:00:00Z"))

    line = one_error(run)
    assert f"is at a {kind} address" in line
    assert "Report the link to OpenAI support" in line
    assert "/latest/" not in line
    assert "bucket" not in line
    assert len(api.download_calls()) == 1  # refused at once, not tried again


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for the fake's two hosts, 127.0.0.1 and 127.0.0.2."""
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=sandbox",
            "-addext",
            "subjectAltName=IP:127.0.0.1,IP:127.0.0.2",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def tls_api(certificate) -> t.Iterator[FakeComplianceAPI]:
    """The fake API and its storage host over https, with a certificate no CA vouches for."""
    with FakeComplianceAPI(api_key=API_KEY, tls=certificate) as fake:
        fake.add_principal("workspaces", WORKSPACE_ID)
        yield fake


def test_a_certificate_the_tap_cannot_verify_fails_at_once_naming_the_ca_setting(tls_api, tmp_path):
    add_files(tls_api, "AUTH_LOG", hourly(1))

    run = run_tap(tmp_path, tap_config(tls_api, start_date="2026-11-01T00:00:00Z"))

    line = one_error(run)
    assert "the TLS handshake failed" in line
    assert "REQUESTS_CA_BUNDLE" in line
    assert "giving up" not in line  # no retries: a certificate does not mend itself


def test_the_listing_and_the_downloads_trust_the_ca_bundle_the_environment_names(
    tls_api, certificate, tmp_path
):
    file_ids = add_files(tls_api, "AUTH_LOG", hourly(2))

    run = run_tap(
        tmp_path,
        tap_config(tls_api, start_date="2026-11-01T00:00:00Z"),
        env={"REQUESTS_CA_BUNDLE": str(certificate[0])},
    )

    assert run.returncode == 0, run.stderr
    assert [as_served(r) for r in run.records("auth_log")] == events_of(tls_api, file_ids)


def test_from_an_https_api_a_plain_http_download_link_is_refused(tls_api, certificate, tmp_path):
    add_files(tls_api, "AUTH_LOG", hourly(1))
    plain = tls_api.storage_url.replace("https://", "http://") + "/storage/x?signature=abc"
    tls_api.inject("download", Fault.status(307, body=b"", headers={"Location": plain}))

    run = run_tap(
        tmp_path,
        tap_config(tls_api, start_date="2026-11-01T00:00:00Z"),
        env={"REQUESTS_CA_BUNDLE": str(certificate[0])},
    )

    assert "the download link is plain http while the API is https" in one_error(run)


# -- bodies as object stores serve them -------------------------------------------------------


def auth_events(count: int, seed: int) -> list[dict[str, t.Any]]:
    """Fresh AUTH_LOG events."""
    import random

    rng = random.Random(seed)
    return [
        make_event("AUTH_LOG", principal_id=WORKSPACE_ID, timestamp=NOW, rng=rng)
        for _ in range(count)
    ]


@pytest.mark.parametrize(
    ("gzip", "encoding"),
    [(True, "stored"), (False, "transit")],
    ids=["listed-as-compressed", "compressed-on-the-way"],
)
def test_a_body_sent_with_content_encoding_gzip_is_verified_as_listed_and_loaded(
    api, tmp_path, gzip, encoding
):
    events = auth_events(5, seed=4)
    file_id = api.add_log_file(
        "workspaces",
        WORKSPACE_ID,
        "AUTH_LOG",
        events,
        NOW - timedelta(hours=1),
        gzip=gzip,
        content_encoding=encoding,
    )

    run = run_tap(tmp_path, tap_config(api))

    assert run.returncode == 0, run.stderr
    assert [as_served(r) for r in run.records("auth_log")] == events
    assert len(api.download_calls()) == 1  # verified the first time
    assert file_id in json.dumps(run.last_state)


def test_a_byte_order_mark_starting_a_file_is_not_part_of_its_first_event(api, tmp_path):
    events = auth_events(3, seed=5)
    api.add_log_file(
        "workspaces",
        WORKSPACE_ID,
        "AUTH_LOG",
        b"\xef\xbb\xbf" + encode_jsonl(events),
        NOW - timedelta(hours=1),
    )

    run = run_tap(tmp_path, tap_config(api))

    assert run.returncode == 0, run.stderr
    assert [as_served(r) for r in run.records("auth_log")] == events


# -- dates out of range, config files, stdout: one plain line ----------------------------------


OFFSET_PAST_9999 = "9999-12-31T23:30:00-01:00"
OFFSET_BEFORE_YEAR_1 = "0001-01-01T00:30:00+01:00"


@pytest.mark.parametrize("instant", [OFFSET_PAST_9999, OFFSET_BEFORE_YEAR_1])
def test_a_listing_date_out_of_range_stops_the_sync_in_one_plain_line(api, tmp_path, instant):
    (file_id,) = add_files(api, "AUTH_LOG", [NOW - timedelta(hours=1)])
    entry = {**api.log_file(file_id).listing_entry(), "end_time": instant}
    api.inject("list", Fault.status(200, page(entry, has_more=False, last_end_time=None)))

    line = one_error(run_tap(tmp_path, tap_config(api)))

    assert "the listing is malformed" in line
    assert "outside the years 1 to 9999" in line


@pytest.mark.parametrize("instant", [OFFSET_PAST_9999, OFFSET_BEFORE_YEAR_1])
def test_a_state_date_out_of_range_stops_the_run_before_any_request(api, tmp_path, instant):
    state = {"bookmarks": {"auth_log": {"replication_key_value": instant}}}

    line = one_error(run_tap(tmp_path, tap_config(api), state))

    assert "The state's bookmark of stream auth_log is not usable" in line
    assert "outside the years 1 to 9999" in line
    assert api.requests == []


@pytest.mark.parametrize("setting", ["start_date", "end_date"])
@pytest.mark.parametrize("instant", [OFFSET_PAST_9999, OFFSET_BEFORE_YEAR_1])
def test_a_setting_date_out_of_range_is_one_plain_line(api, tmp_path, setting, instant):
    line = one_error(run_tap(tmp_path, tap_config(api, **{setting: instant})))

    assert f"Setting '{setting}' is '{instant}', outside the years 1 to 9999" in line


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"api_key": "KEY", "workspace_id": NaN}', "is not JSON (NaN is not a JSON value)"),
        # Each Python words a trailing comma its own way (3.13: "Illegal trailing comma").
        ('{"api_key": "KEY",}', "is not JSON ("),
        ('["KEY"]', "holds an array, not an object"),
    ],
    ids=["nan", "trailing-comma", "array"],
)
def test_a_config_file_that_is_not_a_json_object_is_one_line_never_quoting_it(tmp_path, text, says):
    config = tmp_path / "config.json"
    config.write_text(text.replace("KEY", API_KEY))

    result = subprocess.run(
        [TAP, "--config", str(config)], capture_output=True, text=True, timeout=60
    )

    run = TapRun(result.returncode, [], result.stderr, result.stdout)
    line = one_error(run)
    assert f"The config file {config} {says}" in line
    assert API_KEY not in result.stderr
    assert "dictionary update sequence" not in line


def test_stdout_on_a_full_disk_ends_the_sync_in_one_plain_line(api, tmp_path):
    add_files(api, "AUTH_LOG", hourly(3))
    args = [TAP, *write_inputs(tmp_path, tap_config(api, start_date="2026-11-01T00:00:00Z"), None)]

    with open("/dev/full", "w") as full:
        result = subprocess.run(args, stdout=full, stderr=subprocess.PIPE, text=True, timeout=60)

    line = one_error(TapRun(result.returncode, [], result.stderr, ""))
    assert "The tap's output (stdout) cannot be written: No space left on device" in line


# -- no wait without end ----------------------------------------------------------------------


def test_pages_that_list_nothing_new_forever_are_followed_only_so_far(api, tmp_path):
    (file_id,) = add_files(api, "AUTH_LOG", [NOW - timedelta(hours=1)])
    entry = api.log_file(file_id).listing_entry()
    start = api.log_file(file_id).end_time
    for creep in range(1, 200):
        last = (start + timedelta(microseconds=creep)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        api.inject("list", Fault.status(200, page(entry, has_more=True, last_end_time=last)))

    run = run_tap(tmp_path, tap_config(api))

    line = one_error(run)
    assert "answered 100 pages in a row that listed no new log file" in line
    assert len(api.listing_calls()) == 101
    assert [as_served(r) for r in run.records("auth_log")] in ([], events_of(api, [file_id]))


def test_a_page_that_repeats_one_file_is_not_called_a_hundred_ties(api, tmp_path):
    (file_id,) = add_files(api, "AUTH_LOG", [NOW - timedelta(hours=1)])
    entry = api.log_file(file_id).listing_entry()
    api.inject(
        "list",
        Fault.status(200, page(entry, has_more=True, last_end_time=entry["end_time"])),
        times=3,
    )

    line = one_error(run_tap(tmp_path, tap_config(api)))

    assert "its page of 1 files does not move past" in line
    assert "More than 100" not in line


def test_a_negative_file_size_is_a_malformed_listing(api, tmp_path):
    (file_id,) = add_files(api, "AUTH_LOG", [NOW - timedelta(hours=1)])
    entry = {**api.log_file(file_id).listing_entry(), "file_size": -1}
    api.inject("list", Fault.status(200, page(entry, has_more=False, last_end_time=None)))

    line = one_error(run_tap(tmp_path, tap_config(api)))

    assert "an entry's file_size is -1, not a size in bytes" in line
    assert "-1 bytes" not in line


@pytest.mark.waits
def test_a_storage_host_trickling_bytes_is_given_up_on_and_the_file_fetched_again(api, tmp_path):
    (file_id,) = add_files(api, "AUTH_LOG", [NOW - timedelta(hours=1)], events_per_file=4)
    api.inject("storage", Fault.trickle(bytes_per_second=20))

    run = run_tap(tmp_path, tap_config(api, min_download_kib_per_second=1), timeout=60)

    assert run.returncode == 0, run.stderr
    assert [as_served(r) for r in run.records("auth_log")] == events_of(api, [file_id])
    assert "the download stayed below 1 KiB/s (min_download_kib_per_second)" in run.stderr
    assert len(api.storage_calls()) == 2


# -- settings that would address another path ------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        (
            {"api_url": "http://127.0.0.1:9/v1/compliance?x=1"},
            "Setting 'api_url' holds a '?' or '#'",
        ),
        ({"api_url": "http://127.0.0.1:9/v1/compliance#x"}, "Setting 'api_url' holds a '?' or '#'"),
        ({"workspace_id": f"{WORKSPACE_ID}?x=1"}, "not a workspace UUID"),
        ({"workspace_id": f"{WORKSPACE_ID}#x"}, "not a workspace UUID"),
    ],
)
def test_a_query_or_fragment_in_the_address_or_an_id_is_refused_before_any_call(
    api, tmp_path, overrides, says
):
    line = one_error(run_tap(tmp_path, tap_config(api, **overrides)))

    assert says in line
    assert api.requests == []
