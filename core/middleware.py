"""Request hygiene shared by every view."""

from __future__ import annotations

from collections.abc import Callable

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
