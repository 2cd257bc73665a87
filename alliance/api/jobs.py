"""Background jobs through the API: ask for a ratings export (CSV, Excel) or the clinic's FHIR
bundle, follow its progress, fetch its file. The web pages' jobs (alliance/jobs): the same
services, the same rules. A job is its requester's only (404 for anyone else, a clinic admin
included); the file is recorded as an export (alliance.security.audit, "api-job-file")."""

from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import exceptions, mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from alliance.api.base import ScopedViewSet
from alliance.api.errors import Conflict
from alliance.api.schema import ErrorSerializer
from alliance.api.serializers import IdField
from alliance.interop import exports
from alliance.jobs import services as job_services
from alliance.models import Job


class JobCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=[(kind.value, kind.label) for kind in job_services.FILE_KINDS],
        help_text="ratings_csv, ratings_xlsx (the ratings export of /exports/ratings.csv and "
        ".xlsx) or fhir_bundle (every rating of the clinic as a FHIR R4 bundle; clinic "
        "admins).",
    )
    client = IdField(required=False, help_text="A ratings export of one client's ratings.")
    therapist = IdField(
        required=False,
        help_text="A ratings export of a therapist's caseload: yourself, a supervisee, or anyone "
        "in the clinic for clinic admins. Neither: everything in your scope.",
    )


class JobSerializer(serializers.ModelSerializer):
    percent = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="Whole percent done; null while unknown."
    )
    result = serializers.DictField(
        read_only=True,
        help_text="What the job made: {rows}, {entries, ratings}, or an import's report.",
    )
    error = serializers.SerializerMethodField(
        help_text="A failed job's reason, in general words; empty otherwise."
    )
    download_url = serializers.SerializerMethodField(
        help_text="Where to fetch the file while it is kept; null before and after."
    )

    class Meta:
        model = Job
        fields = [
            "id",
            "kind",
            "state",
            "done",
            "total",
            "percent",
            "result",
            "error",
            "created_at",
            "started_at",
            "finished_at",
            "expires_at",
            "download_url",
        ]
        read_only_fields = fields

    def get_error(self, job: Job) -> str:
        return str(job_services.job_error_text(job))

    @extend_schema_field({"type": "string", "format": "uri", "nullable": True})
    def get_download_url(self, job: Job) -> str | None:
        if not job.file_available():
            return None
        return self.context["request"].build_absolute_uri(reverse("api-job-file", args=[job.pk]))


def job_accepted(request, job: Job) -> Response:
    """202: the job as GET shows it, and its address in `Location`."""
    location = request.build_absolute_uri(reverse("api-job-detail", args=[job.pk]))
    body = JobSerializer(job, context={"request": request}).data
    return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": location})


def ratings_import_accepted(request, text: str) -> Response:
    """A checked ratings CSV applied by a background job (/api/v1/imports/ratings/)."""
    return job_accepted(
        request, job_services.ratings_import_job_create(user=request.user, text=text)
    )


JOB_FILES = {
    (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="A ratings_csv job's file."),
    (200, exports.XLSX_TYPE): OpenApiResponse(
        OpenApiTypes.BINARY, description="A ratings_xlsx job's file."
    ),
    (200, job_services.FHIR_JSON): OpenApiResponse(
        OpenApiTypes.OBJECT, description="A fhir_bundle job's file: a FHIR R4 Bundle."
    ),
}


@extend_schema(tags=["jobs"])
@extend_schema_view(
    list=extend_schema(description="Your own background jobs, newest first."),
    retrieve=extend_schema(
        description="One of your jobs: its state (queued, running, done, failed, expired), "
        "progress and, while its file is kept, `download_url`. Anyone else's: 404."
    ),
)
class JobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Your own background jobs, newest first (anyone else's answers 404, a clinic admin's
    included). Ask for one with POST; follow `state` and `percent` with GET; fetch the file
    from `download_url` once `state` is `done`. The file is kept ALLIANCE_JOB_FILE_HOURS (24 by
    default), then answers 410."""

    queryset = Job.objects.none()
    serializer_class = JobSerializer
    filter_backends = []
    http_method_names = ["get", "post", "head", "options"]

    def get_queryset(self):
        return job_services.jobs_of(self.request.user)

    def perform_content_negotiation(self, request, force=False):
        # The file answers in its own type whatever `Accept` says (text/csv, ...): no 406.
        return super().perform_content_negotiation(request, force=force or self.action == "file")

    @extend_schema(
        request=JobCreateSerializer,
        responses={202: JobSerializer},
        parameters=[
            OpenApiParameter(
                "Location",
                OpenApiTypes.URI,
                OpenApiParameter.HEADER,
                response=[202],
                description="The job's address: poll it until `state` is done or failed.",
            )
        ],
    )
    def create(self, request):
        """Ask for a ratings export or the clinic's FHIR bundle, made in the background: 202
        with the job and its `Location`. The scope is checked now, as the export endpoints
        check it (a client or therapist outside yours: 404); fhir_bundle is for clinic admins
        (403 otherwise)."""
        serializer = JobCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        job = job_services.job_request(
            user=request.user,
            kind=data["kind"],
            client_id=data.get("client"),
            therapist_id=data.get("therapist"),
        )
        return job_accepted(request, job)

    @extend_schema(
        responses={
            **JOB_FILES,
            409: OpenApiResponse(ErrorSerializer, description="The job is not done yet."),
            410: OpenApiResponse(ErrorSerializer, description="The file is no longer kept."),
        }
    )
    @action(detail=True, methods=["get"], url_path="file")
    def file(self, request, pk=None):
        """The job's file, for its requester while it is kept: 409 while the job is queued or
        running, 404 for a failed job (it never leaves a file), 410 once the file is no
        longer kept. Recorded in the audit log as an export."""
        job = job_services.job_get_own(request.user, pk)
        if job.state in (Job.State.QUEUED, Job.State.RUNNING):
            raise Conflict("The job is not done yet: follow its state, then fetch the file.")
        try:
            handle = job_services.job_file_open(job=job)
        except job_services.JobFileGone:
            raise Gone() from None
        return FileResponse(
            handle, as_attachment=True, filename=job.filename, content_type=job.content_type
        )


class Gone(exceptions.APIException):
    status_code = status.HTTP_410_GONE
    default_code = "gone"
    default_detail = "The file is no longer kept: ask for the job again."
