#!/usr/bin/env bash
# The README's first command: install the tap and Meltano, serve the local sandbox (a fake of the
# Compliance API, so no OpenAI key is needed), sync every event type into output/sandbox/, and
# show what landed. Safe to run again: each run is a fresh demo.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
SANDBOX_PORT=${SANDBOX_PORT:-8788}
SANDBOX_STORAGE_PORT=${SANDBOX_STORAGE_PORT:-8789}
OUTPUT=output/sandbox

say() { printf '==> %s\n' "$*"; }

work=$(mktemp -d)
sandbox_pid=
stop_sandbox() {
  if [ -n "$sandbox_pid" ]; then
    kill "$sandbox_pid" 2>/dev/null || true
    wait "$sandbox_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap stop_sandbox EXIT

# Run a command with its output in a log, shown only when it fails.
quietly() {
  local log="$work/step.log"
  if ! "$@" >"$log" 2>&1; then
    printf '\n%s failed; its last output:\n' "$*" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
}

if ! "${PYTHON:-python3}" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "Python 3.11 or newer is needed (python3, or set PYTHON)." >&2
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  say "Creating the virtualenv $VENV"
  quietly "${PYTHON:-python3}" -m venv "$VENV"
fi
say "Installing the tap, Meltano and the dev tools into $VENV"
quietly "$VENV/bin/python" -m pip install --disable-pip-version-check -e '.[dev]'
PATH="$PWD/$VENV/bin:$PATH"
export PATH

say "Installing the Meltano plugins: the tap and target-jsonl"
quietly meltano install tap-openai-compliance target-jsonl

say "Starting the sandbox"
tap-openai-compliance-sandbox --port "$SANDBOX_PORT" --storage-port "$SANDBOX_STORAGE_PORT" \
  --ready-file "$work/ready" 2>"$work/sandbox.log" &
sandbox_pid=$!
for _ in $(seq 100); do
  [ -s "$work/ready" ] && break
  if ! kill -0 "$sandbox_pid" 2>/dev/null; then
    echo "The sandbox did not start (is port $SANDBOX_PORT taken? set SANDBOX_PORT):" >&2
    cat "$work/sandbox.log" >&2
    exit 1
  fi
  sleep 0.1
done
[ -s "$work/ready" ] || { echo "The sandbox did not answer within 10 s." >&2; exit 1; }
# The sandbox environment in meltano.yml names the default port; this follows any other.
TAP_OPENAI_COMPLIANCE_API_URL=$(cat "$work/ready")
export TAP_OPENAI_COMPLIANCE_API_URL

say "Syncing every event type from the sandbox into $OUTPUT/"
# The sandbox makes its data anew at each start, and target-jsonl appends: start both afresh.
rm -f "$OUTPUT"/*.jsonl
quietly meltano --environment=sandbox run --full-refresh sync-jsonl

say "Rows per stream in $OUTPUT/"
shopt -s nullglob
files=("$OUTPUT"/*.jsonl)
if [ ${#files[@]} -eq 0 ]; then
  echo "The sync wrote no file to $OUTPUT/." >&2
  exit 1
fi
total=0
for file in "${files[@]}"; do
  rows=$(wc -l <"$file")
  total=$((total + rows))
  printf '    %-30s %6d\n' "$(basename "$file" .jsonl)" "$rows"
done
printf '    %-30s %6d\n' "total" "$total"
cat <<EOF

Done. The sandbox repeats some events across files, as the real feed does: JSONL keeps every
copy, while target-postgres keeps one row per event_id. Next:
    head -n 1 $OUTPUT/auth_log.jsonl
    $VENV/bin/meltano --environment=sandbox state get sandbox:tap-openai-compliance-to-target-jsonl
EOF
