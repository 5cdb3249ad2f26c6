from django.urls import path

from ingestion import views

app_name = "ingestion"
urlpatterns = [
    path("upload/", views.upload, name="upload"),
    path("paste/", views.paste, name="paste"),
    path("jobs/", views.job_list, name="job-list"),
    path("jobs/<int:job_id>/", views.job_detail, name="job-detail"),
]

# Mounted at /hooks/ (namespace "hooks") by config.urls; the API's ingest operations are in config.api.ingest.
hook_patterns = [path("<slug:integration_slug>/", views.webhook, name="receive")]
