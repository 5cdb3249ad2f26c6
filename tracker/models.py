"""The `tracker` app's models live in its subpackages; Django and migrations find them here."""

from tracker.accounts.models import ApiToken, Integration, Membership, Team, TokenScope, WebhookSecret
from tracker.catalog.models import (
    Fact,
    Hardware,
    HardwarePrice,
    Model,
    Organization,
    Paper,
    SourceDocument,
    Tag,
)
from tracker.runs.models import MetricChunk, MetricRollupBlock, MetricSeries, Precision, TrainingRun

__all__ = [
    "ApiToken",
    "Fact",
    "Hardware",
    "HardwarePrice",
    "Integration",
    "Membership",
    "MetricChunk",
    "MetricRollupBlock",
    "MetricSeries",
    "Model",
    "Organization",
    "Paper",
    "Precision",
    "SourceDocument",
    "Tag",
    "Team",
    "TokenScope",
    "TrainingRun",
    "WebhookSecret",
]
