"""The SDK's exceptions. Every error it raises is an `IsoflopError`."""

from __future__ import annotations

from typing import Any

# Statuses worth retrying: the request was not (fully) handled and may succeed later.
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class IsoflopError(Exception):
    """Base class of everything the SDK raises."""

    transient: bool = False
    retry_after: float | None = None


class ConfigError(IsoflopError):
    """No server URL or token could be found, or a setting is invalid."""


class SpoolError(IsoflopError):
    """A spool directory is missing, locked by another sync, or corrupt."""


class TransportError(IsoflopError):
    """The server could not be reached or dropped the connection (always transient)."""

    transient = True


class APIError(IsoflopError):
    """The server answered with an error status and the contract's error body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str = "",
        detail: Any = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{status} {code or 'error'}: {message}")
        self.status = status
        self.message = message
        self.code = code
        self.detail = detail
        self.retry_after = retry_after
        self.transient = status in TRANSIENT_STATUSES or status >= 500


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, IsoflopError) and exc.transient
