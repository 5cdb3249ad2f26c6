"""Every area is mounted under its own prefix with its own namespace (see README "Where to find things")."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from config import api
from core.health import health, health_web
from ingestion import urls as ingestion_urls
from tracker import views as tracker_views

urlpatterns = [
    path("", tracker_views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("health/", health, name="health"),
    path("health/web/", health_web, name="health-web"),
    path("admin/", admin.site.urls),
    path("catalog/", include("tracker.catalog.urls")),
    path("runs/", include("tracker.runs.urls")),
    path("ingest/", include("ingestion.urls")),
    path("hooks/", include((ingestion_urls.hook_patterns, "hooks"))),
    path("studies/", include("analytics.studies.urls")),
    path("reports/", include("analytics.reports.urls")),
    # The typed API (django-ninja, namespace "api"): README "API".
    path("api/", api.urls()),
]
