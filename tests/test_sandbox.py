"""The sandbox (the fake Compliance Logs Platform) itself, over real HTTP."""

from __future__ import annotations

import gzip
import hashlib
import random
import resource
import sys
import zlib
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import requests

from tap_openai_compliance.feeds import KNOWN_FEEDS, Feed, Scope
from tap_openai_compliance.sandbox import (
    FakeComplianceAPI,
    Fault,
    build_demo_dataset,
    make_event,
    parse_timestamp,
)
from tests.conftest import API_KEY, ORGANIZATION_ID, WORKSPACE_ID

T0 = datetime(2026, 7, 1, tzinfo=UTC)
EPOCH = "2000-01-01T00:00:00Z"
MiB = 1 << 20
GiB = 1 << 30


@pytest.fixture
def api() -> Iterator[FakeComplianceAPI]:
    with FakeComplianceAPI(api_key=API_KEY, unscoped_keys={"sk-no-scope-0000000000"}) as fake:
        fake.add_principal(Scope.ORGANIZATION, ORGANIZATION_ID)
        yield fake


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {API_KEY}"
        yield session


def add_files(api: FakeComplianceAPI, count: int, event_type: str = "AUTH_LOG") -> list[str]:
    """``count`` small files, one hour apart from T0."""
    return [
        api.add_log_file(
            Scope.WORKSPACE, WORKSPACE_ID, event_type, [{"n": n}], T0 + timedelta(hours=n)
        )
        for n in range(count)
    ]


def listing(
    api: FakeComplianceAPI,
    http: requests.Session,
    *,
    after: str = EPOCH,
    event_type: str = "AUTH_LOG",
    path: str = f"workspaces/{WORKSPACE_ID}",
    headers: dict[str, str] | None = None,
    **params: Any,
) -> requests.Response:
    query = {"event_type": event_type, "after": after, **params}
    return http.get(f"{api.api_url}/{path}/logs", params=query, headers=headers, timeout=5)


def download(api: FakeComplianceAPI, http: requests.Session, file_id: str) -> requests.Response:
    return http.get(f"{api.api_url}/workspaces/{WORKSPACE_ID}/logs/{file_id}", timeout=5)


def test_listing_pages_in_end_time_order_with_an_inclusive_after(http: requests.Session) -> None:
    # As connectors report it: a file ending exactly at after comes back.
    with FakeComplianceAPI(api_key=API_KEY, after_exclusive=False) as api:
        api.add_principal(Scope.WORKSPACE, WORKSPACE_ID)
        ids = add_files(api, 5)

        first = listing(api, http, limit=2).json()
        assert [f["id"] for f in first["data"]] == ids[:2]
        assert first["has_more"] is True
        assert first["last_end_time"] == "2026-07-01T01:00:00.000000Z"

        second = listing(api, http, after=first["last_end_time"], limit=2).json()
        assert [f["id"] for f in second["data"]] == ids[1:3]  # the boundary file comes back

        last = listing(api, http, after="2026-07-01T04:00:00+00:00", limit=2).json()
        assert ([f["id"] for f in last["data"]], last["has_more"]) == ([ids[4]], False)


def test_exclusive_after_skips_the_boundary_and_ties_keep_insertion_order(
    http: requests.Session,
) -> None:
    with FakeComplianceAPI(api_key=API_KEY, after_exclusive=True) as api:
        ids = [
            api.add_log_file("workspaces", WORKSPACE_ID, "AUTH_LOG", b"{}\n", T0) for _ in range(3)
        ]
        later = api.add_log_file(
            "workspaces", WORKSPACE_ID, "AUTH_LOG", b"{}\n", "2026-07-01T00:00:00.5Z"
        )
        assert [f["id"] for f in listing(api, http).json()["data"]] == [*ids, later]
        page = listing(api, http, after="2026-07-01T00:00:00Z").json()
        assert [f["id"] for f in page["data"]] == [later]


def test_an_empty_page_has_a_null_last_end_time(
    api: FakeComplianceAPI, http: requests.Session
) -> None:
    add_files(api, 1)
    page = listing(api, http, after="2030-01-01T00:00:00.123Z")
    assert page.json() == {"data": [], "has_more": False, "last_end_time": None}


def test_listing_entries_describe_the_served_bytes(
    api: FakeComplianceAPI, http: requests.Session
) -> None:
    file_id = api.add_log_file(
        Scope.WORKSPACE, WORKSPACE_ID, "AUTH_LOG", [{"a": 1}, {"b": "é"}], T0
    )
    entry = listing(api, http).json()["data"][0]
    body = download(api, http, file_id).content
    assert body == b'{"a":1}\n{"b":"\xc3\xa9"}\n'
    assert entry["file_size"] == len(body)
    assert entry["file_sha256"] == hashlib.sha256(body).hexdigest()
    assert entry["event_type"] == "AUTH_LOG"
    assert api.events_of(file_id) == [{"a": 1}, {"b": "é"}]


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"limit": "101"}, ["query", "limit"]),
        ({"limit": "0"}, ["query", "limit"]),
        ({"after": "yesterday"}, ["query", "after"]),
        ({"after": "2026-07-01T00:00:00"}, ["query", "after"]),
        ({"event_type": None}, ["query", "event_type"]),
    ],
)
def test_invalid_parameters_are_answered_422_fastapi_style(
    api: FakeComplianceAPI, http: requests.Session, params: dict[str, Any], loc: list[str]
) -> None:
    response = listing(api, http, **params)
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [loc]


def test_keys_are_checked_and_never_echoed(api: FakeComplianceAPI, http: requests.Session) -> None:
    wrong = "sk-wrong-key-abcdefghijklmnop"
    response = listing(api, http, headers={"Authorization": f"Bearer {wrong}"})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert wrong not in response.text
    assert (
        requests.get(f"{api.api_url}/workspaces/{WORKSPACE_ID}/logs", timeout=5).status_code == 401
    )
    unscoped = listing(api, http, headers={"Authorization": "Bearer sk-no-scope-0000000000"})
    assert unscoped.status_code == 403
    assert unscoped.json()["error"]["type"] == "permission_error"


def test_unknown_principals_and_files_are_404(
    api: FakeComplianceAPI, http: requests.Session
) -> None:
    response = listing(api, http, path="workspaces/no-such-workspace")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Workspace no-such-workspace not found."
    assert listing(api, http, path="organizations/org-nope", event_type="COSTS").status_code == 404
    assert download(api, http, "eclf_missing").status_code == 404


def test_a_type_asked_on_the_wrong_scope_is_400(
    api: FakeComplianceAPI, http: requests.Session
) -> None:
    response = listing(api, http, path=f"organizations/{ORGANIZATION_ID}", event_type="AUTH_LOG")
    assert response.status_code == 400
    assert "/workspaces/{workspace_id}/logs" in response.json()["error"]["message"]
    api.add_principal(Scope.WORKSPACE, WORKSPACE_ID)
    assert listing(api, http, event_type="COSTS").status_code == 400


def test_download_redirects_to_a_signed_url_fetched_without_the_key(
    api: FakeComplianceAPI, http: requests.Session
) -> None:
    (file_id,) = add_files(api, 1)
    redirect = http.get(
        f"{api.api_url}/workspaces/{WORKSPACE_ID}/logs/{file_id}", allow_redirects=False, timeout=5
    )
    assert redirect.status_code == 307
    location = urlsplit(redirect.headers["Location"])
    assert f"{location.scheme}://{location.netloc}" == api.storage_url
    assert location.netloc != urlsplit(api.api_url).netloc
    assert "signature=" in location.query
    assert "expires=" in location.query

    assert download(api, http, file_id).status_code == 200  # requests drops the key on redirect
    assert "authorization" not in api.storage_calls()[-1].headers

    with_key = http.get(redirect.headers["Location"], timeout=5)
    assert with_key.status_code == 400
    assert "Only one auth mechanism allowed" in with_key.text


def test_a_tampered_or_expired_link_is_403(api: FakeComplianceAPI, http: requests.Session) -> None:
    (file_id,) = add_files(api, 1)
    url = http.get(
        f"{api.api_url}/workspaces/{WORKSPACE_ID}/logs/{file_id}", allow_redirects=False, timeout=5
    ).headers["Location"]
    assert requests.get(url.replace("signature=", "signature=0"), timeout=5).status_code == 403

    api.inject("download", Fault.expire_link())
    expired = download(api, http, file_id)
    assert expired.status_code == 403
    assert "<Code>AccessDenied</Code><Message>Request has expired</Message>" in expired.text


def test_gzip_bodies_are_served_compressed(api: FakeComplianceAPI, http: requests.Session) -> None:
    file_id = api.add_log_file(Scope.WORKSPACE, WORKSPACE_ID, "AUTH_LOG", [{"a": 1}], T0, gzip=True)
    body = download(api, http, file_id).content
    assert body[:2] == b"\x1f\x8b"
    assert gzip.decompress(body) == b'{"a":1}\n'
    assert listing(api, http).json()["data"][0]["file_sha256"] == hashlib.sha256(body).hexdigest()


def test_path_bodies_are_streamed_from_disk(
    api: FakeComplianceAPI, http: requests.Session, tmp_path: Path
) -> None:
    path = tmp_path / "big.jsonl"
    path.write_bytes(b'{"n":1}\n' * 300_000)  # 2.4 MB: several chunks
    file_id = api.add_log_file(Scope.WORKSPACE, WORKSPACE_ID, "AUTH_LOG", path, T0)
    response = download(api, http, file_id)
    assert response.headers["Content-Length"] == str(path.stat().st_size)
    assert response.content == path.read_bytes()


def test_429_fault_carries_retry_after_and_is_consumed(
    api: FakeComplianceAPI, http: requests.Session
) -> None:
    add_files(api, 1)
    api.inject("list", Fault.status(429, headers={"Retry-After": "1"}))
    limited = listing(api, http)
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "1")
    assert listing(api, http).status_code == 200
    assert api.pending_faults() == 0


def test_dropped_connections_and_truncated_bodies(
    api: FakeComplianceAPI, http: requests.Session
) -> None:
    first, second = add_files(api, 2)
    api.inject("list", Fault.drop())
    with pytest.raises(requests.ConnectionError):
        listing(api, http)
    assert api.listing_calls()[-1].status == 0

    api.inject("storage", Fault.truncate(), file_id=second)
    assert len(download(api, http, first).content) > 0  # the fault waits for its file
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        download(api, http, second)


def test_corrupt_delay_and_echo_auth_faults(api: FakeComplianceAPI, http: requests.Session) -> None:
    (file_id,) = add_files(api, 1)
    good = download(api, http, file_id).content
    api.inject("storage", Fault.corrupt())
    bad = download(api, http, file_id).content
    assert len(bad) == len(good)
    assert bad != good

    api.inject("list", Fault.delay(0.3))
    with pytest.raises(requests.exceptions.ReadTimeout):
        http.get(f"{api.api_url}/workspaces/{WORKSPACE_ID}/logs", timeout=0.05)

    api.inject("list", Fault.echo_auth())
    assert API_KEY in listing(api, http).text

    with pytest.raises(ValueError, match="storage"):
        api.inject("list", Fault.truncate())


def test_rate_limit_answers_429_with_whole_seconds(http: requests.Session) -> None:
    with FakeComplianceAPI(api_key=API_KEY, rate_limit=1.0) as api:
        api.add_principal(Scope.WORKSPACE, WORKSPACE_ID)
        assert listing(api, http).status_code == 200
        limited = listing(api, http)
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) >= 1


def test_eight_concurrent_clients(api: FakeComplianceAPI) -> None:
    ids = add_files(api, 16)

    def fetch(file_id: str) -> bytes:
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {API_KEY}"
            return download(api, session, file_id).content

    with ThreadPoolExecutor(8) as pool:
        bodies = list(pool.map(fetch, ids))
    assert [body.count(b"\n") for body in bodies] == [1] * 16
    assert len(api.download_calls()) == len(api.storage_calls()) == 16


def test_make_event_fills_the_envelope() -> None:
    event = make_event("CODEX_LOG", principal_id=WORKSPACE_ID, timestamp=T0, rng=random.Random(1))
    assert event["type"] == "CODEX_LOG"
    assert event["principal"]["id"] == event["workspace_id"] == WORKSPACE_ID
    assert event["timestamp"] == "2026-07-01T00:00:00.000000Z"
    assert len(event["event_id"]) == 36


def test_demo_dataset_covers_every_type_with_its_quirks(http: requests.Session) -> None:
    def demo() -> FakeComplianceAPI:
        fake = FakeComplianceAPI(api_key=API_KEY)
        build_demo_dataset(
            fake, workspace_id=WORKSPACE_ID, organization_id=ORGANIZATION_ID, now=T0, days=2
        )
        return fake

    api = demo()
    files = api.log_files()
    assert {Feed(f.event_type, f.scope) for f in files} == set(KNOWN_FEEDS)
    assert all(
        f.principal_id == (WORKSPACE_ID if f.scope is Scope.WORKSPACE else ORGANIZATION_ID)
        for f in files
    )
    assert all(T0 - timedelta(days=2) < f.end_time <= T0 for f in files)
    assert [f.id for f in files] == [f.id for f in demo().log_files()]  # deterministic

    assert any(n > 1 for n in Counter((f.event_type, f.end_time) for f in files).values())
    assert sum(f.content_type == "application/octet-stream" for f in files) == 1
    events = [event for f in files for event in api.events_of(f.id)]
    repeats = [n for n in Counter(e["event_id"] for e in events).values() if n > 1]
    assert repeats
    assert all(n == 2 for n in repeats)
    assert any("risk_assessment" in event for event in events)
    assert all(parse_timestamp(event["timestamp"]) for event in events)

    with api:
        page = listing(
            api, http, path=f"organizations/{ORGANIZATION_ID}", event_type="COSTS"
        ).json()
        assert len(page["data"]) == 8


# -- a hostile network: huge, bomb-like, leaky or unlengthed answers ----------------------------


def peak_rss() -> int:
    """This process's peak resident set size so far, in bytes (client and fake alike)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux counts KiB


@contextmanager
def memory_grows_less_than(limit: int) -> Iterator[None]:
    before = peak_rss()
    yield
    assert peak_rss() - before < limit


def download_stream(
    api: FakeComplianceAPI, http: requests.Session, file_id: str
) -> requests.Response:
    url = f"{api.api_url}/workspaces/{WORKSPACE_ID}/logs/{file_id}"
    return http.get(url, stream=True, timeout=5)


def chunks_of(response: requests.Response) -> Iterator[bytes]:
    """The body as sent (not decoded), a MiB at a time."""
    yield from response.raw.stream(MiB, decode_content=False)


def test_oversize_fault_streams_filler_past_the_listed_size(
    api: FakeComplianceAPI, http: requests.Session
) -> None:
    (file_id,) = add_files(api, 1)
    body = download(api, http, file_id).content
    api.inject("storage", Fault.oversize(GiB), file_id=file_id)
    with memory_grows_less_than(100 * MiB), download_stream(api, http, file_id) as response:
        assert response.status_code == 200
        assert response.headers["Content-Length"] == str(len(body) + GiB)
        assert response.raw.read(len(body)) == body
        filler = 0
        for chunk in chunks_of(response):
            assert chunk == b"x" * len(chunk)  # no newline ever ends the line
            filler += len(chunk)
    assert filler == GiB
    assert listing(api, http).json()["data"][0]["file_size"] == len(body)


def test_gzip_bomb_fault_inflates_a_thousandfold(
    api: FakeComplianceAPI, http: requests.Session
) -> None:
    (file_id,) = add_files(api, 1)
    inflated_size = GiB + 5  # 1024 whole chunks and a partial one
    api.inject("storage", Fault.gzip_bomb(inflated_size))
    inflater = zlib.decompressobj(wbits=31)  # gzip; checks the CRC and length at the end
    sent = inflated = 0
    with memory_grows_less_than(100 * MiB), download_stream(api, http, file_id) as response:
        assert response.status_code == 200
        assert response.headers["Content-Encoding"] == "gzip"
        assert response.headers["Content-Type"] == "application/jsonl"
        for chunk in chunks_of(response):
            sent += len(chunk)
            while chunk:
                piece = inflater.decompress(chunk, MiB)
                assert piece == b"A" * len(piece)  # one line of A, no newline
                inflated += len(piece)
                chunk = inflater.unconsumed_tail
    assert sent == int(response.headers["Content-Length"]) < 3 * MiB
    assert (inflated, inflater.eof, inflater.unused_data) == (inflated_size, True, b"")


@pytest.mark.parametrize("size", [0, 1, MiB - 1, 3 * MiB + 2])
def test_gzip_bombs_of_any_size_are_valid_gzip(
    api: FakeComplianceAPI, http: requests.Session, size: int
) -> None:
    (file_id,) = add_files(api, 1)
    api.inject("storage", Fault.gzip_bomb(size))
    with download_stream(api, http, file_id) as response:
        sent = response.raw.read(decode_content=False)
    assert len(sent) == int(response.headers["Content-Length"])
    assert gzip.decompress(sent) == b"A" * size


def test_flood_fault_answers_any_target_with_a_huge_body(
    api: FakeComplianceAPI, http: requests.Session
) -> None:
    (file_id,) = add_files(api, 1)
    api.inject("list", Fault.flood(GiB))
    query = {"event_type": "AUTH_LOG", "after": EPOCH}
    url = f"{api.api_url}/workspaces/{WORKSPACE_ID}/logs"
    with (
        memory_grows_less_than(100 * MiB),
        http.get(url, params=query, stream=True, timeout=5) as response,
    ):
        assert (response.status_code, response.headers["Content-Type"]) == (200, "application/json")
        assert response.headers["Content-Length"] == str(GiB)
        flood = 0
        for chunk in chunks_of(response):
            assert chunk == b"x" * len(chunk)
            flood += len(chunk)
    assert flood == GiB

    for target in ("download", "storage"):
        api.inject(target, Fault.flood(3 * MiB + 1, status=500, content_type="text/html"))
        error = download(api, http, file_id)
        assert (error.status_code, error.headers["Content-Type"]) == (500, "text/html")
        assert error.content == b"x" * (3 * MiB + 1)
    assert [call.status for call in api.requests[-3:]] == [500, 307, 500]
    assert listing(api, http).status_code == 200  # each fault answered one request


def test_echo_url_fault_leaks_the_signed_url_three_ways(
    api: FakeComplianceAPI, http: requests.Session
) -> None:
    (file_id,) = add_files(api, 1)
    api.inject("storage", Fault.echo_url())
    signed = http.get(
        f"{api.api_url}/workspaces/{WORKSPACE_ID}/logs/{file_id}", allow_redirects=False, timeout=5
    ).headers["Location"]
    response = requests.get(signed, timeout=5)
    assert (response.status_code, response.headers["Content-Type"]) == (403, "application/xml")
    assert response.text.startswith("<Error><Code>AccessDenied</Code>")

    path_and_query = signed.removeprefix(api.storage_url)
    assert "&signature=" in path_and_query
    once = quote(path_and_query, safe="")
    assert "%26signature%3D" in once
    for leaked in (path_and_query, once, quote(once, safe="")):
        assert response.text.count(leaked) == 1

    api.inject("storage", Fault.echo_url(400))
    bad = requests.get(signed, timeout=5)
    assert bad.status_code == 400
    assert "<Code>BadRequest</Code>" in bad.text
    assert path_and_query in bad.text


@pytest.mark.parametrize("truncate", [False, True])
def test_no_length_fault_ends_the_body_by_closing_the_connection(
    api: FakeComplianceAPI, http: requests.Session, truncate: bool
) -> None:
    file_id = api.add_log_file(
        Scope.WORKSPACE, WORKSPACE_ID, "AUTH_LOG", [{"n": n} for n in range(1000)], T0
    )
    whole = download(api, http, file_id).content
    api.inject("storage", Fault.no_length(truncate=truncate))
    response = download(api, http, file_id)  # no error either way: the client cannot tell
    assert response.status_code == 200
    assert "Content-Length" not in response.headers
    assert "Transfer-Encoding" not in response.headers
    assert response.content == (whole[: len(whole) // 2] if truncate else whole)
    assert download(api, http, file_id).content == whole  # the next connection is sound


@pytest.mark.parametrize(
    "fault",
    [Fault.oversize(1), Fault.gzip_bomb(1), Fault.echo_url(), Fault.no_length()],
    ids=lambda fault: fault.kind,
)
@pytest.mark.parametrize("target", ["list", "download"])
def test_storage_faults_are_refused_on_api_targets(
    api: FakeComplianceAPI, fault: Fault, target: Any
) -> None:
    with pytest.raises(ValueError, match="storage"):
        api.inject(target, fault)


def test_hostile_fault_sizes_must_not_be_negative() -> None:
    for make in (Fault.oversize, Fault.gzip_bomb, Fault.flood):
        with pytest.raises(ValueError, match="negative"):
            make(-1)


def test_reversed_pages_hold_the_same_files_latest_first(http: requests.Session) -> None:
    with FakeComplianceAPI(api_key=API_KEY, page_order="reversed", after_exclusive=False) as api:
        ids = add_files(api, 5)
        first = listing(api, http, limit=3).json()
        assert [f["id"] for f in first["data"]] == [ids[2], ids[1], ids[0]]
        assert first["last_end_time"] == "2026-07-01T02:00:00.000000Z"  # still the latest
        assert first["has_more"] is True
        second = listing(api, http, after=first["last_end_time"], limit=3).json()
        assert [f["id"] for f in second["data"]] == [ids[4], ids[3], ids[2]]
        assert (second["last_end_time"], second["has_more"]) == (
            "2026-07-01T04:00:00.000000Z",
            False,
        )
    with pytest.raises(ValueError, match="page order"):
        FakeComplianceAPI(page_order="shuffled")  # type: ignore[arg-type]


def test_listings_can_leave_out_size_and_checksum(http: requests.Session) -> None:
    with FakeComplianceAPI(api_key=API_KEY, listing_checksums=False) as api:
        (file_id,) = add_files(api, 1)
        (entry,) = listing(api, http).json()["data"]
        assert set(entry) == {"id", "event_type", "end_time", "file_name"}
        assert download(api, http, file_id).content == b'{"n":0}\n'


def test_dot_file_ids_are_listed_as_is(api: FakeComplianceAPI, http: requests.Session) -> None:
    for file_id in (".", ".."):
        api.add_log_file(Scope.WORKSPACE, WORKSPACE_ID, "AUTH_LOG", b"{}\n", T0, file_id=file_id)
    entries = listing(api, http).json()["data"]
    assert [entry["id"] for entry in entries] == [".", ".."]
    assert entries[1]["file_name"] == "AUTH_LOG-20260701T000000000000Z-...jsonl"
    # requests resolves /logs/.. to /workspaces/{id}/: the route does not exist.
    assert download(api, http, "..").status_code == 404
    assert download(api, http, "%2E%2E").content == b"{}\n"  # percent-encoded, it is served


def test_the_organization_route_serves_its_app_logs_and_costs(
    api: FakeComplianceAPI, http: requests.Session
) -> None:
    for event_type in ("APP_LOG", "APP_AUTH_LOG", "COSTS"):
        api.add_log_file(Scope.ORGANIZATION, ORGANIZATION_ID, event_type, [{"n": 1}], T0)
    path = f"organizations/{ORGANIZATION_ID}"

    for event_type in ("APP_LOG", "APP_AUTH_LOG", "COSTS"):
        page = listing(api, http, event_type=event_type, path=path).json()
        assert [entry["event_type"] for entry in page["data"]] == [event_type]
    assert listing(api, http, event_type="AUTH_LOG", path=path).status_code == 400


def test_a_key_limited_to_some_types_is_refused_the_others_with_their_scope(
    http: requests.Session,
) -> None:
    with FakeComplianceAPI(api_key=API_KEY, readable_types={"AUTH_LOG"}) as api:
        auth_file = api.add_log_file(Scope.WORKSPACE, WORKSPACE_ID, "AUTH_LOG", [{"n": 1}], T0)
        audit_file = api.add_log_file(Scope.WORKSPACE, WORKSPACE_ID, "AUDIT_LOG", [{"n": 1}], T0)

        assert listing(api, http, event_type="AUTH_LOG").status_code == 200
        refused = listing(api, http, event_type="AUDIT_LOG")
        assert download(api, http, auth_file).status_code == 200
        refused_download = download(api, http, audit_file)

    assert refused.status_code == refused_download.status_code == 403
    scope = "chatgpt.enterprise.compliance_logs_platform.audit_log.read"
    assert scope in refused.json()["error"]["message"]


def test_downloads_past_their_window_are_refused_until_it_ends(http: requests.Session) -> None:
    with FakeComplianceAPI(api_key=API_KEY, downloads_per_window=(3, 60.0)) as api:
        file_ids = add_files(api, 4)
        answers = [
            http.get(
                f"{api.api_url}/workspaces/{WORKSPACE_ID}/logs/{file_id}",
                allow_redirects=False,
                timeout=5,
            )
            for file_id in file_ids
        ]
        # Listing calls have a budget of their own.
        assert listing(api, http).status_code == 200

    assert [answer.status_code for answer in answers] == [307, 307, 307, 429]
    assert 58 <= int(answers[3].headers["Retry-After"]) <= 60


def test_before_lists_only_files_ending_strictly_earlier(
    api: FakeComplianceAPI, http: requests.Session
) -> None:
    ids = add_files(api, 4)

    page = listing(api, http, before="2026-07-01T02:00:00Z").json()

    assert [entry["id"] for entry in page["data"]] == ids[:2]
