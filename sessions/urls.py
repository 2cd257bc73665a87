"""The therapist's session pages (the client's form has its own URLs)."""

from django.urls import path

from sessions import views

urlpatterns = [
    path("clients/<int:client_id>/sessions/new/", views.session_new, name="session_new"),
    path("sessions/<int:session_id>/", views.session_detail, name="session_detail"),
    path("sessions/<int:session_id>/answers/", views.session_answers, name="session_answers"),
    path("sessions/<int:session_id>/edit/", views.session_edit, name="session_edit"),
    path("sessions/<int:session_id>/status/", views.session_status, name="session_status"),
    path("sessions/<int:session_id>/rating/", views.rating_new, name="rating_new"),
    path("sessions/<int:session_id>/rating/edit/", views.rating_edit, name="rating_edit"),
]
