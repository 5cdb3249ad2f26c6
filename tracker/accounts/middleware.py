"""Authentication by API token, and login required everywhere else."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase

from tracker.accounts.models import ApiToken
from tracker.accounts.services import api_token_touch


class ApiTokenMiddleware:
    """`Authorization: Bearer isf_...` authenticates API requests as the token's user (no CSRF)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if header.startswith("Bearer "):
            key = header.removeprefix("Bearer ").strip()
            token = (
                ApiToken.objects.select_related("user")
                .filter(key_hash=ApiToken.hash_key(key), revoked_at__isnull=True)
                .first()
            )
            if token is None or not token.user.is_active:
                return JsonResponse({"error": "invalid or revoked API token"}, status=401)
            api_token_touch(token=token)
            request.user = token.user
            request._dont_enforce_csrf_checks = True  # type: ignore[attr-defined]
            request.api_token = token  # type: ignore[attr-defined]
        return self.get_response(request)


class IsoflopLoginRequiredMiddleware(LoginRequiredMiddleware):
    """Pages redirect to the login form; API paths answer 401 JSON instead of a redirect."""

    def handle_no_permission(  # type: ignore[override]  # a JSON 401 is not a redirect
        self, request: HttpRequest, view_func: Callable[..., HttpResponseBase]
    ) -> HttpResponseBase:
        if request.path.startswith("/api/"):
            return JsonResponse({"error": "authentication required (session or Bearer token)"}, status=401)
        return super().handle_no_permission(request, view_func)
