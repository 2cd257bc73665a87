"""URLs of the security pages; included at the site root by alliance/urls.py."""

from django.urls import path

from alliance.security import views

urlpatterns = [
    path("account/two-factor/", views.two_factor_setup, name="two_factor_setup"),
    path(
        "account/two-factor/enrol/<uidb64>/<token>/",
        views.two_factor_enrol,
        name="two_factor_enrol",
    ),
    path("account/two-factor/verify/", views.two_factor_verify, name="two_factor_verify"),
    path("account/two-factor/remove/", views.two_factor_disable, name="two_factor_disable"),
    path("clinic/security/", views.clinic_security, name="clinic_security"),
    path("clinic/audit/", views.audit_log, name="audit_log"),
    path("clinic/audit.csv", views.audit_log_csv, name="audit_log_csv"),
    path(
        "clinic/users/<int:user_id>/two-factor-reset/",
        views.clinic_user_two_factor_reset,
        name="clinic_user_two_factor_reset",
    ),
    path("clients/<int:client_id>/access/", views.client_access, name="client_access"),
]
