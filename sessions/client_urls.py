"""The client's form (one-time links and tablet hand-over) and the clinician's endpoints
that hand it out. Included at the site root by alliance/urls.py."""

from django.urls import path

from sessions import client_views

urlpatterns = [
    path("f/<str:token>/", client_views.client_form, name="client_form"),
    path("f/<str:token>/thanks/", client_views.client_form_thanks, name="client_form_thanks"),
    path("kiosk/", client_views.kiosk_form, name="kiosk_form"),
    path("kiosk/done/", client_views.kiosk_done, name="kiosk_done"),
    path("kiosk/hand-back/", client_views.kiosk_hand_back, name="kiosk_hand_back"),
    path(
        "sessions/<int:session_id>/client-form/link/",
        client_views.formlink_new,
        name="formlink_new",
    ),
    path(
        "sessions/<int:session_id>/client-form/email/",
        client_views.formlink_email,
        name="formlink_email",
    ),
    path(
        "sessions/<int:session_id>/client-form/hand-over/",
        client_views.kiosk_hand_over,
        name="kiosk_hand_over",
    ),
]
