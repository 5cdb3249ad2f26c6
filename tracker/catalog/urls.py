from django.urls import path

from tracker.catalog import views

app_name = "catalog"
# /catalog/timeline/ (catalog:timeline) is analytics.trends.views.timeline, added by config.urls: its compute
# trend is an analytics fit, and tracker does not import analytics.
urlpatterns = [
    path("papers/", views.paper_list, name="paper-list"),
    path("papers/<int:paper_id>/", views.paper_detail, name="paper-detail"),
    path("models/", views.model_list, name="model-list"),
    path("models/<int:model_id>/", views.model_detail, name="model-detail"),
    path("models/<int:model_id>/merge/", views.model_merge, name="model-merge"),
    path("links/<int:link_id>/decide/", views.link_decide, name="link-decide"),
    path("costs/", views.cost_comparison, name="costs"),
    path("costs/prices/", views.price_create, name="price-create"),
]
