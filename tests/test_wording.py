"""Wording failures: bodies quoted short and masked, causes named without URLs."""

from __future__ import annotations

import random
import re
import string
import time
from urllib.parse import quote, unquote

import pytest
import requests

from tap_openai_compliance.sandbox import Fault
from tap_openai_compliance.wording import MAX_ERROR_BODY_READ, MAX_QUOTED_BODY, Masker, quote_body
from tests.conftest import API_KEY, WORKSPACE_ID, add_files, hourly


def listing_response(api, fault: Fault) -> requests.Response:
    """What the fake answers a listing call when ``fault`` is injected."""
    api.inject("list", fault)
    return requests.get(
        f"{api.api_url}/workspaces/{WORKSPACE_ID}/logs",
        params={"event_type": "AUTH_LOG", "after": "2026-01-01T00:00:00Z"},
        headers={"Authorization": f"Bearer {API_KEY}"},
        allow_redirects=False,
        timeout=10,
    )


def signed_link(api) -> str:
    """The signed storage URL the fake hands out for a new file."""
    (file_id,) = add_files(api, "AUTH_LOG", hourly(1))
    redirect = requests.get(
        f"{api.api_url}/workspaces/{WORKSPACE_ID}/logs/{file_id}",
        headers={"Authorization": f"Bearer {API_KEY}"},
        allow_redirects=False,
        timeout=10,
    )
    return redirect.headers["Location"]


def unauthorized_echoing(api, echo: str) -> requests.Response:
    """A 401 whose message quotes ``echo``, as a gateway that echoes what it got would."""
    message = f"Incorrect API key provided: {echo}. Find your key in the dashboard."
    return listing_response(api, Fault.status(401, body={"error": {"message": message}}))


def pieces_of(secret: str, size: int = 6) -> set[str]:
    """Every ``size`` consecutive letters and digits of ``secret``: none may be shown."""
    words = re.findall(r"[A-Za-z0-9]+", secret)
    return {word[i : i + size] for word in words for i in range(len(word) - size + 1)}


def test_the_api_error_message_is_picked_out_of_its_json(api):
    openai_style = listing_response(api, Fault.status(400, body={"error": {"message": "Nope."}}))
    fastapi_style = listing_response(
        api,
        Fault.status(422, body={"detail": [{"loc": ["query", "limit"], "msg": "too big"}]}),
    )

    assert quote_body(openai_style, Masker()) == "Nope."
    assert quote_body(fastapi_style, Masker()) == "query.limit: too big"


def test_a_quoted_body_is_short_one_line_and_masks_secrets(api):
    body = "key sk-secret-1 \x1b[31mand\r\nAuthorization: Bearer sk-other\t" + "z" * 5_000
    response = listing_response(api, Fault.status(500, body=body))

    quoted = quote_body(response, Masker(secrets=["sk-secret-1"]))

    assert quoted.startswith("key <redacted> [31mand Authorization: Bearer <redacted> zzz")
    assert len(quoted) == MAX_QUOTED_BODY + 1
    assert quoted.endswith("…")


def test_the_signature_of_a_signed_link_is_masked(api):
    link = signed_link(api)
    signature = link.rsplit("signature=", 1)[1]

    masked = Masker().with_signed_url(link)(f"could not fetch {link}")

    assert signature not in masked
    assert "<redacted>" in masked


@pytest.mark.parametrize(
    "echo",
    [
        pytest.param(API_KEY.upper(), id="upper-cased"),
        pytest.param(API_KEY.lower(), id="lower-cased"),
        pytest.param(API_KEY[:20], id="first-20"),
        pytest.param(API_KEY[-12:], id="last-12"),
        pytest.param(API_KEY + API_KEY.upper(), id="twice-in-a-row"),
    ],
)
def test_the_api_key_is_masked_in_another_case_or_cut_short(api, echo):
    quoted = quote_body(unauthorized_echoing(api, echo), Masker(api_key=API_KEY))

    assert quoted == "Incorrect API key provided: <redacted>. Find your key in the dashboard."


def test_the_api_key_is_masked_inside_other_text(api):
    body = f"token=x{API_KEY[3:25].upper()}y;next"
    quoted = quote_body(
        listing_response(api, Fault.status(500, body=body)), Masker(api_key=API_KEY)
    )

    assert quoted == "token=x<redacted>y;next"


def test_a_piece_of_the_key_shorter_than_a_run_is_left_alone(api):
    nine = API_KEY[8:17]
    openai_style = f"{API_KEY[:8]}****{API_KEY[-4:]}"

    for echo in (nine, nine.upper(), openai_style):
        quoted = quote_body(unauthorized_echoing(api, echo), Masker(api_key=API_KEY))

        assert quoted == f"Incorrect API key provided: {echo}. Find your key in the dashboard."


def test_a_key_shorter_than_a_run_is_masked_only_whole(api):
    mask = Masker(api_key="sk-short")

    assert quote_body(unauthorized_echoing(api, "SK-SHORT"), mask).startswith(
        "Incorrect API key provided: <redacted>."
    )
    assert quote_body(unauthorized_echoing(api, "sk-shor"), mask).startswith(
        "Incorrect API key provided: sk-shor."
    )


def _lower_hex(text: str) -> str:
    """``text`` with its percent escapes (encoded once or more) in lower-case hex."""
    return re.sub(r"%(?:25)*[0-9A-F]{2}", lambda escape: escape[0].lower(), text)


def _once(text: str) -> str:
    """``text`` percent-encoded, as a body quoting a URL in a query parameter shows it."""
    return quote(text, safe="")


def _twice(text: str) -> str:
    """``text`` percent-encoded twice, as a body quoting such a URL again shows it."""
    return _once(_once(text))


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda link: link, id="raw"),
        pytest.param(unquote, id="decoded"),
        pytest.param(_once, id="once-upper-hex"),
        pytest.param(lambda link: _lower_hex(_once(link)), id="once-lower-hex"),
        pytest.param(_twice, id="twice-upper-hex"),
        pytest.param(lambda link: _lower_hex(_twice(link)), id="twice-lower-hex"),
    ],
)
def test_a_signed_link_echoed_by_storage_in_any_encoding_is_masked(api, encode):
    # A base64 token under a name the tap does not know: only with_signed_url can mask it.
    token = "Yq7Rk2Lp9/Wm4Tz8+Vn3Xc6Bd1="
    link = f"{signed_link(api)}&token={quote(token, safe='')}"
    signature = link.split("signature=", 1)[1].split("&", 1)[0]
    body = f"<Error><Code>AccessDenied</Code><URL>{encode(link)}</URL></Error>"
    api.inject("storage", Fault.status(403, body=body, headers={"Content-Type": "text/xml"}))
    storage_error = requests.get(link, timeout=10)

    quoted = quote_body(storage_error, Masker(api_key=API_KEY).with_signed_url(link))

    assert storage_error.status_code == 403
    assert not quoted.endswith("…"), "the whole echo must be quoted for this test to mean much"
    assert "<redacted>" in quoted
    assert {piece for piece in pieces_of(token) | pieces_of(signature) if piece in quoted} == set()


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        pytest.param(
            "GET https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            "&X-Amz-Credential=AKIAEXAMPLE%2F20261120%2Fus-east-1%2Fs3%2Faws4_request"
            "&x-amz-signature=0f1e2d3c4b5a69788796a5b4c3d2e1f0 failed",
            "GET https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            "&X-Amz-Credential=<redacted>&x-amz-signature=<redacted> failed",
            id="s3-raw",
        ),
        pytest.param(
            "url=https%3A%2F%2Fa.blob.core.windows.net%2Fc%3Fse%3D2026-11-21%26sig%3Dq1W2%252Be3R4"
            "%26sp%3Dr",
            "url=https%3A%2F%2Fa.blob.core.windows.net%2Fc%3Fse%3D2026-11-21%26sig%3D<redacted>"
            "%26sp%3Dr",
            id="azure-once-encoded",
        ),
        pytest.param(
            'link "x%253FX-Goog-Signature%253dabcdef123456%2526y" <b>',
            'link "x%253FX-Goog-Signature%253d<redacted>%2526y" <b>',
            id="gcs-twice-encoded",
        ),
    ],
)
def test_a_well_known_credential_parameter_is_masked_without_being_told_the_link(api, body, shown):
    response = listing_response(api, Fault.status(502, body=body))

    assert quote_body(response, Masker(api_key=API_KEY)) == shown


def test_with_signed_url_keeps_masking_the_api_key(api):
    mask = Masker(api_key=API_KEY).with_signed_url(signed_link(api))

    assert quote_body(unauthorized_echoing(api, API_KEY.lower()[:15]), mask).startswith(
        "Incorrect API key provided: <redacted>."
    )


def test_masking_a_64_kib_body_stays_fast(api):
    # Hostile but plausible: near misses of the key, credential names, percent escapes.
    rng = random.Random(0)
    alphabet = string.ascii_letters + string.digits + "%&=/ <>\"'"
    decoys = [API_KEY[i : i + 9] for i in range(len(API_KEY) - 8)] + ["sig", "%3D", "Signature"]
    chunks = [
        rng.choice(decoys) if rng.random() < 0.2 else rng.choice(alphabet) for _ in range(30_000)
    ]
    body = "".join(chunks)[: MAX_ERROR_BODY_READ - len(API_KEY)] + API_KEY.upper()
    text = listing_response(api, Fault.status(500, body=body)).text
    mask = Masker(api_key=API_KEY).with_signed_url(signed_link(api))

    timings = []
    for _ in range(3):
        started = time.perf_counter()
        masked = mask(text)
        timings.append(time.perf_counter() - started)

    assert len(text) == MAX_ERROR_BODY_READ
    assert masked.endswith("<redacted>")
    assert min(timings) < 0.050, f"masking 64 KiB took {min(timings) * 1000:.1f} ms"
