"""Log in through the real form in a real browser and see the dashboard with demo data."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import login, screenshot


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_login_and_dashboard(page, make_user):
    from tracker.demo import load_demo

    load_demo()
    make_user("viewer", username="erin")
    page.goto("/")
    assert "/login/" in page.url  # anonymous users are sent to the form
    login(page, "erin")
    assert page.locator("h1").first.inner_text() == "Dashboard"
    shot = screenshot(page, "dashboard")
    assert shot.stat().st_size > 5_000
