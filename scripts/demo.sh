#!/usr/bin/env bash
# The main job on the embedded default: no services needed. Replays recordings of the real
# public data sets (converted on first run from ../shared/data) and prints what they hold.
# Extra arguments go to `insession replay`, e.g. `./scripts/demo.sh my-recording.jsonl.gz`.
# Without arguments it then closes the loop: simulated shoppers answer the engine's offers
# from hidden true rates, and the learning curves of the Thompson policy and the baseline
# are printed side by side (a recording cannot answer offers it never saw), and the product
# offers of learned recommendations are compared with popularity's.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
.venv/bin/insession replay "$@"
if [ "$#" -eq 0 ]; then
    .venv/bin/insession simulate --closed-loop --days 14
    # Product offers filled from the learned item knowledge vs popularity alone.
    .venv/bin/insession simulate --closed-loop --compare-recommendations --policies baseline \
        --customers 300 --days 12 --seed 2
fi
