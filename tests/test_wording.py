"""Wording failures: bodies quoted short and masked, causes named without URLs."""

from __future__ import annotations

import requests

from tap_openai_compliance.sandbox import Fault
from tap_openai_compliance.wording import MAX_QUOTED_BODY, Masker, quote_body
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

    quoted = quote_body(response, Masker(["sk-secret-1"]))

    assert quoted.startswith("key <redacted> [31mand Authorization: Bearer <redacted> zzz")
    assert len(quoted) == MAX_QUOTED_BODY + 1
    assert quoted.endswith("…")


def test_the_signature_of_a_signed_link_is_masked(api):
    (file_id,) = add_files(api, "AUTH_LOG", hourly(1))
    redirect = requests.get(
        f"{api.api_url}/workspaces/{WORKSPACE_ID}/logs/{file_id}",
        headers={"Authorization": f"Bearer {API_KEY}"},
        allow_redirects=False,
        timeout=10,
    )
    link = redirect.headers["Location"]
    signature = link.rsplit("signature=", 1)[1]

    masked = Masker().with_signed_url(link)(f"could not fetch {link}")

    assert signature not in masked
    assert "<redacted>" in masked
