"""The site's URLs plus a trivial page: the benchmark's floor, a signed-in request through
the whole middleware stack (session, login, two-factor check, CSP, ...) that reads nothing
else and renders nothing. The runner switches ROOT_URLCONF to this module."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.urls import include, path


@login_required
def trivial(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("bench/trivial/", trivial, name="bench_trivial"),
    path("", include("alliance.urls")),
]
