#!/usr/bin/env bash
# One sync of the local sandbox straight through the tap's command (no Meltano), with whatever
# Python the PATH gives: CI runs it on the highest supported version. Fails unless every event
# type's stream emits records and the run ends with a STATE.
set -euo pipefail

work=$(mktemp -d)
sandbox_pid=
cleanup() {
  [ -n "$sandbox_pid" ] && kill "$sandbox_pid" 2>/dev/null && wait "$sandbox_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

tap-openai-compliance-sandbox --port 0 --storage-port 0 --ready-file "$work/ready" 2>"$work/sandbox.log" &
sandbox_pid=$!
for _ in $(seq 100); do
  [ -s "$work/ready" ] && break
  sleep 0.1
done
[ -s "$work/ready" ] || { cat "$work/sandbox.log" >&2; echo "The sandbox did not start." >&2; exit 1; }

cat >"$work/config.json" <<JSON
{"api_url": "$(cat "$work/ready")", "api_key": "sandbox-key",
 "workspace_id": "00000000-0000-4000-8000-000000000001",
 "organization_id": "org-sandbox000000000000000001",
 "downloads_per_minute": 1000000}
JSON
tap-openai-compliance --config "$work/config.json" >"$work/messages.jsonl" 2>"$work/tap.log" || {
  tail -n 20 "$work/tap.log" >&2
  exit 1
}
python - "$work/messages.jsonl" <<'PY'
import json, sys
from collections import Counter

from tap_openai_compliance.feeds import KNOWN_FEEDS

messages = [json.loads(line) for line in open(sys.argv[1])]
records = Counter(m["stream"] for m in messages if m["type"] == "RECORD")
missing = [feed.stream_name for feed in KNOWN_FEEDS if not records[feed.stream_name]]
if missing or messages[-1]["type"] != "STATE":
    sys.exit(f"sandbox sync incomplete: no records for {missing}, last message {messages[-1]['type']}")
print(f"==> {sys.version.split()[0]}: {sum(records.values())} records from the sandbox, every stream")
PY
