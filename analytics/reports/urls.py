from django.urls import path

from analytics.reports import views

app_name = "reports"
urlpatterns = [
    path("", views.report_list, name="list"),
    path("<int:report_id>/progress/", views.report_progress, name="progress"),
    path("digests/", views.digest_list, name="digest-list"),
    path("digests/<int:report_id>/", views.digest_detail, name="digest-detail"),
    path("<int:report_id>/download/<str:fmt>/", views.report_download, name="download"),
]
