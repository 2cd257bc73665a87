"""The notices page, a person's own settings, and the client's one-click "stop reminders"
(the link in every reminder, no login)."""

from django.urls import path

from alliance.notify import client_views, views

urlpatterns = [
    path("notices/", views.notice_list, name="notice_list"),
    path("notices/read/", views.notices_read_all, name="notices_read_all"),
    path("notices/<int:notice_id>/read/", views.notice_read, name="notice_read"),
    path("account/settings/", views.user_settings, name="user_settings"),
    path("reminders/stop/<str:token>/", client_views.reminders_stop, name="reminders_stop"),
]
