from django.urls import path

from analytics.studies import views

app_name = "studies"
urlpatterns = [
    path("", views.study_list, name="list"),
    path("new/", views.study_create, name="create"),
    path("<int:study_id>/", views.study_detail, name="detail"),
    path("<int:study_id>/edit/", views.study_edit, name="edit"),
    path("<int:study_id>/delete/", views.study_delete, name="delete"),
    path("<int:study_id>/runs/", views.study_add_runs, name="add-runs"),
    path("<int:study_id>/status/", views.study_status, name="status"),
    path("<int:study_id>/refit/", views.study_refit, name="refit"),
]
