"""The `tracker` app's models live in its subpackages; Django and migrations find them here."""

from tracker.accounts.models import ApiToken, Integration, Membership, Team, WebhookSecret
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
from tracker.runs.models import (
    FinalLossSource,
    MetricPoint,
    MetricSeries,
    MetricSeriesRollup,
    Precision,
    RunTag,
    TrainingRun,
)

__all__ = [
    "ApiToken",
    "Fact",
    "FinalLossSource",
    "Hardware",
    "HardwarePrice",
    "Integration",
    "Membership",
    "MetricPoint",
    "MetricSeries",
    "MetricSeriesRollup",
    "Model",
    "Organization",
    "Paper",
    "Precision",
    "RunTag",
    "SourceDocument",
    "Tag",
    "Team",
    "TrainingRun",
    "WebhookSecret",
]
