#!/usr/bin/env bash
# Prepares a fresh machine for insession: system packages (Java, Maven, Redis, OpenSSL for the
# local services' certificates, Chromium with its driver for the ops page's browser test, and
# kcat for the test that replays what kcat recorded) when missing, and a virtual environment
# in .venv with the project and its dev tools. Safe to re-run: it reinstalls the Python
# packages only when pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v java >/dev/null || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need+=(maven)
command -v redis-server >/dev/null || need+=(redis-server)
command -v openssl >/dev/null || need+=(openssl)
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
command -v kcat >/dev/null || need+=(kcat)
if ((${#need[@]})); then
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "bootstrap: please install ${need[*]} (Debian: apt-get install ${need[*]})" >&2
    exit 1
  fi
  echo "bootstrap: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

python=${PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3
if ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "bootstrap: insession needs Python 3.11 ($python is $("$python" --version 2>&1))" >&2
  exit 1
fi
[[ -x .venv/bin/python ]] || "$python" -m venv .venv
stamp=.venv/.insession-installed
wanted=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$wanted" ]]; then
  echo "bootstrap: installing insession into .venv (log: .venv/install.log)"
  if ! { .venv/bin/python -m pip install --upgrade pip &&
         .venv/bin/python -m pip install -e ".[dev]"; } >.venv/install.log 2>&1; then
    tail -n 40 .venv/install.log >&2
    echo "bootstrap: pip install failed (whole log: .venv/install.log)" >&2
    exit 1
  fi
  echo "$wanted" >"$stamp"
fi
