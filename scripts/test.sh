#!/usr/bin/env bash
# The test command: installs what is missing, starts real Kafka and Redis (unless they are
# already up), runs the whole test suite against them, and stops only what it started.
# Extra arguments go to pytest, e.g. `./scripts/test.sh tests/schemas -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"

if insession services status >/dev/null 2>&1; then
  echo "test: Kafka and Redis already running; leaving them up afterwards"
else
  # Trap first: if Kafka fails to start after Redis did, Redis is still stopped.
  trap 'insession services down' EXIT
  insession services up
fi
ruff check .
python -m pytest "$@"
