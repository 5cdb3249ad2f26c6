"""The typed API under /api/ (django-ninja): OpenAPI schema at /api/openapi.json, Bearer tokens with scopes
(or the session), cursor pagination, and one error body for every error (`config.api.errors.ErrorOut`).

Operations are thin: they call the apps' selectors (reads) and services (writes)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, Throttled, ValidationError
from ninja.throttling import AuthRateThrottle

from config.api import catalog, claims, ingest, me, reports, runs, studies
from config.api.auth import WRITE
from config.api.errors import ApiError, error_body

api = NinjaAPI(
    title="Isoflop API",
    version="1",
    description=__doc__ or "",
    urls_namespace="api",
    openapi_url="/openapi.json",
    docs_url=None,
    auth=WRITE,
    throttle=[AuthRateThrottle(settings.ISOFLOP_API_RATE)],
)
for module in (me, runs, catalog, claims, studies, ingest, reports):
    api.add_router("", module.router)


def _error(
    request: HttpRequest, status: int, message: str, code: str = "", detail: Any = None
) -> HttpResponse:
    return api.create_response(request, error_body(status, message, code, detail), status=status)


@api.exception_handler(ApiError)
def _api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
    return _error(request, exc.status, exc.message, exc.code, exc.detail)


@api.exception_handler(ValidationError)
def _validation(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = exc.errors
    first = errors[0] if errors else {}
    where = ".".join(str(p) for p in first.get("loc", ()))
    message = f"{where}: {first.get('msg', 'invalid')}" if where else str(first.get("msg", "invalid"))
    detail = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in errors]
    return _error(request, 422, message, "invalid", detail)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _error(request, 401, "authentication required (session or Bearer token)")


@api.exception_handler(Throttled)
def _throttled(request: HttpRequest, exc: Throttled) -> HttpResponse:
    response = _error(request, 429, "too many requests; retry later")
    if exc.wait:
        response["Retry-After"] = str(max(1, int(exc.wait + 0.999)))
    return response


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return _error(request, exc.status_code, str(exc.message))


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _error(request, 404, str(exc) or "not found")


@api.exception_handler(PermissionDenied)
def _forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return _error(request, 403, str(exc) or "forbidden")


@api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return _error(request, 413, "the request body is too large")


def urls() -> tuple[list[Any], str, str]:
    """The API's URL patterns, each marked so ApiTokenMiddleware leaves scope checks to the operation."""
    patterns, app_name, namespace = api.urls
    for pattern in patterns:
        view: Any = pattern.callback
        view.api_checks_scopes = True
        if getattr(pattern, "name", "") == "openapi-json":
            # The schema is public (clients generate code from it); every operation needs a login.
            view.login_required = False
    return patterns, app_name, namespace
