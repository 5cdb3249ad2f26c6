"""The `tracker` app's models live in its subpackages; Django and migrations find them here."""

from tracker.accounts.models import ApiToken, Integration, Membership, Team, TokenScope, WebhookSecret
from tracker.catalog.models import (
    Fact,
    Hardware,
    HardwarePrice,
    Model,
    ModelAlias,
    ModelMerge,
    ModelPaperLink,
    Organization,
    Paper,
    SourceDocument,
    Tag,
)
from tracker.claims.models import Article, Claim
from tracker.runs.models import (
    FinalLossSource,
    MetricChunk,
    MetricRollupBlock,
    MetricSeries,
    Precision,
    RunTag,
    TrainingRun,
)

__all__ = [
    "ApiToken",
    "Article",
    "Claim",
    "Fact",
    "FinalLossSource",
    "Hardware",
    "HardwarePrice",
    "Integration",
    "Membership",
    "MetricChunk",
    "MetricRollupBlock",
    "MetricSeries",
    "Model",
    "ModelAlias",
    "ModelMerge",
    "ModelPaperLink",
    "Organization",
    "Paper",
    "Precision",
    "RunTag",
    "SourceDocument",
    "Tag",
    "Team",
    "TokenScope",
    "TrainingRun",
    "WebhookSecret",
]
