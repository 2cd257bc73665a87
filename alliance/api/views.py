from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from alliance.api.base import ClinicTimeMixin, ScopedReadOnlyViewSet
from alliance.api.filters import ClientFilter, FlagFilter
from alliance.api.serializers import (
    AuthTokenCredentialsSerializer,
    AuthTokenSerializer,
    ClientSerializer,
    FlagSerializer,
)
from alliance.models import Client, Flag, FlagComment


class TokenThrottle(AnonRateThrottle):
    """Password guessing through the token endpoint: a few tries a minute per address."""

    scope = "auth_token"
    rate = "20/min"

    def get_rate(self):
        return self.rate


@extend_schema(tags=["auth"])
class AuthTokenView(ClinicTimeMixin, APIView):
    """Exchange a username and password for an API token, or revoke your token."""

    throttle_classes = [TokenThrottle]

    def get_permissions(self):
        return [AllowAny()] if self.request.method == "POST" else [IsAuthenticated()]

    def get_throttles(self):
        return super().get_throttles() if self.request.method == "POST" else []

    @extend_schema(
        request=AuthTokenCredentialsSerializer,
        responses={200: AuthTokenSerializer},
        auth=[],
        summary="Get your API token",
    )
    def post(self, request):
        serializer = AuthTokenCredentialsSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        token, _ = Token.objects.get_or_create(user=serializer.validated_data["user"])
        return Response({"token": token.key})

    @extend_schema(request=None, responses={204: None}, summary="Revoke your API token")
    def delete(self, request):
        Token.objects.filter(user=request.user).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["clients"])
class ClientViewSet(ScopedReadOnlyViewSet):
    """Clients in your scope: your own, your supervisees' (supervisors), the clinic's (admins)."""

    queryset = Client.objects.none()
    serializer_class = ClientSerializer
    filterset_class = ClientFilter
    ordering_fields = ["code", "status", "created_at"]
    ordering = ["code"]

    def get_queryset(self):
        return Client.objects.visible_to(self.request.user).select_related("primary_therapist")


@extend_schema(tags=["flags"])
class FlagViewSet(ScopedReadOnlyViewSet):
    """Possible ruptures and signals found on your clients' series (active ones by default)."""

    queryset = Flag.objects.none()
    serializer_class = FlagSerializer
    filterset_class = FlagFilter
    ordering_fields = ["created_at", "magnitude", "status", "rule"]
    ordering = ["client__code", "session__number", "rule", "id"]

    def get_queryset(self):
        flags = Flag.objects.visible_to(self.request.user)
        if self.action == "list" and "retired" not in self.request.query_params:
            flags = flags.active()
        return flags.select_related(
            "client", "session", "acknowledged_by", "resolved_by"
        ).prefetch_related(
            Prefetch("comments", queryset=FlagComment.objects.select_related("author"))
        )
