#!/usr/bin/env bash
# README command 1: set up and run Isoflop on the embedded default: PostgreSQL from a wheel (data in var/),
# Celery's filesystem broker in var/broker, the web server and two Celery workers (one with beat), demo data
# loaded. One process group: Ctrl-C (or SIGTERM) stops everything. PORT=8001 to use another port.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  # PDF reports are printed by Debian's chromium; everything else works without it.
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "warning: chromium not installed; PDF reports will fail until it is" >&2
fi
exec .venv/bin/python -m core.stack run "$@"
