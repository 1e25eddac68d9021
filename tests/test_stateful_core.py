"""The SDK's standard tap tests with the stateful tables on, per-user ones included, over real
HTTP against the sandbox's demo dataset (logs of every feed, and every stateful table)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from singer_sdk.testing import get_tap_test_class

from tap_openai_compliance.sandbox import (
    DEMO_API_KEY,
    DEMO_ORGANIZATION_ID,
    DEMO_WORKSPACE_ID,
    FakeComplianceAPI,
    build_demo_dataset,
)
from tap_openai_compliance.tap import TapOpenAICompliance
from tests.conftest import UNLIMITED_DOWNLOADS

# The factory needs the config when the module is collected, so the fake starts here; its
# threads are daemons and end with the test session.
_NOW = datetime.now(UTC)
_api = FakeComplianceAPI(api_key=DEMO_API_KEY).start()
build_demo_dataset(_api, now=_NOW, days=1)

TestTapWithStatefulTables = get_tap_test_class(
    TapOpenAICompliance,
    config={
        "api_key": DEMO_API_KEY,
        "workspace_id": DEMO_WORKSPACE_ID,
        "organization_id": DEMO_ORGANIZATION_ID,
        "api_url": _api.api_url,
        "start_date": (_NOW - timedelta(days=2)).isoformat(),
        "downloads_per_minute": UNLIMITED_DOWNLOADS,
        "per_user_tables": True,
    },
)
