#!/usr/bin/env bash
# Creates .venv with a Python >= 3.12 and installs the project (plus dev tools with --dev). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
want_dev=0
[ "${1:-}" = "--dev" ] && want_dev=1

find_python() {
  for cand in python3.12 python3.13 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then
      command -v "$cand"; return 0
    fi
  done
  for cand in /root/.pyenv/versions/3.12*/bin/python3 /root/.pyenv/versions/3.13*/bin/python3 /usr/bin/python3.12 /usr/bin/python3.13; do
    if [ -x "$cand" ]; then echo "$cand"; return 0; fi
  done
  echo "no Python >= 3.12 found (Django 6 needs it); install python3.12" >&2
  return 1
}

if [ ! -x .venv/bin/python ]; then
  py=$(find_python)
  "$py" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
stamp=".venv/.installed-$( (cat pyproject.toml clients/python/pyproject.toml; echo "dev=$want_dev") | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  if [ "$want_dev" = 1 ]; then
    .venv/bin/python -m pip install -q -e ".[dev]"
    # The SDK and CLI (clients/python): its tests are in the suite, and the e2e tests log through it.
    .venv/bin/python -m pip install -q -e clients/python
  else
    .venv/bin/python -m pip install -q -e .
  fi
  rm -f .venv/.installed-*
  touch "$stamp"
fi
