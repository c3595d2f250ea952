#!/usr/bin/env bash
# Installs what the Makefile's targets need on a fresh Debian/Ubuntu machine.
#
#   scripts/bootstrap.sh runtime   `make demo` / `make start`: the ODBC driver manager + SQLite
#                                  ODBC driver (apt), .venv with requirements-devhost.txt (the
#                                  app + devhost), Azurite (npm)
#   scripts/bootstrap.sh dev       `make test` and the rest: the above + requirements-dev.txt
#                                  (pytest, mypy, ruff, playwright...), shellcheck and chromium
#
# Idempotent: a step is skipped when already satisfied. Each step prints one line when it
# starts and one with its elapsed seconds when it ends; the installers' own lines are passed
# through as they arrive, and a quiet installer gets a "still working" line every 3 s.
set -euo pipefail
cd "$(dirname "$0")/.."

want_set=${1:-dev}
case "$want_set" in
  runtime | dev) ;;
  *) echo "usage: $0 [runtime|dev]" >&2; exit 2 ;;
esac

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1
step_started=$SECONDS
step_name=""
ALWAYS='^ *(npm (error|ERR!)|ERROR|E:|added |Successfully)'

begin() {
  step_name=$1
  step_started=$SECONDS
  echo "bootstrap: $step_name"
}

end() {
  echo "bootstrap: $step_name: done in $((SECONDS - step_started)) s"
}

# relay LABEL PATTERN [EVERY]: copy the lines of stdin that match PATTERN, as they arrive,
# prefixed with the step's elapsed seconds and cut to 110 characters. With EVERY (seconds),
# print at most one matching line per EVERY seconds, with the count so far (npm's per-request
# lines). When nothing was printed for 3 s (EPOCHREALTIME, microseconds), say the step is still
# working, so output never stops for more than a few seconds even on a loaded machine.
QUIET_US=3000000
relay() {
  local label=$1 pattern=$2 every=${3:-0} buf="" part line status count=0 shown=-1 now last
  last=${EPOCHREALTIME/./}
  while :; do
    part=""
    if IFS= read -r -t 0.5 part; then status=0; else status=$?; fi
    now=${EPOCHREALTIME/./}
    if [ "$status" -gt 128 ]; then # timed out: keep a partial line for the next read
      buf+=$part
    else
      line=$buf$part
      buf=""
      if [ "$status" -ne 0 ] && [ -z "$line" ]; then break; fi
      if [[ $line =~ $pattern ]]; then
        count=$((count + 1))
        if [ "$every" = 0 ] || ((SECONDS - shown >= every)) || [[ $line =~ $ALWAYS ]]; then
          [ "$every" = 0 ] || line="[$count] $line"
          ((${#line} <= 110)) || line="${line:0:109}…"
          printf '  %-4s %4ds  %s\n' "$label" $((SECONDS - step_started)) "$line"
          last=$now
          shown=$SECONDS
        fi
      fi
      if [ "$status" -ne 0 ]; then break; fi
    fi
    if ((now - last >= QUIET_US)); then
      printf '  %-4s %4ds  ... still working\n' "$label" $((SECONDS - step_started))
      last=$now
    fi
  done
  if [ "$every" != 0 ]; then
    printf '  %-4s %4ds  %d lines in all\n' "$label" $((SECONDS - step_started)) "$count"
  fi
}

# --- apt: system libraries and tools -------------------------------------------------------
need_apt=()
[ -e /usr/lib/x86_64-linux-gnu/libodbc.so.2 ] || [ -e /usr/lib/aarch64-linux-gnu/libodbc.so.2 ] || need_apt+=(unixodbc)
ls /usr/lib/*-linux-gnu/odbc/libsqlite3odbc.so >/dev/null 2>&1 || need_apt+=(libsqliteodbc)
command -v npm >/dev/null 2>&1 || need_apt+=(nodejs npm)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3 python3-venv)
if [ "$want_set" = dev ]; then
  command -v shellcheck >/dev/null 2>&1 || need_apt+=(shellcheck) # make lint: the shell scripts
  [ -x /usr/bin/chromium ] || need_apt+=(chromium)                 # the monitor's browser tests
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  begin "[1/3] apt-get install ${need_apt[*]} (a few minutes on a fresh machine)"
  $SUDO apt-get update 2>&1 | relay apt '^(Get:|Hit:|E:|W:)' 2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -o Dpkg::Progress-Fancy=0 \
    "${need_apt[@]}" 2>&1 | relay apt '^(Get:|Unpacking|Setting up|E:)'
  end
fi

# --- pip: .venv ------------------------------------------------------------------------------
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  begin "creating .venv ($("$PY" --version 2>&1))"
  "$PY" -m venv .venv 2>&1 | relay venv '.'
  end
fi
runtime_files=(requirements.txt requirements-devhost.txt)
dev_files=("${runtime_files[@]}" requirements-dev.txt)
runtime_sha=$(cat "${runtime_files[@]}" | sha256sum | cut -d' ' -f1)
dev_sha=$(cat "${dev_files[@]}" | sha256sum | cut -d' ' -f1)
have_runtime=$(cat .venv/.requirements-runtime.sha 2>/dev/null || true)
have_dev=$(cat .venv/.requirements-dev.sha 2>/dev/null || true)
if [ "$want_set" = dev ]; then
  file=requirements-dev.txt
  satisfied=$([ "$have_dev" = "$dev_sha" ] && echo yes || echo no)
else
  file=requirements-devhost.txt
  satisfied=$([ "$have_dev" = "$dev_sha" ] || [ "$have_runtime" = "$runtime_sha" ] && echo yes || echo no)
fi
if [ "$satisfied" != yes ]; then
  begin "[2/3] pip install -r $file"
  .venv/bin/python -m pip install -r "$file" --progress-bar off 2>&1 \
    | relay pip '^ *(Collecting|Installing collected|Successfully installed|ERROR|error)'
  echo "$runtime_sha" > .venv/.requirements-runtime.sha
  if [ "$want_set" = dev ]; then echo "$dev_sha" > .venv/.requirements-dev.sha; fi
  end
fi

# --- npm: Azurite ----------------------------------------------------------------------------
if [ ! -x node_modules/.bin/azurite ]; then
  begin "[3/3] npm ci (azurite, ~360 MB)"
  npm ci --no-audit --no-fund --loglevel=http 2>&1 \
    | relay npm '^npm (http fetch|error|ERR)|^added ' 2
  end
fi
# Azurite's look-up fixes (devhost/azurite_patches.py): every run, a no-op once applied; another
# Azurite version stops here in one line rather than running unpatched without a word.
.venv/bin/python -m devhost.azurite_patches
