from django.urls import path

from analytics.studies import views

app_name = "studies"
urlpatterns = [
    path("", views.study_list, name="list"),
    path("<int:study_id>/", views.study_detail, name="detail"),
    path("<int:study_id>/refit/", views.study_refit, name="refit"),
]
