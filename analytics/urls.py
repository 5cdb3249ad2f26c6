from django.urls import path

from analytics import views

urlpatterns = [
    path("studies/", views.study_list, name="study-list"),
    path("studies/<int:study_id>/", views.study_detail, name="study-detail"),
    path("studies/<int:study_id>/refit/", views.study_refit, name="study-refit"),
]
