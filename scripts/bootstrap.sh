#!/usr/bin/env bash
# Installs everything the demo and the test suite need on a fresh Debian/Ubuntu machine:
# the ODBC driver manager + SQLite ODBC driver (apt), a Python venv with the dev requirements
# (pip) and Azurite (npm). Idempotent: each step is skipped when already satisfied.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

need_apt=()
[ -e /usr/lib/x86_64-linux-gnu/libodbc.so.2 ] || [ -e /usr/lib/aarch64-linux-gnu/libodbc.so.2 ] || need_apt+=(unixodbc)
ls /usr/lib/*-linux-gnu/odbc/libsqlite3odbc.so >/dev/null 2>&1 || need_apt+=(libsqliteodbc)
command -v npm >/dev/null 2>&1 || need_apt+=(nodejs npm)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3 python3-venv)
command -v shellcheck >/dev/null 2>&1 || need_apt+=(shellcheck)  # make lint: infra/deploy.sh
[ -x /usr/bin/chromium ] || need_apt+=(chromium)  # the monitor's browser tests (Playwright)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "bootstrap: [1/3] apt-get install ${need_apt[*]} (a few minutes on a fresh machine)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q -o Dpkg::Progress-Fancy=0 \
    "${need_apt[@]}" | { grep -E '^(Unpacking|Setting up) ' | sed 's/^/  apt: /' || true; }
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.requirements.sha
want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: [2/3] pip install -r requirements-dev.txt"
  .venv/bin/python -m pip install -q --upgrade pip
  # One line per package, so a slow install shows where it is.
  .venv/bin/python -m pip install -r requirements-dev.txt --progress-bar off \
    | { grep -E '^(Collecting|Successfully installed)' | sed 's/^/  pip: /' || true; }
  echo "$want" > "$stamp"
fi

if [ ! -x node_modules/.bin/azurite ]; then
  echo "bootstrap: [3/3] npm install (azurite)"
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; else npm install --no-audit --no-fund --loglevel=error; fi
fi
