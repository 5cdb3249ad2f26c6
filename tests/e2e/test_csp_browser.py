"""Under the strict CSP the pages still work in a real browser: plots draw, no policy violation is reported."""

from __future__ import annotations

import pytest

from analytics.studies import services as study_services
from tests.e2e.conftest import login, screenshot, wait_js
from tracker.demo import load_demo
from tracker.models import Team


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_pages_with_plots_draw_without_csp_violations(page, make_user):
    load_demo()
    team = Team.objects.get(slug="demo-lab")
    study = study_services.study_create(
        team=team, name="csp", kind="power_law", run_filter={"external_id__startswith": "datablations:"}
    )
    study_services.study_refit(study_id=study.pk)
    make_user("admin", team=team, username="csp-admin")
    violations: list[str] = []
    page.on(
        "console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None
    )
    login(page, "csp-admin")
    for path, plots in (
        ("/catalog/timeline/", 2),
        ("/catalog/costs/", 1),
        (f"/studies/{study.pk}/", 2),
        ("/admin/", 0),
    ):
        page.goto(path)
        if plots:
            wait_js(
                page,
                f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {plots}",
                timeout=30_000,
            )
        screenshot(page, "csp" + path.replace("/", "-").rstrip("-"))
    assert violations == []
