from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from alliance import selectors


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return redirect("caseload")


@login_required
def caseload(request: HttpRequest) -> HttpResponse:
    clients = selectors.caseload_for(request.user)
    return render(request, "alliance/caseload.html", {"clients": clients})


@login_required
def client_detail(request: HttpRequest, client_id: int) -> HttpResponse:
    client = selectors.client_get(request.user, client_id)
    sessions = client.sessions.order_by("number").prefetch_related("ratings__scores")
    return render(request, "alliance/client_detail.html", {"client": client, "sessions": sessions})
