"""Root URLs: one include per area."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from alliance import views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("caseload/", views.caseload, name="caseload"),
    path("clients/<int:client_id>/", views.client_detail, name="client_detail"),
    # The client form: /f/<token>/ links, /kiosk/ hand-over, and the endpoints that make them.
    path("", include("sessions.client_urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/", include("alliance.api_urls")),
]
