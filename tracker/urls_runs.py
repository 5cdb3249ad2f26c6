from django.urls import path

from tracker import views

urlpatterns = [
    path("runs/", views.run_list, name="run-list"),
    path("runs/<int:run_id>/", views.run_detail, name="run-detail"),
    path("runs/<int:run_id>/delete/", views.run_delete, name="run-delete"),
]
