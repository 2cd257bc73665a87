"""One error shape for every 4xx the API answers.

    {"error": {"status": 400, "code": "invalid", "message": "...", "fields": {"x": ["..."]}}}

``fields`` maps a request field (or query parameter, or CSV ``row N``) to its messages and is
present only for validation errors. Django's own ValidationError, Http404 and PermissionDenied,
raised by services and selectors, are translated so views never have to.
"""

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler

NON_FIELD_KEYS = ("non_field_errors", "__all__")
# The message names the first few field errors; `fields` has them all.
MESSAGE_FIELDS = 3


class Conflict(exceptions.APIException):
    """409: the request conflicts with the stored data (already rated, changed since)."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "The request conflicts with the stored data."


def _flatten(detail: Any) -> list[str]:
    if isinstance(detail, dict):
        return [message for value in detail.values() for message in _flatten(value)]
    if isinstance(detail, list):
        return [message for value in detail for message in _flatten(value)]
    return [str(detail)]


def _fields(detail: Any) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        return {str(key): _flatten(value) for key, value in detail.items()}
    return {}


def _code(exc: exceptions.APIException) -> str:
    if isinstance(exc, exceptions.ValidationError):
        return "invalid"
    codes = exc.get_codes()
    return codes if isinstance(codes, str) and codes else exc.default_code


def error_body(
    status_code: int, code: str, message: str, fields: dict[str, list[str]] | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"status": status_code, "code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}


def _as_api_exception(exc: Exception) -> Exception:
    if isinstance(exc, DjangoValidationError):
        return exceptions.ValidationError(as_serializer_error(exc))
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied(str(exc) or None)
    return exc


def exception_handler(exc: Exception, context: dict) -> Any:
    """DRF's handler, then the body rewritten into the one error shape."""
    exc = _as_api_exception(exc)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    detail = exc.detail if isinstance(exc, exceptions.APIException) else response.data
    fields: dict[str, list[str]] = {}
    if isinstance(exc, exceptions.ValidationError) and isinstance(detail, dict):
        fields = _fields(detail)
        general = [message for key in NON_FIELD_KEYS for message in fields.pop(key, [])]
        named = [f"{field}: {messages[0]}" for field, messages in fields.items() if messages]
        more = f" (and {len(named) - MESSAGE_FIELDS} more in `fields`)"
        message = " ".join(general + named[:MESSAGE_FIELDS])
        message += more if len(named) > MESSAGE_FIELDS else ""
    else:
        message = " ".join(_flatten(detail))
    response.data = error_body(response.status_code, _code(exc), message, fields)
    return response


def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Unknown paths under /api/ answer the same error shape as everything else."""
    return JsonResponse(
        error_body(status.HTTP_404_NOT_FOUND, "not_found", "No such API endpoint."),
        status=status.HTTP_404_NOT_FOUND,
    )


def server_error(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """The 500 answer (``handler500``): the API's error shape under /api/, else the page."""
    if request.path_info.startswith("/api/"):
        return JsonResponse(
            error_body(
                status.HTTP_500_INTERNAL_SERVER_ERROR,
                "server_error",
                "The server could not finish this request. Try again in a minute; if it "
                "keeps failing, tell your clinic's administrator.",
            ),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    return defaults.server_error(request)
