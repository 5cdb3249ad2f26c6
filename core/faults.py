"""Test-only fault hooks, inert unless their ISOFLOP_TEST_* variable is set (tests set them on workers).

Kept in one clearly named module so that production services carry no test switches of their own.
"""

from __future__ import annotations

import os
import time

from django.db import OperationalError


def ingest_delay() -> None:
    """ISOFLOP_TEST_INGEST_DELAY=<seconds>: make a file's store slow (to kill its worker mid-write)."""
    delay = float(os.environ.get("ISOFLOP_TEST_INGEST_DELAY", "0") or 0)
    if delay > 0:
        time.sleep(delay)


def transient_fault(delivery_id: str) -> None:
    """ISOFLOP_TEST_TRANSIENT_FAULT=<prefix>: deliveries with that id prefix fail transiently every time."""
    prefix = os.environ.get("ISOFLOP_TEST_TRANSIENT_FAULT", "")
    if prefix and delivery_id.startswith(prefix):
        raise OperationalError(f"simulated transient fault for delivery {delivery_id}")
