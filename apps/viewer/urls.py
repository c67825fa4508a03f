"""Routes of the browser pages: sign-in, study list (home), study, upload, viewer."""

from django.contrib.auth import views as auth_views
from django.urls import path

from apps.viewer import views

app_name = "viewer"

urlpatterns = [
    path("", views.study_list, name="study_list"),
    # Plain Django sign-in; the security layer hardens it through auth signals.
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(
            template_name="viewer/login.html", redirect_authenticated_user=True
        ),
        name="login",
    ),
    path(
        "accounts/logout/",
        auth_views.LogoutView.as_view(next_page="viewer:login"),
        name="logout",
    ),
    path("studies/<str:study_uid>/", views.study_detail, name="study"),
    path("upload/", views.upload, name="upload"),
    path("viewer/<str:study_uid>/", views.viewer, name="viewer"),
]
