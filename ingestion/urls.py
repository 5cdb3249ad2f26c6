from django.urls import path

from ingestion import views

app_name = "ingestion"
urlpatterns = [
    path("upload/", views.upload, name="upload"),
    path("paste/", views.paste, name="paste"),
    path("jobs/", views.job_list, name="job-list"),
    path("jobs/<int:job_id>/", views.job_detail, name="job-detail"),
]

# Mounted at /hooks/ (namespace "hooks") and /api/ (namespace "api") by config.urls.
hook_patterns = [path("<slug:integration_slug>/", views.webhook, name="receive")]
api_patterns = [
    path("ingest/", views.api_upload, name="ingest"),
    path("ingest/jobs/<int:job_id>/", views.api_job, name="ingest-job"),
]
