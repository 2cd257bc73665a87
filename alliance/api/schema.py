"""OpenAPI: every operation documents the one error shape for each 4xx it can answer."""

from drf_spectacular import openapi
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import AllowAny


class ErrorDetailSerializer(serializers.Serializer):
    status = serializers.IntegerField(help_text="The HTTP status code, repeated.")
    code = serializers.CharField(help_text="Machine-readable: invalid, not_found, ...")
    message = serializers.CharField(help_text="What went wrong, in a sentence.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Validation errors by field, query parameter or CSV row.",
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


ERRORS = {
    "400": "Invalid input: a field, a query parameter, ordering or the body.",
    "401": "No or invalid credentials: send `Authorization: Token <key>` or log in.",
    "403": "Authenticated but not allowed (e.g. a role this endpoint needs).",
    "404": "No such object in your scope (or an invalid page).",
}
# The 409 of the writes that raise alliance.api.errors.Conflict.
CONFLICT = OpenApiResponse(
    ErrorSerializer, description="The session already has this rating, or it changed since."
)


class AutoSchema(openapi.AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        public = all(isinstance(p, AllowAny) for p in self.view.get_permissions())
        for code, description in ERRORS.items():
            if code in responses or (public and code in ("401", "403")):
                continue
            response = self._get_response_for_code(ErrorSerializer, code)
            response["description"] = description
            responses[code] = response
        return responses
