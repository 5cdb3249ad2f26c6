"""Isoflop SDK: log training runs to an Isoflop server (or an offline spool), upload files, fetch results."""

from __future__ import annotations

__version__ = "0.1.0"

from .client import Client
from .errors import APIError, ConfigError, IsoflopError, SpoolError, TransportError
from .run import Options, Run, init
from .spool import SyncResult, sync
from .upload import upload

__all__ = [
    "APIError",
    "Client",
    "ConfigError",
    "IsoflopError",
    "Options",
    "Run",
    "SpoolError",
    "SyncResult",
    "TransportError",
    "__version__",
    "init",
    "sync",
    "upload",
]
