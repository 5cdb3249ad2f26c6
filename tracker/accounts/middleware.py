"""Authentication by API token (on /api/ only, within the token's scopes), and login required elsewhere."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.utils import timezone

from core.auth import required_token_scope
from tracker.accounts.models import ApiToken
from tracker.accounts.services import api_token_touch

API_PREFIX = "/api/"


class ApiTokenMiddleware:
    """`Authorization: Bearer isf_...` authenticates API requests as the token's user (no CSRF).

    Tokens never authenticate pages or the admin (a stolen token must not create users or read webhook
    secrets): a Bearer header anywhere but /api/ is refused. An API view states the scope it needs
    (`core.auth.token_scope`); without one, tokens may only read (GET/HEAD).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if header.startswith("Bearer "):
            if not request.path.startswith(API_PREFIX):
                return JsonResponse(
                    {
                        "error": "API tokens work on /api/ only; log in to use pages and the admin",
                        "code": "forbidden",
                        "detail": None,
                    },
                    status=403,
                )
            key = header.removeprefix("Bearer ").strip()
            now = timezone.now()
            token = (
                ApiToken.objects.select_related("user")
                .filter(key_hash=ApiToken.hash_key(key), revoked_at__isnull=True)
                .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
                .first()
            )
            if token is None or not token.user.is_active:
                return JsonResponse(
                    {
                        "error": "invalid, expired or revoked API token",
                        "code": "unauthenticated",
                        "detail": None,
                    },
                    status=401,
                )
            api_token_touch(token=token)
            request.user = token.user
            request._dont_enforce_csrf_checks = True  # type: ignore[attr-defined]
            request.api_token = token  # type: ignore[attr-defined]
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        token: ApiToken | None = getattr(request, "api_token", None)
        if token is None or getattr(view_func, "api_checks_scopes", False):
            # The typed API (config.api) checks each operation's scope itself.
            return None
        scope = required_token_scope(view_func, request.method or "GET")
        if scope is None:
            return JsonResponse({"error": "this endpoint does not accept API tokens"}, status=403)
        if not token.allows(scope):
            return JsonResponse(
                {"error": f"this API token lacks the {scope!r} scope (it has {token.scopes})"}, status=403
            )
        return None


class IsoflopLoginRequiredMiddleware(LoginRequiredMiddleware):
    """Pages redirect to the login form; API paths answer 401 JSON instead of a redirect."""

    def handle_no_permission(  # type: ignore[override]  # a JSON 401 is not a redirect
        self, request: HttpRequest, view_func: Callable[..., HttpResponseBase]
    ) -> HttpResponseBase:
        if request.path.startswith(API_PREFIX):
            return JsonResponse(
                {
                    "error": "authentication required (session or Bearer token)",
                    "code": "unauthenticated",
                    "detail": None,
                },
                status=401,
            )
        return super().handle_no_permission(request, view_func)
