from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.authtoken.models import Token
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from alliance import dashboards
from alliance.api.authentication import token_expires_at
from alliance.api.base import ClinicTimeMixin, ScopedReadOnlyViewSet, ScopedViewSet
from alliance.api.filters import ClientFilter, EpisodeFilter, FlagFilter
from alliance.api.permissions import IsSupervisor
from alliance.api.schema import ErrorSerializer
from alliance.api.serializers import (
    AuthTokenCredentialsSerializer,
    AuthTokenSerializer,
    CaseloadClientSerializer,
    CaseloadQuerySerializer,
    ClientCreateSerializer,
    ClientSerializer,
    ClientTransferSerializer,
    ClientUpdateSerializer,
    EpisodeAcknowledgeSerializer,
    EpisodeCommentCreateSerializer,
    EpisodeCommentSerializer,
    EpisodeResolveSerializer,
    EpisodeSerializer,
    FlagSerializer,
    RatingsExportQuerySerializer,
    SeriesSerializer,
    SupervisionSerializer,
)
from alliance.clients import selectors as client_selectors
from alliance.clients import services as client_services
from alliance.flags import selectors as flag_selectors
from alliance.flags import services as flag_services
from alliance.interop import exports, fhir
from alliance.models import Client, Episode, Flag
from alliance.people import selectors as people_selectors
from alliance.security.services import api_token_issue
from measures.models import Rater, Rating
from sessions.ratelimit import rate_limit_exceeded, window_left
from sessions.selectors import sessions_of_client

# The alliance scales first, in Bordin's order; any other scale of a licensed form after.
SCALE_ORDER = ["bond", "goal", "task", "total"]
# The supervision endpoint lists this many clients needing a look, most at risk first.
SUPERVISION_ATTENTION_LIMIT = 20


class TokenThrottle(BaseThrottle):
    """Password guessing through the token endpoint: 20 tries a minute per address, signed
    in or not, the address found as the client form's rate limit finds it (trusted proxies
    only). An atomic counter in the shared cache, so the limit holds across workers
    (DRF's SimpleRateThrottle reads and writes back a list: workers race)."""

    scope = "auth_token"
    limit = 20
    window = 60

    def allow_request(self, request, view) -> bool:
        return not rate_limit_exceeded(request, self.scope, limit=self.limit, window=self.window)

    def wait(self) -> float:
        return window_left(self.window)


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
        responses={
            200: AuthTokenSerializer,
            429: OpenApiResponse(ErrorSerializer, description="Too many attempts: wait a minute."),
        },
        auth=[],
        summary="Get your API token",
    )
    def post(self, request):
        serializer = AuthTokenCredentialsSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        token = api_token_issue(
            user=serializer.validated_data["user"],
            second_factor=serializer.validated_data["second_factor"],
        )
        return Response(
            AuthTokenSerializer({"token": token.key, "expires_at": token_expires_at(token)}).data
        )

    @extend_schema(request=None, responses={204: None}, summary="Revoke your API token")
    def delete(self, request):
        Token.objects.filter(user=request.user).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


def client_series(client: Client) -> dict:
    """Per session number, 1 to the last: date, status and each rater's scale scores.

    A number without a session, or a session without a rater's rating, is present with
    nulls, so a chart or an analysis sees the gaps (built on sessions_of_client: 5 queries).
    """
    course = sessions_of_client(client)
    sessions = {session.number: session for session in course.sessions}
    scales: set[str] = set()
    points = []
    for number in range(1, max(sessions, default=0) + 1):
        session = sessions.get(number)
        point = {"number": number, "session": None, "date": None, "status": None}
        point |= {Rater.CLIENT: None, Rater.THERAPIST: None}
        if session is not None:
            point["session"] = session.pk
            point["date"] = timezone.localtime(session.starts_at, client.clinic.tzinfo).date()
            point["status"] = session.status
            # Two ratings by one rater in a session: the last stored counts, as in the
            # rupture engine's scores frame (flag_selectors.scores_frame).
            for rating in sorted(session.rating_list, key=lambda rating: rating.pk):
                scores = course.values_of(rating).scores
                scales.update(scores)
                point[rating.rater] = dict(scores)
        points.append(point)
    order = sorted(scales, key=lambda s: (SCALE_ORDER.index(s) if s in SCALE_ORDER else 99, s))
    return {"client": client.pk, "client_code": client.code, "scales": order, "sessions": points}


@extend_schema(tags=["clients"])
@extend_schema_view(
    create=extend_schema(request=ClientCreateSerializer, responses={201: ClientSerializer}),
    partial_update=extend_schema(request=ClientUpdateSerializer, responses={200: ClientSerializer}),
)
class ClientViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Clients in your scope: your own, your supervisees' (supervisors), the clinic's (admins).

    Therapists and clinic admins add clients; the primary therapist and clinic admins change
    them; clinic admins transfer them. Anyone else's write answers 404.
    """

    queryset = Client.objects.none()
    serializer_class = ClientSerializer
    filterset_class = ClientFilter
    ordering_fields = ["code", "status", "created_at"]
    ordering = ["code"]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return Client.objects.visible_to(self.request.user).select_related("primary_therapist")

    def create(self, request):
        user = request.user
        if not (user.is_therapist or user.is_clinic_admin) or not user.clinic_id:
            raise Http404  # like the page: only therapists and clinic admins add clients
        serializer = ClientCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        therapist_id = data.pop("primary_therapist", None)
        if therapist_id is None:
            therapist = user
        elif user.is_clinic_admin:
            therapist = get_object_or_404(
                people_selectors.clinic_therapists(user.clinic_id), pk=therapist_id
            )
        elif therapist_id == user.pk:
            therapist = user
        else:
            raise Http404  # a therapist adds clients to their own caseload only
        client = client_services.client_create(
            clinic=user.clinic, primary_therapist=therapist, **data
        )
        return self.read_back(client.pk, status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        client = client_selectors.client_get_for_change(request.user, pk)
        serializer = ClientUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        fields = {
            name: getattr(client, name)
            for name in ("code", "display_name", "language", "status", "show_scores_to_client")
        }
        client_services.client_update(client=client, **(fields | serializer.validated_data))
        return self.read_back(client.pk)

    @extend_schema(request=ClientTransferSerializer, responses={200: ClientSerializer})
    @action(detail=True, methods=["post"])
    def transfer(self, request, pk=None):
        """Make another therapist of the clinic the primary therapist (clinic admins)."""
        client = client_selectors.client_get(request.user, pk)
        if not client_selectors.client_may_transfer(request.user, client):
            raise Http404
        serializer = ClientTransferSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        to_therapist = get_object_or_404(
            people_selectors.clinic_therapists(client.clinic_id),
            pk=serializer.validated_data["to_therapist"],
        )
        client_services.client_transfer(
            client=client,
            to_therapist=to_therapist,
            transferred_by=request.user,
            note=serializer.validated_data["note"],
        )
        return self.read_back(client.pk)

    @extend_schema(responses={200: SeriesSerializer}, filters=False)
    @action(detail=True, methods=["get"])
    def series(self, request, pk=None):
        """The client's scale scores per session number and rater, gaps included as nulls."""
        client = client_selectors.client_get(request.user, pk)
        return Response(SeriesSerializer(client_series(client)).data)


@extend_schema(
    tags=["caseload"],
    parameters=[CaseloadQuerySerializer],
    responses={200: CaseloadClientSerializer(many=True)},
)
class CaseloadView(ClinicTimeMixin, GenericAPIView):
    """The caseload table of the web app: latest alliance, change, open episodes, missing
    forms."""

    serializer_class = CaseloadClientSerializer
    queryset = Client.objects.none()
    filter_backends = []

    def get(self, request):
        query = CaseloadQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = dict(query.validated_data)
        therapist_id = params.pop("therapist", None)
        user = request.user
        if therapist_id is not None:
            therapist = (
                user
                if therapist_id == user.pk
                else people_selectors.supervisee_get(user, therapist_id)
            )
        else:
            therapist = user if user.is_therapist else None
        # The web app's caseload rows: the caseload columns with the risk ranking.
        clients = dashboards.caseload_rows(user, therapist=therapist, **params)
        page = self.paginate_queryset(clients)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


@extend_schema(tags=["caseload"], responses={200: SupervisionSerializer})
class SupervisionView(ClinicTimeMixin, APIView):
    """Your supervisees' figures and the clients most at risk (supervisors), ranked as on the
    supervision dashboard."""

    permission_classes = [IsAuthenticated, IsSupervisor]

    def get(self, request):
        user = request.user
        therapists = list(people_selectors.supervisees_of(user))
        # The supervision dashboard's queue: clients with a reason to look, most at risk first.
        queue = dashboards.risk_queue(user, therapists, limit=SUPERVISION_ATTENTION_LIMIT)
        body = {
            "therapists": people_selectors.therapist_summaries(
                user, therapists, ranking=queue.ranking
            ),
            "attention": queue.rows,
        }
        return Response(SupervisionSerializer(body).data)


@extend_schema(tags=["episodes"])
class EpisodeViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Rupture episodes on your clients' courses (active ones by default): the flags that
    describe one event, with the clinician's workflow on them.

    A therapist of the client acknowledges an episode once (saying what was done) and
    resolves it; they and their supervisors comment on it. Anyone else's action answers 404.
    """

    queryset = Episode.objects.none()
    serializer_class = EpisodeSerializer
    filterset_class = EpisodeFilter
    ordering_fields = ["created_at", "updated_at", "status", "kind"]
    ordering = ["client__code", "session__starts_at", "session__number", "kind", "id"]

    def get_queryset(self):
        episodes = flag_selectors.episodes_with_details(self.request.user)
        if self.action == "list" and "retired" not in self.request.query_params:
            episodes = episodes.active()
        return episodes

    @extend_schema(request=EpisodeAcknowledgeSerializer, responses={200: EpisodeSerializer})
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        """Acknowledge the episode and record what was done (again: edit that record)."""
        episode = flag_selectors.episode_get_for_action(request.user, pk)
        serializer = EpisodeAcknowledgeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        session_id = data.pop("action_session", None)
        session = None
        if session_id is not None:
            session = episode.client.sessions.filter(pk=session_id).first()
            if session is None:
                raise ValidationError({"action_session": ["Choose one of this client's sessions."]})
        flag_services.episode_acknowledge(
            episode=episode, user=request.user, action_session=session, **data
        )
        return self.read_back(episode.pk)

    @extend_schema(request=EpisodeResolveSerializer, responses={200: EpisodeSerializer})
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        """Close the episode; a note is kept as your comment on it."""
        episode = flag_selectors.episode_get_for_action(request.user, pk)
        serializer = EpisodeResolveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        flag_services.episode_resolve(
            episode=episode, user=request.user, note=serializer.validated_data["note"]
        )
        return self.read_back(episode.pk)

    @extend_schema(
        request=EpisodeCommentCreateSerializer, responses={201: EpisodeCommentSerializer}
    )
    @action(detail=True, methods=["post"])
    def comments(self, request, pk=None):
        """Comment on the episode (the client's therapists and their supervisors)."""
        episode = flag_selectors.episode_get_for_comment(request.user, pk)
        serializer = EpisodeCommentCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        comment = flag_services.episode_comment_add(
            episode=episode, user=request.user, text=serializer.validated_data["text"]
        )
        return Response(EpisodeCommentSerializer(comment).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["flags"])
class FlagViewSet(ScopedReadOnlyViewSet):
    """What each rupture rule found on your clients' series (active flags by default): the
    record behind the episodes. Read only: the workflow (acknowledge, resolve, comment) is
    the episode's (/episodes/)."""

    queryset = Flag.objects.none()
    serializer_class = FlagSerializer
    filterset_class = FlagFilter
    ordering_fields = ["created_at", "magnitude", "rule"]
    ordering = ["client__code", "session__number", "rule", "id"]

    def get_queryset(self):
        flags = Flag.objects.visible_to(self.request.user)
        if self.action == "list" and "retired" not in self.request.query_params:
            flags = flags.active()
        return flags.select_related("client", "session", "episode")


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# The streaming endpoints' pointer to the background job (alliance/api/jobs.py).
LARGE_SCOPES = (
    "A large scope (a clinic's thousands of clients) takes a minute or more here: ask for it "
    "as a background job instead, `POST /api/v1/jobs/` with the same `client` / `therapist`, "
    "then fetch the complete file from the job."
)


class ExportTooLargeError(APIException):
    """More rows than the format holds (an Excel sheet): the message points to CSV."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "export_too_large"


class RatingsExportView(ClinicTimeMixin, APIView):
    """Ratings in long format (one row per rating and scale; item answers as JSON) for a
    client, a caseload, or everything in your scope."""

    fmt = "csv"

    def get(self, request):
        query = RatingsExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        scope = exports.export_scope(
            request.user,
            client_id=query.validated_data.get("client"),
            therapist_id=query.validated_data.get("therapist"),
        )
        try:
            return exports.ratings_response(request.user, scope, self.fmt)
        except exports.ExportTooLarge as error:
            raise ExportTooLargeError(str(error)) from error


@extend_schema(
    tags=["exports"],
    parameters=[RatingsExportQuerySerializer],
    description=f"{RatingsExportView.__doc__}\n\n{LARGE_SCOPES}\n\nStreamed: the answer is "
    "200 before the rows are read. If the export fails midway the transfer is cut off (no "
    "final chunk; curl exits with 18), never ended cleanly: treat an incomplete transfer as "
    "a failed export.",
    responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="UTF-8 CSV.")},
)
class RatingsCsvExportView(RatingsExportView):
    __doc__ = RatingsExportView.__doc__


@extend_schema(
    tags=["exports"],
    parameters=[RatingsExportQuerySerializer],
    description=f"{RatingsExportView.__doc__}\n\n{LARGE_SCOPES}",
    responses={(200, XLSX): OpenApiResponse(OpenApiTypes.BINARY, description="Excel workbook.")},
)
class RatingsXlsxExportView(RatingsExportView):
    __doc__ = RatingsExportView.__doc__
    fmt = "xlsx"


@extend_schema(
    tags=["exports"],
    responses={(200, XLSX): OpenApiResponse(OpenApiTypes.BINARY, description="Excel workbook.")},
)
class ClientRecordExportView(ClinicTimeMixin, APIView):
    """Everything stored about one client (sessions, ratings, flags) with readable column
    names, for the client's right of access. The primary therapist or a clinic admin."""

    def get(self, request, client_id: int):
        client = client_selectors.client_get_for_change(request.user, client_id)
        return exports.attachment(*exports.client_record_export(client))


FHIR_JSON = "application/fhir+json"
FHIR_BUNDLE = OpenApiResponse(
    OpenApiTypes.OBJECT,
    description="A FHIR R4 Bundle (type collection): Questionnaires, QuestionnaireResponses "
    "and Observations.",
)


def _fhir_response(data: dict) -> JsonResponse:
    return JsonResponse(data, content_type=FHIR_JSON, json_dumps_params={"ensure_ascii": False})


@extend_schema(
    tags=["fhir"],
    description="Every rating in your scope as a FHIR R4 Bundle, built during the request. "
    "Clinic admins: for the whole clinic, ask for the bundle as a background job instead, "
    "`POST /api/v1/jobs/` with `kind` `fhir_bundle`.",
    responses={(200, FHIR_JSON): FHIR_BUNDLE},
)
class FhirBundleView(ClinicTimeMixin, APIView):
    """Every rating in your scope as a FHIR R4 Bundle."""

    def get(self, request):
        return _fhir_response(
            fhir.bundle(fhir.ratings_for_fhir(Rating.objects.visible_to(request.user)))
        )


@extend_schema(tags=["fhir"], responses={(200, FHIR_JSON): FHIR_BUNDLE})
class ClientFhirBundleView(ClinicTimeMixin, APIView):
    """One client's ratings as a FHIR R4 Bundle."""

    def get(self, request, client_id: int):
        client = client_selectors.client_get(request.user, client_id)
        ratings = Rating.objects.visible_to(request.user).filter(session__client=client)
        return _fhir_response(fhir.bundle(fhir.ratings_for_fhir(ratings)))
