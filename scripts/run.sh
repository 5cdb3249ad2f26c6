#!/usr/bin/env bash
# README command 1: set up and run Isoflop on the embedded default (SQLite + Celery filesystem broker).
# Starts the web server and a real Celery worker (with beat); Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  # PDF reports are printed by Debian's chromium; everything else works without it.
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "warning: chromium not installed; PDF reports will fail until it is" >&2
fi
export DJANGO_SETTINGS_MODULE=config.settings
PORT="${PORT:-8000}"
.venv/bin/python manage.py migrate --noinput -v0
.venv/bin/python manage.py collectstatic --noinput -v0
.venv/bin/python manage.py load_demo
mkdir -p var
.venv/bin/celery -A config worker --beat --loglevel=INFO --concurrency=2 \
  --schedule=var/celerybeat-schedule >var/worker.log 2>&1 &
worker_pid=$!
trap 'kill $worker_pid 2>/dev/null; wait $worker_pid 2>/dev/null' EXIT INT TERM
echo
echo "Isoflop is running at http://127.0.0.1:${PORT}/  (log in as admin / isoflop-admin)"
echo "Celery worker log: var/worker.log"
.venv/bin/python manage.py runserver "127.0.0.1:${PORT}" --noreload
