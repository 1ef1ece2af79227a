#!/usr/bin/env bash
# Creates .venv with Python 3.10 and installs requirements.lock into it.
# Idempotent and fast when nothing changed: the lock's hash is stamped into the venv.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
STAMP="$VENV/.requirements.sha256"

find_python() {
  if [ -n "${PYTHON:-}" ]; then echo "$PYTHON"; return; fi
  for cand in python3.10 \
      "$(command -v pyenv >/dev/null 2>&1 && pyenv root 2>/dev/null)/versions/"3.10*/bin/python \
      "$HOME/.pyenv/versions/"3.10*/bin/python /root/.pyenv/versions/3.10*/bin/python \
      /usr/local/bin/python3.10 /usr/bin/python3.10; do
    [ -n "$cand" ] || continue
    if [ -x "$cand" ] || command -v "$cand" >/dev/null 2>&1; then
      if "$cand" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 10) else 1)' 2>/dev/null; then
        echo "$cand"; return
      fi
    fi
  done
  return 1
}

if [ -x "$VENV/bin/python" ] && ! "$VENV/bin/python" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 10) else 1)'; then
  echo "setup: $VENV is not Python 3.10; recreating it" >&2
  rm -rf "$VENV"
fi

if [ ! -x "$VENV/bin/python" ]; then
  if ! PY=$(find_python); then
    cat >&2 <<'MSG'
setup: Rasa 3.6 needs Python 3.10 and none was found.
       Looked at $PYTHON, python3.10 on PATH and pyenv's versions folder.
       Install one (e.g. `pyenv install 3.10.13`) or run `make PYTHON=/path/to/python3.10 ...`.
MSG
    exit 1
  fi
  echo "setup: creating $VENV with $PY"
  "$PY" -m venv "$VENV"
fi

want=$(sha256sum requirements.lock | cut -d' ' -f1)
have=$(cat "$STAMP" 2>/dev/null || true)
if [ "$want" != "$have" ]; then
  echo "setup: installing requirements.lock (about 2-3 minutes the first time)"
  "$VENV/bin/python" -m pip install --quiet --upgrade "pip<24.1" wheel
  "$VENV/bin/python" -m pip install --quiet -r requirements.lock
  "$VENV/bin/python" -m pip check
  echo "$want" > "$STAMP"
fi

# The console's browser tests drive Debian's Chromium; Playwright never downloads a browser.
if [ -z "${CHROMIUM_PATH:-}" ] && [ ! -x /usr/bin/chromium ]; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo -n"
  if command -v apt-get >/dev/null 2>&1 && { [ -z "$SUDO" ] || $SUDO true 2>/dev/null; }; then
    echo "setup: installing Debian's chromium for the console's browser tests"
    $SUDO apt-get install -y -q chromium >/dev/null 2>&1 \
      || { $SUDO apt-get update -q >/dev/null 2>&1 && $SUDO apt-get install -y -q chromium >/dev/null 2>&1; } \
      || echo "setup: could not install chromium; the console's browser tests will be skipped" >&2
  else
    echo "setup: /usr/bin/chromium is missing (apt-get install chromium); the console's browser tests will be skipped" >&2
  fi
fi
