#!/usr/bin/env bash
# The main job on the embedded default: no services needed. Replays recordings of the real
# public data sets (converted on first run from ../shared/data) and prints what they hold.
# Extra arguments go to `insession replay`, e.g. `./scripts/demo.sh my-recording.jsonl.gz`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/insession replay "$@"
