"""API authentication: the session or the Bearer token that `ApiTokenMiddleware` already resolved, and the
token scope each operation needs (reads need `read`; writes the scope the operation names)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.utils import check_csrf

from config.api.errors import ApiError
from core.auth import SAFE_METHODS


class ApiAuth:
    """Callable auth for django-ninja. Returns the user, or None (401); raises ApiError 403 for a token
    without the scope, or a session write without a valid CSRF token."""

    def __init__(self, write_scope: str = "write") -> None:
        self.write_scope = write_scope

    def __call__(self, request: HttpRequest) -> Any:
        user = request.user
        if not user.is_authenticated:
            return None
        token = getattr(request, "api_token", None)
        method = request.method or "GET"
        scope = "read" if method in SAFE_METHODS else self.write_scope
        if token is not None:
            if not token.allows(scope):
                raise ApiError(
                    403, f"this API token lacks the {scope!r} scope (it has {token.scopes})", code="scope"
                )
        elif method not in SAFE_METHODS and check_csrf(request) is not None:
            raise ApiError(
                403, "CSRF check failed: send the csrftoken cookie's value in X-CSRFToken", code="csrf"
            )
        return user


READ = ApiAuth("read")
INGEST = ApiAuth("ingest")
REPORTS = ApiAuth("reports")
WRITE = ApiAuth("write")
