#!/usr/bin/env bash
# README command 2: set up and run the whole test suite against real PostgreSQL, Redis and a Celery worker.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh --dev
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium poppler-utils >/dev/null) \
    || echo "warning: could not install chromium; browser tests will be skipped" >&2
fi
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/isoflop}"
export CELERY_BROKER_URL="${CELERY_BROKER_URL:-redis://127.0.0.1:6379/15}"
export ISOFLOP_QUEUE_PREFIX="${ISOFLOP_QUEUE_PREFIX:-isoflop-test-$$-}"
export ISOFLOP_VAR_DIR="${ISOFLOP_VAR_DIR:-$(mktemp -d)}"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/lint-imports
.venv/bin/mypy
.venv/bin/python manage.py makemigrations --check --dry-run -v0
.venv/bin/python manage.py collectstatic --noinput -v0
.venv/bin/python -m pytest "$@"
