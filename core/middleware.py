"""Request hygiene shared by every view."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse


class RejectNulMiddleware:
    """A NUL character in a query-string or form value is refused with 400: PostgreSQL cannot store or
    compare text holding NUL, so letting one through only turns a bad request into a server error."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path or _has_nul(request):
            return JsonResponse({"error": "NUL characters are not allowed in URLs or forms"}, status=400)
        return self.get_response(request)


def _has_nul(request: HttpRequest) -> bool:
    if request.content_type == "application/json" and request.method in ("POST", "PUT", "PATCH"):
        # JSON may spell NUL as an escape; PostgreSQL can store neither.
        try:
            body = request.body
        except RequestDataTooBig:  # the view answers 413 when it reads the body
            return False
        if b"\x00" in body or b"\\u0000" in body:
            return True
    for params in (request.GET, request.POST if request.method == "POST" and _is_form(request) else None):
        if params is None:
            continue
        for key, values in params.lists():
            if "\x00" in key or any("\x00" in v for v in values):
                return True
    return False


def _is_form(request: HttpRequest) -> bool:
    # Reading request.POST of a multipart upload would parse it before the upload handlers are set up.
    return request.content_type == "application/x-www-form-urlencoded"


API_PREFIX = "/api/"
# The `code` of the API's error body for each status (`config.api.errors` answers with the same ones).
API_ERROR_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "invalid",
    429: "throttled",
    500: "server_error",
    503: "unavailable",
}


class ApiErrorShapeMiddleware:
    """Every error under /api/ has one body: `{"error": message, "code": short_code, "detail": ...}`.

    The typed API answers so itself; this also covers what Django answers around it (unknown paths, 405,
    a body too large, a 500) and the older JSON views, whose `{"error": ...}` gains `code` and `detail`.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code < 400 or not request.path.startswith(API_PREFIX):
            return response
        if getattr(response, "streaming", False):
            return response
        code = API_ERROR_CODES.get(response.status_code, "error")
        body: Any = None
        if response.get("Content-Type", "").startswith("application/json"):
            try:
                body = json.loads(response.content)
            except ValueError:
                body = None
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            if "code" in body and "detail" in body:
                return response
            shaped = {"error": body["error"], "code": body.get("code") or code, "detail": body.get("detail")}
        else:
            shaped = {"error": response.reason_phrase or "error", "code": code, "detail": None}
        new = JsonResponse(shaped, status=response.status_code)
        for header in ("Allow", "Retry-After", "WWW-Authenticate"):
            if response.has_header(header):
                new[header] = response[header]
        return new
