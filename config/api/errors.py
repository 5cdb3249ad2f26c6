"""One error body for every API error: `{"error": message, "code": short_code, "detail": any}`."""

from __future__ import annotations

from typing import Any

from ninja import Schema

from core.middleware import API_ERROR_CODES


class ErrorOut(Schema):
    error: str
    code: str
    detail: Any = None


class ApiError(Exception):
    """Raised by API operations; rendered as ErrorOut with this status."""

    def __init__(self, status: int, message: str, *, code: str = "", detail: Any = None) -> None:
        super().__init__(message)
        self.status, self.message, self.detail = status, message, detail
        self.code = code or API_ERROR_CODES.get(status, "error")


def error_body(status: int, message: str, code: str = "", detail: Any = None) -> dict[str, Any]:
    return {"error": message, "code": code or API_ERROR_CODES.get(status, "error"), "detail": detail}


# Every operation documents these, so clients (and schemathesis) know the error shape.
ERRORS: dict[int, type[ErrorOut]] = {s: ErrorOut for s in (400, 401, 403, 404, 422, 429)}
