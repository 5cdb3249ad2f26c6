"""Liveness for people and load balancers (no login needed).

`/health/` checks the database, the broker and the workers: 503 when any of them is down, including when no
worker has been seen for ISOFLOP_WORKER_STALE_SECONDS (queued work would wait forever). `/health/web/` only
checks that this web process can reach the database, for container health checks.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from core.liveness import START_COMMAND, broker_ok, worker_status


def _database() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"ok": True}


@login_not_required
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    database = _database()
    ok, error = broker_ok()
    broker: dict[str, Any] = {"ok": ok, **({"error": error} if error else {})}
    workers: dict[str, Any] = {"ok": False, "alive": 0, "last_seen": None}
    if database["ok"]:
        status = worker_status()
        workers = {
            "ok": status.ok,
            "alive": status.alive,
            "last_seen": status.last_seen.isoformat() if status.last_seen else None,
            "stale_after_seconds": settings.ISOFLOP_WORKER_STALE_SECONDS,
        }
        if not status.ok:
            workers["hint"] = f"no worker is running; start one with `{START_COMMAND}`"
    healthy = database["ok"] and broker["ok"] and workers["ok"]
    body = {
        "status": "ok" if healthy else "unavailable",
        "database": database,
        "broker": broker,
        "workers": workers,
    }
    return JsonResponse(body, status=200 if healthy else 503)


@login_not_required
@require_GET
def health_web(request: HttpRequest) -> JsonResponse:
    database = _database()
    return JsonResponse(
        {"status": "ok" if database["ok"] else "unavailable", "database": database},
        status=200 if database["ok"] else 503,
    )
