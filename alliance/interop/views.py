"""Download links on the client page: the client's ratings (CSV, Excel) and their record.

Included at /clients/<id>/export/ by alliance/urls.py; the API offers the same exports.
"""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.http.response import HttpResponseBase
from django.urls import path

from alliance.clients import selectors as client_selectors
from alliance.interop import exports


@login_required
def client_ratings(request: HttpRequest, client_id: int, fmt: str) -> HttpResponseBase:
    scope = exports.export_scope(request.user, client_id=client_id)
    try:
        return exports.ratings_response(request.user, scope, fmt)
    except exports.ExportTooLarge as error:
        return HttpResponseBadRequest(str(error), content_type="text/plain; charset=utf-8")


@login_required
def client_record(request: HttpRequest, client_id: int) -> HttpResponse:
    """Everything stored about the client (right of access): primary therapist or admin."""
    client = client_selectors.client_get_for_change(request.user, client_id)
    return exports.attachment(*exports.client_record_export(client))


urlpatterns = [
    path("ratings.csv", client_ratings, {"fmt": "csv"}, name="client_export_csv"),
    path("ratings.xlsx", client_ratings, {"fmt": "xlsx"}, name="client_export_xlsx"),
    path("record.xlsx", client_record, name="client_export_record"),
]
