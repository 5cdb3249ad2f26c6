from django.urls import path

from tracker.runs import views

app_name = "runs"
urlpatterns = [
    path("", views.run_list, name="list"),
    path("compare/", views.run_compare, name="compare"),
    path("<int:run_id>/", views.run_detail, name="detail"),
    path("<int:run_id>/delete/", views.run_delete, name="delete"),
    path("<int:run_id>/series/<int:series_id>/data", views.series_data, name="series-data"),
    path("<int:run_id>/series/<int:series_id>.csv", views.series_csv, name="series-csv"),
]
