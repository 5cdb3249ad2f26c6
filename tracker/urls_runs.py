from django.urls import path

from tracker import views_runs

urlpatterns = [
    path("runs/", views_runs.run_list, name="run-list"),
    path("runs/compare/", views_runs.run_compare, name="run-compare"),
    path("runs/<int:run_id>/", views_runs.run_detail, name="run-detail"),
    path("runs/<int:run_id>/delete/", views_runs.run_delete, name="run-delete"),
    path("runs/<int:run_id>/series/<int:series_id>/data", views_runs.series_data, name="series-data"),
    path("runs/<int:run_id>/series/<int:series_id>.csv", views_runs.series_csv, name="series-csv"),
]
