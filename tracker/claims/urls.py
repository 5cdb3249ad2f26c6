from django.urls import path

from tracker.claims import views

app_name = "claims"
urlpatterns = [
    path("", views.article_list, name="article-list"),
    path("<int:article_id>/", views.article_detail, name="article-detail"),
    path("claims/unsourced/", views.unsourced, name="unsourced"),
]
