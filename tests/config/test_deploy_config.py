"""docker-compose cannot run here, so its wiring is checked by parsing it."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from django.conf import settings as django_settings

from config.celery import QUEUE_OF_TASK

ROOT = Path(__file__).resolve().parents[2]
WORKERS = ("worker-ingest", "worker-webhooks", "worker-fit", "worker-report", "worker-maintenance")


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


APP_SERVICES = ("web", *WORKERS, "beat")


def test_compose_has_a_worker_per_workload_all_from_one_image():
    services = compose()["services"]
    assert set(services) == {"postgres", "redis", "minio", "minio-init", *APP_SERVICES}
    app_services = [services[name] for name in APP_SERVICES]
    assert {s["image"] for s in app_services} == {"isoflop:latest"}
    assert all(s["build"] == "." for s in app_services)
    # Every queue the app routes to has a worker consuming it, and no worker consumes someone else's.
    consumed = set()
    for name in WORKERS:
        command = services[name]["command"]
        assert "celery -A config worker" in command
        consumed.add(re.search(r"-Q (\S+)", command).group(1))
    assert consumed == set(django_settings.ISOFLOP_QUEUES) == set(QUEUE_OF_TASK.values())
    assert "celery -A config beat" in services["beat"]["command"]
    assert "gunicorn config.wsgi:application" in services["web"]["command"]
    assert "migrate" in services["web"]["command"]


def test_compose_env_points_app_at_postgres_and_redis():
    services = compose()["services"]
    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://isoflop:")
        assert env["DATABASE_URL"].endswith("@postgres:5432/isoflop")
        assert env["CELERY_BROKER_URL"] == "redis://redis:6379/0"
        assert "DJANGO_SECRET_KEY" in env and ":?" in env["DJANGO_SECRET_KEY"]  # required, no default
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert services["postgres"]["environment"]["POSTGRES_DB"] == "isoflop"
    assert "healthcheck" in services["postgres"] and "healthcheck" in services["redis"]


def test_compose_keeps_files_in_the_object_store():
    services = compose()["services"]
    minio, init = services["minio"], services["minio-init"]
    assert minio["image"] == init["image"] and minio["image"].startswith("quay.io/minio/minio:RELEASE.")
    assert "mc ready local" in " ".join(minio["healthcheck"]["test"]) and "objects:/data" in minio["volumes"]
    assert init["depends_on"]["minio"]["condition"] == "service_healthy"
    assert (
        "mc mb --ignore-existing" in " ".join(init["command"]) and "$$ISOFLOP_S3_BUCKET" in init["command"][0]
    )
    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert (
            env["ISOFLOP_S3_BUCKET"]
            == init["environment"]["ISOFLOP_S3_BUCKET"]
            == "${ISOFLOP_S3_BUCKET:-isoflop}"
        )
        assert env["ISOFLOP_S3_ENDPOINT_URL"] == "${ISOFLOP_S3_ENDPOINT_URL:-http://minio:9000}"
        assert env["ISOFLOP_S3_ACCESS_KEY"] == init["environment"]["MINIO_ROOT_USER"]
        assert env["ISOFLOP_S3_SECRET_KEY"] == init["environment"]["MINIO_ROOT_PASSWORD"]
        assert services[name]["depends_on"]["minio-init"]["condition"] == "service_completed_successfully"


def test_dockerfile_and_ci_exist_and_ci_calls_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash scripts/test.sh" in readme and "bash scripts/test.sh" in ci
    assert "bash scripts/run.sh" in readme
    assert (ROOT / "Dockerfile").read_text().startswith("FROM python:3.12")


def test_check_deploy_passes_with_production_settings(tmp_path):
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "DJANGO_SECURE": "1",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "k8#v2!q" + "x7Lm9pQ2rT5wZ8bN1cF4hJ6kS3dG0aY" * 2,
        "DJANGO_ALLOWED_HOSTS": "isoflop.example.org",
        "ISOFLOP_VAR_DIR": str(tmp_path),
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_fails_with_the_dev_secret(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "DJANGO_SECURE": "1", "ISOFLOP_VAR_DIR": str(tmp_path)}
    env.pop("DJANGO_SECRET_KEY", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stdout + result.stderr


def test_compose_web_healthcheck_reaches_an_allowed_host():
    """The container checks itself at 127.0.0.1: that host must be allowed, or every check is a 400."""
    web = compose()["services"]["web"]
    url = re.search(r"https?://([^/:']+)(?::\d+)?(/[^']*)", " ".join(web["healthcheck"]["test"]))
    host, path = url.group(1), url.group(2)
    allowed_default = re.search(r":-([^}]*)\}", web["environment"]["DJANGO_ALLOWED_HOSTS"]).group(1)
    assert host in allowed_default.split(",")
    assert path == "/health/web/"
