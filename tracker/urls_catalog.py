from django.urls import path

from tracker import views

urlpatterns = [
    path("models/", views.model_list, name="model-list"),
    path("models/<int:model_id>/", views.model_detail, name="model-detail"),
]
