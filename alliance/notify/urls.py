"""The notices page and a person's own settings."""

from django.urls import path

from alliance.notify import views

urlpatterns = [
    path("notices/", views.notice_list, name="notice_list"),
    path("notices/read/", views.notices_read_all, name="notices_read_all"),
    path("notices/<int:notice_id>/read/", views.notice_read, name="notice_read"),
    path("account/settings/", views.user_settings, name="user_settings"),
]
