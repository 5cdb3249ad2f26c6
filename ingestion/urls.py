from django.urls import path

from ingestion import views

urlpatterns = [
    path("ingest/upload/", views.upload, name="ingest-upload"),
    path("ingest/jobs/", views.job_list, name="ingest-job-list"),
    path("ingest/jobs/<int:job_id>/", views.job_detail, name="ingest-job-detail"),
    path("api/ingest/", views.api_upload, name="api-ingest"),
    path("api/ingest/jobs/<int:job_id>/", views.api_job, name="api-ingest-job"),
    path("hooks/<slug:integration_slug>/", views.webhook, name="webhook"),
]
