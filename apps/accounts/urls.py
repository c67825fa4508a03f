"""Share-link entry (no account needed) and the share-link API."""

from django.urls import path

from apps.accounts import views

urlpatterns = [
    path("share/<str:token>", views.open_link, name="share-open"),
    path("share/study/<str:study_uid>/", views.shared_study, name="share-study"),
    path("api/share-links", views.links, name="share-links"),
    path("api/share-links/<int:link_id>", views.link_detail, name="share-link"),
]
