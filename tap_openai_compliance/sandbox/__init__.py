"""A local fake of the Compliance Logs Platform, for tests, the demo and benchmarks."""

from tap_openai_compliance.sandbox.data import (
    DEMO_ORGANIZATION_ID,
    DEMO_WORKSPACE_ID,
    build_demo_dataset,
    make_event,
    templates,
)
from tap_openai_compliance.sandbox.server import (
    DEMO_API_KEY,
    FakeComplianceAPI,
    Fault,
    LogFile,
    PageOrder,
    RequestRecord,
    encode_jsonl,
    format_timestamp,
    parse_timestamp,
)

__all__ = [
    "DEMO_API_KEY",
    "DEMO_ORGANIZATION_ID",
    "DEMO_WORKSPACE_ID",
    "FakeComplianceAPI",
    "Fault",
    "LogFile",
    "PageOrder",
    "RequestRecord",
    "build_demo_dataset",
    "encode_jsonl",
    "format_timestamp",
    "make_event",
    "parse_timestamp",
    "templates",
]
