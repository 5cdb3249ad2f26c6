"""Django admin lists every catalog, ingestion and analytics model, and only staff may enter it."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib import admin
from django.test import Client

# Metric chunks are compressed blobs with a composite primary key, which the admin cannot edit; their series
# are in the admin instead. Rollups are derived data. Webhook secrets are edited inline under their Integration.
NOT_IN_ADMIN = {"tracker.metricchunk", "tracker.metricrollupblock", "tracker.webhooksecret"}


def test_every_model_of_the_three_apps_is_registered():
    missing = [
        model._meta.label_lower
        for app in ("tracker", "ingestion", "analytics")
        for model in apps.get_app_config(app).get_models()
        if not admin.site.is_registered(model) and model._meta.label_lower not in NOT_IN_ADMIN
    ]
    assert missing == []


@pytest.mark.django_db
def test_admin_changelists_render_for_staff_and_refuse_others(admin_client, make_user):
    for app in ("tracker", "ingestion", "analytics"):
        for model in apps.get_app_config(app).get_models():
            if admin.site.is_registered(model):
                url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
                assert admin_client.get(url).status_code == 200, url
    viewer = Client()
    viewer.force_login(make_user("viewer"))
    assert viewer.get("/admin/tracker/trainingrun/").status_code == 302  # to the admin login
