from django.urls import path

from analytics import views

urlpatterns = [
    path("studies/", views.study_list, name="study-list"),
    path("studies/<int:study_id>/", views.study_detail, name="study-detail"),
    path("studies/<int:study_id>/refit/", views.study_refit, name="study-refit"),
    path("reports/", views.report_list, name="report-list"),
    path("reports/<int:report_id>/progress/", views.report_progress, name="report-progress"),
    path("reports/<int:report_id>/download/<str:fmt>/", views.report_download, name="report-download"),
    path("api/reports/", views.api_reports, name="api-reports"),
    path("api/reports/<int:report_id>/", views.api_report, name="api-report"),
]
