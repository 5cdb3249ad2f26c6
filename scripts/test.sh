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
# Whole suite: two shards run side by side (each with its own database, broker database, queue prefix and
# var dir, so their Celery workers never take each other's tasks); given test files or folders: one pytest.
for arg in "$@"; do
  if [ -e "${arg%%::*}" ]; then exec .venv/bin/python -m pytest "$@"; fi
done
shard() {  # shard NAME REDIS_DB PATHS...
  local name=$1 db=$2; shift 2
  DATABASE_URL="${DATABASE_URL%/*}/$(basename "${DATABASE_URL##*/}")_$name" \
  CELERY_BROKER_URL="${CELERY_BROKER_URL%/*}/$db" \
  ISOFLOP_QUEUE_PREFIX="${ISOFLOP_QUEUE_PREFIX}$name-" \
  ISOFLOP_VAR_DIR="$ISOFLOP_VAR_DIR/$name" \
    .venv/bin/python -m pytest "${pytest_args[@]}" "$@"
}
pytest_args=("$@")
# Every test folder belongs to a shard: a new one must be added above or its tests would never run.
for dir in tests/*/; do
  case "${dir%/}" in
    tests/analytics|tests/ingestion|tests/tracker|tests/e2e|tests/hardening|tests/config|tests/core|tests/corpus) ;;
    *) if compgen -G "${dir}**/test_*.py" >/dev/null || compgen -G "${dir}test_*.py" >/dev/null; then
         echo "scripts/test.sh: ${dir%/} is in no shard" >&2; exit 2
       fi ;;
  esac
done
mkdir -p "$ISOFLOP_VAR_DIR/a" "$ISOFLOP_VAR_DIR/b"
log_dir=$(mktemp -d)
shard a 14 tests/analytics tests/ingestion tests/tracker clients/python/tests tests/test_admin.py \
  tests/test_architecture.py >"$log_dir/a.log" 2>&1 &
pid_a=$!
shard b 13 tests/e2e tests/hardening tests/config tests/core tests/corpus >"$log_dir/b.log" 2>&1 &
pid_b=$!
rc_a=0; rc_b=0
wait "$pid_a" || rc_a=$?
wait "$pid_b" || rc_b=$?
echo "=== shard a (analytics, ingestion, tracker, SDK): exit $rc_a"; cat "$log_dir/a.log"
echo "=== shard b (e2e, hardening, config, core, corpus): exit $rc_b"; cat "$log_dir/b.log"
[ "$rc_a" = 0 ] && [ "$rc_b" = 0 ]
