"""Root URLs: one include per area."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from alliance import views
from alliance.clients import views as client_views
from alliance.flags import views as flag_views
from alliance.people import views as people_views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("set-password/<uidb64>/<token>/", views.PasswordSetView.as_view(), name="password_set"),
    path("password-reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(
            template_name="registration/password_reset_done.html"
        ),
        name="password_reset_done",
    ),
    path("caseload/", client_views.caseload, name="caseload"),
    path("clients/", client_views.client_list, name="client_list"),
    path("clients/new/", client_views.client_create, name="client_create"),
    path("clients/<int:client_id>/", client_views.client_detail, name="client_detail"),
    path("clients/<int:client_id>/edit/", client_views.client_edit, name="client_edit"),
    path("clients/<int:client_id>/transfer/", client_views.client_transfer, name="client_transfer"),
    path("clients/<int:client_id>/contact/", client_views.client_contact, name="client_contact"),
    path(
        "clients/<int:client_id>/contact/withdraw/",
        client_views.client_contact_withdraw,
        name="client_contact_withdraw",
    ),
    path("clients/<int:client_id>/export/", include("alliance.interop.views")),
    path("flags/<int:flag_id>/", flag_views.flag_detail, name="flag_detail"),
    path("episodes/<int:episode_id>/", flag_views.episode_detail, name="episode_detail"),
    path(
        "episodes/<int:episode_id>/acknowledge/",
        flag_views.episode_acknowledge,
        name="episode_acknowledge",
    ),
    path("episodes/<int:episode_id>/resolve/", flag_views.episode_resolve, name="episode_resolve"),
    path("episodes/<int:episode_id>/comments/", flag_views.episode_comment, name="episode_comment"),
    # The supervision dashboard, supervision packets and the clinic overview.
    path("", include("alliance.dashboards.views")),
    path(
        "supervision/therapists/<int:therapist_id>/",
        client_views.therapist_caseload,
        name="therapist_caseload",
    ),
    path("clinic/", people_views.clinic, name="clinic"),
    path("clinic/users/new/", people_views.clinic_user_create, name="clinic_user_create"),
    path("clinic/users/<int:user_id>/", people_views.clinic_user, name="clinic_user"),
    path(
        "clinic/users/<int:user_id>/deactivate/",
        people_views.clinic_user_deactivate,
        name="clinic_user_deactivate",
    ),
    path(
        "clinic/users/<int:user_id>/reactivate/",
        people_views.clinic_user_reactivate,
        name="clinic_user_reactivate",
    ),
    path(
        "clinic/users/<int:user_id>/password-reset/",
        people_views.clinic_user_password_reset,
        name="clinic_user_password_reset",
    ),
    path("clinic/rules/", flag_views.clinic_rules, name="clinic_rules"),
    path("clinic/supervision/", people_views.clinic_supervision_add, name="clinic_supervision_add"),
    path(
        "clinic/supervision/<int:supervision_id>/remove/",
        people_views.clinic_supervision_remove,
        name="clinic_supervision_remove",
    ),
    # Sessions and the therapist's post-session rating.
    path("", include("sessions.urls")),
    # The client form: /f/<token>/ links, /kiosk/ hand-over, and the endpoints that make them.
    path("", include("sessions.client_urls")),
    # Two-factor, the clinic's security settings, the audit log, a client's access history.
    path("", include("alliance.security.urls")),
    # Alerts (notices), a person's own settings, and the client's one-click "stop reminders".
    path("", include("alliance.notify.urls")),
    # Exports, the ratings import and the progress pages of background jobs.
    path("", include("alliance.jobs.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/", include("alliance.api_urls")),
]

# A server error under /api/ answers the API's JSON error shape, elsewhere templates/500.html.
handler500 = "alliance.api.errors.server_error"
