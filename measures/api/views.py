from collections import defaultdict

from django.core.files.base import ContentFile
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import BaseParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from alliance.api.base import ClinicTimeMixin, ScopedReadOnlyViewSet, ScopedViewSet
from alliance.api.errors import Conflict
from alliance.api.jobs import JobSerializer, ratings_import_accepted
from alliance.api.permissions import IsClinicAdmin
from alliance.api.schema import CONFLICT
from alliance.interop.imports import (
    MAX_BYTES,
    ImportRejected,
    csv_text,
    ratings_import_apply,
    ratings_import_check,
)
from measures.api.filters import InstrumentFilter, RatingFilter
from measures.api.serializers import (
    ImportQuerySerializer,
    ImportReportSerializer,
    ImportUploadSerializer,
    InstrumentSerializer,
    RatingCreateSerializer,
    RatingSerializer,
    RatingUpdateSerializer,
)
from measures.models import Instrument, Rater, Rating
from measures.services import AlreadyRated, StaleRating
from sessions.selectors import session_get_for_change
from sessions.services import session_therapist_rating_record, session_therapist_rating_update


@extend_schema(tags=["instruments"])
class InstrumentViewSet(ScopedReadOnlyViewSet):
    """The questionnaires ratings are made with, and their definitions (items, scales, norms)."""

    queryset = Instrument.objects.none()
    serializer_class = InstrumentSerializer
    filterset_class = InstrumentFilter
    ordering_fields = ["key", "version"]
    ordering = ["key", "-version"]

    def get_queryset(self):
        # Instruments are not client data: every signed-in user reads them.
        return Instrument.objects.all()


@extend_schema(tags=["ratings"])
@extend_schema_view(
    create=extend_schema(
        request=RatingCreateSerializer,
        responses={
            201: RatingSerializer,
            200: OpenApiResponse(RatingSerializer, description="The same submission_id again."),
            409: CONFLICT,
        },
        summary="Record your post-session rating",
    ),
    partial_update=extend_schema(
        request=RatingUpdateSerializer,
        responses={200: RatingSerializer, 409: CONFLICT},
        summary="Correct your own rating",
    ),
)
class RatingViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Client and therapist ratings of the sessions in your scope, with answers and scores."""

    queryset = Rating.objects.none()
    serializer_class = RatingSerializer
    filterset_class = RatingFilter
    ordering_fields = ["submitted_at", "session__number"]
    ordering = ["session__client__code", "session__number", "rater", "id"]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return (
            Rating.objects.visible_to(self.request.user)
            .select_related("session__client", "instrument", "submitted_by")
            .prefetch_related("answers", "scores")
        )

    def create(self, request):
        serializer = RatingCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        session = session_get_for_change(request.user, data["session"])
        try:
            rating, created = session_therapist_rating_record(
                session=session,
                user=request.user,
                answers=data["answers"],
                questions=data["questions"],
                submission_id=data["submission_id"],
                language=data["language"],
            )
        except AlreadyRated as exc:
            raise Conflict(exc.messages[0]) from None
        if not created and (rating.session_id != session.pk or rating.rater != Rater.THERAPIST):
            # A submission id is only a replay of the same session's form, never a lookup.
            raise Conflict("This submission_id was used for another rating.")
        return self.read_back(rating.pk, status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    def partial_update(self, request, pk=None):
        rating = get_object_or_404(self.get_queryset(), pk=pk)
        if rating.submitted_by_id != request.user.pk:
            raise Http404  # seeing a rating is not being allowed to change it
        serializer = RatingUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            session_therapist_rating_update(
                rating=rating,
                user=request.user,
                answers=data["answers"],
                questions=data.get("questions"),
                expected_revision=data["revision"],
            )
        except StaleRating as exc:
            raise Conflict(exc.messages[0]) from None
        return self.read_back(rating.pk)


class CsvParser(BaseParser):
    """A CSV file sent as the request body (`Content-Type: text/csv`)."""

    media_type = "text/csv"

    def parse(self, stream, media_type=None, parser_context=None):
        content = stream.read(MAX_BYTES + 1) if stream else b""
        return {"file": ContentFile(content, name="body.csv")}


@extend_schema(
    tags=["imports"],
    parameters=[ImportQuerySerializer],
    request={"multipart/form-data": ImportUploadSerializer, "text/csv": OpenApiTypes.BINARY},
    responses={200: ImportReportSerializer, 202: JobSerializer},
)
class RatingsImportView(ClinicTimeMixin, APIView):
    """Historical ratings from CSV into your clinic (clinic admins).

    A dry run (the default) answers 200 with every problem by row and column. Applying
    (`?dry_run=false`) imports every row or none: with any problem it answers 400 with the
    problems in `fields` (keyed "row N: column") and nothing is imported. A file with a
    control character (a NUL byte, ...) in a cell is not text: 400 in a dry run too.
    With `background=true` too (`?dry_run=false&background=true`), the file is checked now
    (problems: 400 as above) and applied by a background job: 202 with the job and its
    `Location` (/api/v1/jobs/{id}/); the job's `result` is the import's report.
    """

    permission_classes = [IsAuthenticated, IsClinicAdmin]
    parser_classes = [MultiPartParser, CsvParser]

    def post(self, request):
        query = ImportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        upload = ImportUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        try:
            text = csv_text(upload.validated_data["file"].read(MAX_BYTES + 1))
        except ValueError as exc:
            raise ValidationError({"file": [str(exc)]}) from None
        clinic = request.user.clinic
        dry_run, background = query.validated_data["dry_run"], query.validated_data["background"]
        # In the background the file is checked now and applied by a job.
        run = ratings_import_check if dry_run or background else ratings_import_apply
        try:
            report = run(clinic=clinic, text=text)
            if background and report.problems:
                raise ImportRejected(report)
        except ImportRejected as exc:
            problems = defaultdict(list)
            for problem in exc.report.problems:
                key = f"row {problem.row}" + (f": {problem.column}" if problem.column else "")
                problems[key].append(problem.message)
            raise ValidationError(dict(problems)) from None
        if background:
            return ratings_import_accepted(request, text)
        return Response(ImportReportSerializer(report.as_dict()).data)
