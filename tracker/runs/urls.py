from django.urls import path

from tracker.runs import views

app_name = "runs"
urlpatterns = [
    path("", views.run_list, name="list"),
    path("export.csv", views.run_export, name="export"),
    path("selection/", views.run_selection, name="selection"),
    path("compare/", views.run_compare, name="compare"),
    path("<int:run_id>/", views.run_detail, name="detail"),
    path("<int:run_id>/delete/", views.run_delete, name="delete"),
    path("<int:run_id>/tags/", views.run_tags, name="tags"),
    path("<int:run_id>/notes/", views.run_notes, name="notes"),
    path("<int:run_id>/final-loss/", views.run_final_loss, name="final-loss"),
    path("<int:run_id>/series/<int:series_id>/data", views.series_data, name="series-data"),
    path("<int:run_id>/series/<int:series_id>.csv", views.series_csv, name="series-csv"),
]
