"""Routes of the browser pages: sign-in, study list (home), study, upload, viewer."""

from django.contrib.auth import views as auth_views
from django.urls import path

from apps.accounts import audit, scopes
from apps.accounts.access import require
from apps.accounts.forms import SignInForm
from apps.viewer import views


def page(scope: str, action: str):
    # The security guard (apps/accounts/access.py): sign-in redirect without
    # credentials, 403 without the permission, collections set, audited.
    return require(scope, action, page=True)


app_name = "viewer"

urlpatterns = [
    path("", page(scopes.READ, audit.QUERY)(views.study_list), name="study_list"),
    # Plain Django sign-in; the security layer hardens it through auth signals.
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(
            template_name="viewer/login.html",
            authentication_form=SignInForm,
            redirect_authenticated_user=True,
        ),
        name="login",
    ),
    path(
        "accounts/logout/",
        auth_views.LogoutView.as_view(next_page="viewer:login"),
        name="logout",
    ),
    path(
        "studies/<str:study_uid>/",
        page(scopes.READ, audit.VIEW)(views.study_detail),
        name="study",
    ),
    path("upload/", page(scopes.STORE, audit.ACCESS)(views.upload), name="upload"),
    path(
        "viewer/<str:study_uid>/",
        page(scopes.READ, audit.VIEW)(views.viewer),
        name="viewer",
    ),
]
