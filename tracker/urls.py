from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from tracker import views

# Each area has its own url module so that work on one never edits another's routes.
urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("health/", views.health, name="health"),
    path("admin/", admin.site.urls),
    path("api/me/", views.api_me, name="api-me"),
    path("", include("tracker.urls_runs")),
    path("", include("tracker.urls_catalog")),
    path("", include("ingestion.urls")),
    path("", include("analytics.urls")),
]
