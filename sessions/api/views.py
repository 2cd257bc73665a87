from django.db import transaction
from django.db.models import Exists, OuterRef
from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from alliance.api.base import ScopedViewSet
from alliance.api.errors import Conflict
from alliance.api.schema import CONFLICT
from alliance.clients.selectors import client_get, client_may_add_session
from measures.models import Rater, Rating
from sessions import services
from sessions.api.filters import TherapySessionFilter
from sessions.api.serializers import (
    FormLinkCreateSerializer,
    FormLinkSerializer,
    TherapySessionCreateSerializer,
    TherapySessionSerializer,
    TherapySessionUpdateSerializer,
)
from sessions.formlinks import formlink_create, formlink_url
from sessions.models import TherapySession
from sessions.selectors import session_get_for_change


def _has_rating(rater: str) -> Exists:
    return Exists(Rating.objects.filter(session=OuterRef("pk"), rater=rater))


@extend_schema(tags=["sessions"])
@extend_schema_view(
    create=extend_schema(
        request=TherapySessionCreateSerializer, responses={201: TherapySessionSerializer}
    ),
    partial_update=extend_schema(
        request=TherapySessionUpdateSerializer,
        responses={200: TherapySessionSerializer, 409: CONFLICT},
    ),
)
class TherapySessionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Sessions of the clients in your scope. Therapists add and change their own clients'
    sessions; supervisors and clinic admins read them (a write answers 404)."""

    queryset = TherapySession.objects.none()
    serializer_class = TherapySessionSerializer
    filterset_class = TherapySessionFilter
    ordering_fields = ["number", "starts_at", "status"]
    ordering = ["client__code", "number"]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return (
            TherapySession.objects.visible_to(self.request.user)
            .select_related("client", "therapist")
            .annotate(
                has_client_rating=_has_rating(Rater.CLIENT),
                has_therapist_rating=_has_rating(Rater.THERAPIST),
            )
        )

    def create(self, request):
        serializer = TherapySessionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        client = client_get(request.user, data["client"])
        if not client_may_add_session(request.user, client):
            raise Http404
        session = services.session_schedule(
            client=client,
            therapist=request.user,
            starts_at=data["starts_at"],
            status=data["status"],
            note=data["note"],
        )
        return self.read_back(session.pk, status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        session = session_get_for_change(request.user, pk)
        serializer = TherapySessionUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        with transaction.atomic():
            if "starts_at" in data or "note" in data:
                try:
                    session = services.session_update(
                        session=session,
                        starts_at=data.get("starts_at", session.starts_at),
                        note=data.get("note", session.note),
                        expected_revision=data.get("revision"),
                    )
                except services.StaleSession as exc:
                    raise Conflict(exc.messages[0]) from None
            if "status" in data:
                session = services.session_set_status(session=session, status=data["status"])
        return self.read_back(session.pk)

    @extend_schema(
        request=FormLinkCreateSerializer,
        responses={201: FormLinkSerializer},
        summary="Make a one-time link to the session's client form",
    )
    @action(detail=True, methods=["post"], url_path="form-link")
    def form_link(self, request, pk=None):
        """A new one-time link (the previous live one is revoked). The URL holds the token:
        hand it to the client only; it is shown once and never stored."""
        session = session_get_for_change(request.user, pk)
        serializer = FormLinkCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        link, token = formlink_create(
            session=session, created_by=request.user, channel=serializer.validated_data["channel"]
        )
        body = FormLinkSerializer({"url": formlink_url(token), "expires_at": link.expires_at})
        return Response(body.data, status=status.HTTP_201_CREATED)
