"""URLs of the background jobs' pages; included at the site root by alliance/urls.py."""

from django.urls import path

from alliance.jobs import views

urlpatterns = [
    path("exports/", views.exports_page, name="exports"),
    path("imports/ratings/", views.ratings_import, name="ratings_import"),
    path("jobs/<int:job_id>/", views.job_detail, name="job_detail"),
    path("jobs/<int:job_id>/status/", views.job_status, name="job_status"),
    path("jobs/<int:job_id>/download/", views.job_download, name="job_download"),
    path("jobs/<int:job_id>/retry/", views.job_retry, name="job_retry"),
]
