from django.urls import path

from tracker import views_catalog

urlpatterns = [
    path("papers/", views_catalog.paper_list, name="paper-list"),
    path("papers/<int:paper_id>/", views_catalog.paper_detail, name="paper-detail"),
    path("models/", views_catalog.model_list, name="model-list"),
    path("models/<int:model_id>/", views_catalog.model_detail, name="model-detail"),
    path("timeline/", views_catalog.timeline, name="timeline"),
    path("costs/", views_catalog.cost_comparison, name="cost-comparison"),
    path("costs/prices/", views_catalog.price_create, name="price-create"),
]
