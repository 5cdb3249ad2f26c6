"""Every area is mounted under its own prefix with its own namespace (see README "Where to find things")."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from analytics.trends import views as trend_views
from config import api
from core.health import health, health_web
from ingestion import urls as ingestion_urls
from tracker import views as tracker_views
from tracker.catalog import urls as catalog_urls

# The catalog namespace: tracker's pages plus the timeline, whose compute trend is fitted in analytics.
catalog_patterns = [
    *catalog_urls.urlpatterns,
    path("timeline/", trend_views.timeline, name="timeline"),
]

urlpatterns = [
    path("", tracker_views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("health/", health, name="health"),
    path("health/web/", health_web, name="health-web"),
    path("admin/", admin.site.urls),
    path("catalog/", include((catalog_patterns, catalog_urls.app_name))),
    path("runs/", include("tracker.runs.urls")),
    path("articles/", include("tracker.claims.urls")),
    path("ingest/", include("ingestion.urls")),
    path("hooks/", include((ingestion_urls.hook_patterns, "hooks"))),
    path("studies/", include("analytics.studies.urls")),
    path("reports/", include("analytics.reports.urls")),
    # The typed API (django-ninja, namespace "api"): README "API".
    path("api/", api.urls()),
]
