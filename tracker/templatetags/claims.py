"""`{% model_claims model %}`: the claims section of a model page, without the catalog importing claims."""

from __future__ import annotations

from typing import Any

from django import template

from tracker.claims import selectors
from tracker.claims.models import Claim

register = template.Library()
MAX_SHOWN = 500


@register.inclusion_tag("tracker/partials/model_claims.html", takes_context=True)
def model_claims(context: Any, model: Any) -> dict[str, Any]:
    # One query: the counts come from the same rows (a model with more claims than this shows the first).
    claims = list(selectors.claims_for_model(user=context["request"].user, model=model)[:MAX_SHOWN])
    counts = dict.fromkeys(selectors.STATUSES, 0)
    for claim in claims:
        counts[claim.status] += 1
    return {"model": model, "claims": claims, "counts": counts}


@register.filter
def status_label(status: str) -> str:
    """'unknown_subject' -> 'unknown subject'."""
    return str(dict(Claim.Status.choices).get(status, status))


@register.filter
def claimed(claim: Claim) -> str:
    return selectors.claim_display(claim)
