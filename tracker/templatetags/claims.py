"""`{% model_claims model %}`: the claims section of a model page, without the catalog importing claims."""

from __future__ import annotations

from typing import Any

from django import template

from tracker.claims import selectors
from tracker.claims.models import Claim

register = template.Library()


@register.inclusion_tag("tracker/partials/model_claims.html", takes_context=True)
def model_claims(context: Any, model: Any) -> dict[str, Any]:
    user = context["request"].user
    return {
        "model": model,
        "claims": list(selectors.claims_for_model(user=user, model=model)[:100]),
        "counts": selectors.claim_status_counts(user=user, model=model),
    }


@register.filter
def status_label(status: str) -> str:
    """'unknown_subject' -> 'unknown subject'."""
    return str(dict(Claim.Status.choices).get(status, status))
