"""The SDK's standard tap tests, over real HTTP against the fake API.

Some events carry a field no schema declares, as the feed's do: the standard tests check
that records still hold only what their schema declares.
"""

from __future__ import annotations

import random
from datetime import timedelta

from singer_sdk.testing import get_tap_test_class

from tap_openai_compliance.feeds import KNOWN_FEEDS
from tap_openai_compliance.sandbox import FakeComplianceAPI
from tap_openai_compliance.sandbox.data import make_event
from tap_openai_compliance.tap import TapOpenAICompliance
from tests.conftest import (
    API_KEY,
    ORGANIZATION_ID,
    UNLIMITED_DOWNLOADS,
    WORKSPACE_ID,
    hourly,
    principal_of,
)

# The factory needs the config when the module is collected, so the fake starts here; its
# threads are daemons and end with the test session.
_api = FakeComplianceAPI(api_key=API_KEY).start()
_rng = random.Random(3)
for feed in KNOWN_FEEDS:
    principal_id = principal_of(feed)
    for end_time in hourly(3):
        events = [
            make_event(
                feed.event_type,
                principal_id=principal_id,
                timestamp=end_time - timedelta(seconds=n),
                rng=_rng,
                scope=feed.scope,
            )
            for n in range(5)
        ]
        events[0]["risk_assessment"] = {"score": 0.5}
        _api.add_log_file(feed.scope, principal_id, feed.event_type, events, end_time)

TestTapOpenAICompliance = get_tap_test_class(
    TapOpenAICompliance,
    config={
        "api_key": API_KEY,
        "workspace_id": WORKSPACE_ID,
        "organization_id": ORGANIZATION_ID,
        "api_url": _api.api_url,
        "start_date": "2026-11-01T00:00:00Z",
        "downloads_per_minute": UNLIMITED_DOWNLOADS,
        # The stateful tables' standard tests: tests/test_stateful_core.py.
        "stateful_tables": [],
    },
)
