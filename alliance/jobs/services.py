"""Background jobs with a progress bar: a job's life (queued -> running -> done / failed),
its progress, the file it makes, and the purge of old files.

A page creates the job as queued and sends it to the queue once its transaction commits
(``job_create``); the worker runs it by id (``alliance.jobs.tasks.job_run`` -> ``job_run``
here), so a job that is done or failed is never run again and a running one that is retried
starts again from nothing. The work itself is the existing code (exports, FHIR, the import,
the clinic's flag refresh), which reports progress through a small callback.

Files live in settings.ALLIANCE_JOB_FILES_DIR under random names. A file is written to a
temporary name in the same directory and renamed only once complete: a failed job never
leaves a partial file that looks complete. Progress writes are one short UPDATE at most once
a second (SQLite: a worker and the web server share one database file).
"""

import json
import logging
import os
import re
import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F, QuerySet
from django.db.models.functions import Coalesce
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone, translation
from django.utils.text import slugify
from django.utils.translation import gettext as _

from alliance.flags import services as flag_services
from alliance.interop import exports, fhir
from alliance.interop.imports import ImportRejected, ratings_import_apply
from alliance.models import Job, User

logger = logging.getLogger(__name__)

Kind = Job.Kind
State = Job.State
FILE_KINDS = (Kind.RATINGS_CSV, Kind.RATINGS_XLSX, Kind.FHIR_BUNDLE)
ADMIN_KINDS = (Kind.FHIR_BUNDLE, Kind.RATINGS_IMPORT, Kind.FLAGS_RECOMPUTE)
# A kept file's name: random hex and an extension, nothing a path could be built from.
FILE_NAME = re.compile(r"^[0-9a-f]{32}\.(csv|xlsx|json)$")
# A job queued or running this long has lost its worker: the purge marks it failed.
STALE_HOURS = 6
FHIR_JSON = "application/fhir+json"


class JobFailed(Exception):
    """A failure the requester can act on (the Excel limit, an import's problems): its
    message is shown on the job's page, with ``result`` (an import's report)."""

    def __init__(self, message: str, result: dict | None = None) -> None:
        super().__init__(message)
        self.result = result or {}


@dataclass
class JobOutcome:
    result: dict = field(default_factory=dict)
    file: str = ""
    filename: str = ""
    content_type: str = ""


# --- files ---------------------------------------------------------------------------------


def job_files_dir() -> Path:
    return Path(settings.ALLIANCE_JOB_FILES_DIR)


def job_file_path(name: str) -> Path:
    """The kept file of that name; ValueError for anything but a name this module made."""
    if not FILE_NAME.match(name):
        raise ValueError("Not a job file name.")
    return job_files_dir() / name


def job_file_write(*, job_id: int | None, suffix: str, write: Callable[[BinaryIO], None]) -> str:
    """Call ``write`` with a temporary file in the jobs directory and, once it returns, rename
    the file to a new random name (returned). On any failure the temporary file is deleted
    and the error raised: there is never a partial file under a kept name."""
    directory = job_files_dir()
    directory.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".job-{job_id or 0}-", suffix=".part", dir=directory
    )
    try:
        with os.fdopen(descriptor, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        name = f"{secrets.token_hex(16)}{suffix}"
        os.replace(temporary, job_file_path(name))
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return name


def job_file_delete(name: str) -> None:
    if name:
        job_file_path(name).unlink(missing_ok=True)


def _parts_delete(job_id: int) -> None:
    """What a run of this job left half written (a worker that died, a retry)."""
    for part in job_files_dir().glob(f".job-{job_id}-*.part"):
        part.unlink(missing_ok=True)


def job_upload_store(*, text: str) -> str:
    """An uploaded CSV kept for the job that will apply it (a random name)."""
    return job_file_write(job_id=None, suffix=".csv", write=lambda out: out.write(text.encode()))


# --- asking for a job, reading it (the pages and the API) -----------------------------------


def job_kind_allowed(*, user: User, kind: str) -> bool:
    """A clinic admin's kinds (the clinic's FHIR bundle, an import, recomputing flags) are
    theirs only; an export of your scope is anyone's of a clinic."""
    return kind not in ADMIN_KINDS or user.is_clinic_admin


def job_request(
    *, user: User, kind: str, client_id: int | None = None, therapist_id: int | None = None
) -> Job:
    """A file job asked for by ``user``: PermissionDenied for someone outside a clinic or a
    kind not theirs, Http404 for a client or therapist outside their scope (as the export
    endpoints), ValidationError for a scope the kind does not take; then job_create."""
    if not (user.is_active and user.clinic_id):
        raise PermissionDenied("Jobs are for people of a clinic.")
    if kind not in FILE_KINDS:
        raise ValidationError({"kind": [f"Choose one of: {', '.join(FILE_KINDS)}."]})
    if not job_kind_allowed(user=user, kind=kind):
        raise PermissionDenied("Only a clinic admin may do this.")
    parameters = {}
    if kind == Kind.FHIR_BUNDLE:
        given = [n for n, v in (("client", client_id), ("therapist", therapist_id)) if v]
        if given:
            message = "The clinic's FHIR bundle covers the whole clinic; no scope applies."
            raise ValidationError({name: [message] for name in given})
    else:
        exports.export_scope(user, client_id=client_id, therapist_id=therapist_id)
        parameters = {
            name: value
            for name, value in (("client", client_id), ("therapist", therapist_id))
            if value is not None
        }
    return job_create(kind=kind, user=user, parameters=parameters)


def ratings_import_job_create(*, user: User, text: str) -> Job:
    """A checked ratings CSV kept for the job that applies it (clinic admins)."""
    if not (user.is_active and user.clinic_id and user.is_clinic_admin):
        raise PermissionDenied("Only a clinic admin may do this.")
    return job_create(kind=Kind.RATINGS_IMPORT, user=user, input_file=job_upload_store(text=text))


def jobs_of(user: User) -> QuerySet[Job]:
    """The user's own jobs, newest first: a job is its requester's only."""
    return Job.objects.filter(requested_by_id=user.pk).order_by("-created_at", "-pk")


def job_get_own(user: User, job_id: int) -> Job:
    """The job, if ``user`` asked for it; Http404 for anyone else (a clinic admin too)."""
    return get_object_or_404(jobs_of(user), pk=job_id)


def job_error_text(job: Job) -> str:
    """What a failed job says: its own message, or the general one (never the details)."""
    if job.state != State.FAILED:
        return ""
    return job.error or _(
        "Something went wrong and the job stopped; no file was kept and nothing is half done. "
        "Please try again; if it keeps failing, tell your administrator."
    )


class JobFileGone(Exception):
    """The job made a file that is no longer kept (410)."""


def job_file_open(*, job: Job) -> BinaryIO:
    """The job's complete file, open for reading. JobFileGone once past its time or deleted;
    Http404 for a job that has no file (not done, failed, or a kind that makes none)."""
    if job.state == State.EXPIRED or (
        job.state == State.DONE and job.file and not job.file_available()
    ):
        raise JobFileGone
    if not job.file_available():
        raise Http404("No file to download.")
    try:
        return job_file_path(job.file).open("rb")
    except (ValueError, FileNotFoundError):
        raise JobFileGone from None


# --- the life of a job -----------------------------------------------------------------------


def job_create(
    *, kind: str, user: User, parameters: dict | None = None, input_file: str = ""
) -> Job:
    """A queued job of the user's clinic, sent to the queue when the transaction commits."""
    from alliance.jobs import tasks  # tasks runs this module's job_run

    job = Job.objects.create(
        kind=kind,
        clinic_id=user.clinic_id,
        requested_by=user,
        parameters={"language": translation.get_language() or settings.LANGUAGE_CODE}
        | (parameters or {}),
        input_file=input_file,
    )
    transaction.on_commit(lambda: tasks.job_run.delay(job.pk))
    return job


def job_again(*, job: Job) -> Job:
    """The same work asked for again (the "try again" of a failed job); an import's uploaded
    file is copied, as each job deletes its own."""
    input_file = ""
    if job.input_file:
        text = job_file_path(job.input_file).read_bytes()
        input_file = job_file_write(job_id=None, suffix=".csv", write=lambda out: out.write(text))
    return job_create(
        kind=job.kind, user=job.requested_by, parameters=job.parameters, input_file=input_file
    )


def job_start(*, job_id: int) -> Job | None:
    """queued -> running, or running again from nothing (a retry, a redelivered message).
    None for a job that is finished (done, failed, expired) or gone: it is not run again."""
    started = Job.objects.filter(pk=job_id, state__in=[State.QUEUED, State.RUNNING]).update(
        state=State.RUNNING,
        started_at=timezone.now(),
        done=0,
        total=None,
        error="",
        attempts=F("attempts") + 1,
    )
    if not started:
        return None
    _parts_delete(job_id)
    return Job.objects.select_related("clinic", "requested_by").get(pk=job_id)


class JobProgress:
    """The progress callback handed to the work: ``progress(done, total=None)``. Writes one
    short UPDATE at most every ``every_seconds`` (and whenever the total changes), never
    one per row."""

    def __init__(
        self,
        job_id: int,
        *,
        every_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.job_id = job_id
        self.every_seconds = every_seconds
        self.clock = clock
        self.total: int | None = None
        self.done = 0
        self.written_at: float | None = None

    def __call__(self, done: int, total: int | None = None) -> None:
        self.done = done
        now = self.clock()
        changed = total is not None and total != self.total
        if changed:
            self.total = total
        if (
            not changed
            and self.written_at is not None
            and now - self.written_at < self.every_seconds
        ):
            return
        fields = {"done": done} if self.total is None else {"done": done, "total": self.total}
        Job.objects.filter(pk=self.job_id, state=State.RUNNING).update(**fields)
        self.written_at = now


def _kept_until():
    return timezone.now() + timezone.timedelta(hours=settings.ALLIANCE_JOB_FILE_HOURS)


def job_finish(*, job_id: int, outcome: JobOutcome) -> bool:
    """running -> done, with its result and file (kept ALLIANCE_JOB_FILE_HOURS)."""
    return bool(
        Job.objects.filter(pk=job_id, state=State.RUNNING).update(
            state=State.DONE,
            finished_at=timezone.now(),
            expires_at=_kept_until(),
            done=Coalesce(F("total"), F("done")),
            result=outcome.result,
            file=outcome.file,
            filename=outcome.filename,
            content_type=outcome.content_type,
        )
    )


def job_fail(*, job_id: int, message: str = "", result: dict | None = None) -> bool:
    """queued or running -> failed. ``message`` is for the requester (empty: the page's
    general one); the details are in the log, never on the page."""
    _parts_delete(job_id)
    return bool(
        Job.objects.filter(pk=job_id, state__in=[State.QUEUED, State.RUNNING]).update(
            state=State.FAILED,
            finished_at=timezone.now(),
            expires_at=_kept_until(),
            error=message[: Job._meta.get_field("error").max_length],
            result=result or {},
        )
    )


def job_run(*, job_id: int) -> Job | None:
    """Run the job if it is queued (or running: started again). A failure the requester can
    act on marks it failed with its message; any other error is raised for the task
    (retried, then marked failed with the general message)."""
    job = job_start(job_id=job_id)
    if job is None:
        logger.info("Job %s is finished or gone: not run again", job_id)
        return None
    progress = JobProgress(job.pk)
    language = job.parameters.get("language") or settings.LANGUAGE_CODE
    try:
        with translation.override(language), timezone.override(job.clinic.tzinfo):
            outcome = RUNNERS[job.kind](job, progress)
    except JobFailed as failed:
        job_fail(job_id=job.pk, message=str(failed), result=failed.result)
        return job
    try:
        if not job_finish(job_id=job.pk, outcome=outcome):
            job_file_delete(outcome.file)  # failed or purged meanwhile: nobody gets the file
    except BaseException:
        job_file_delete(outcome.file)
        raise
    if job.input_file:
        job_file_delete(job.input_file)
        Job.objects.filter(pk=job.pk).update(input_file="")
    return job


# --- the work --------------------------------------------------------------------------------


def _check_admin(job: Job) -> None:
    user = job.requested_by
    if not (user.is_active and user.is_clinic_admin and user.clinic_id == job.clinic_id):
        raise JobFailed(_("Only a clinic admin of this clinic can run this job."))


def _ratings_export(job: Job, progress: JobProgress) -> JobOutcome:
    """Everything in the requester's scope (or the client / caseload in its parameters), as
    the client page's and the API's export: the same code, the same bytes."""
    user = job.requested_by
    if not user.is_active:
        raise JobFailed(_("Your account is no longer active."))
    try:
        scope = exports.export_scope(
            user,
            client_id=job.parameters.get("client"),
            therapist_id=job.parameters.get("therapist"),
        )
    except Http404:
        raise JobFailed(_("What this export covers is no longer in your scope.")) from None
    ratings = exports.ratings_in_scope(user, scope)
    total = exports.ratings_rows_count(ratings)
    progress(0, total)

    def report(rows: int) -> None:
        progress(rows, max(total, rows))

    if job.kind == Kind.RATINGS_XLSX:
        try:
            content = exports.ratings_xlsx(ratings, report)
        except exports.ExportTooLarge as error:
            raise JobFailed(str(error)) from None
        name = job_file_write(job_id=job.pk, suffix=".xlsx", write=lambda out: out.write(content))
        return JobOutcome(
            {"rows": progress.done},
            name,
            exports.ratings_filename(scope, "xlsx"),
            exports.XLSX_TYPE,
        )

    def write(out: BinaryIO) -> None:
        for chunk in exports.ratings_csv_chunks(ratings, report):
            out.write(chunk)

    name = job_file_write(job_id=job.pk, suffix=".csv", write=write)
    return JobOutcome(
        {"rows": progress.done},
        name,
        exports.ratings_filename(scope, "csv"),
        "text/csv; charset=utf-8",
    )


def _fhir_bundle(job: Job, progress: JobProgress) -> JobOutcome:
    _check_admin(job)
    data = fhir.clinic_bundle(job.clinic, progress=progress)
    content = json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False).encode("utf-8")
    name = job_file_write(job_id=job.pk, suffix=".json", write=lambda out: out.write(content))
    stamp = timezone.localdate().isoformat()
    return JobOutcome(
        {"entries": len(data["entry"]), "ratings": progress.done},
        name,
        f"alliance-fhir-{slugify(job.clinic.name) or 'clinic'}-{stamp}.json",
        FHIR_JSON,
    )


def _ratings_import(job: Job, progress: JobProgress) -> JobOutcome:
    """All rows in one transaction (ratings_import_apply): no row count until it is done."""
    _check_admin(job)
    try:
        text = job_file_path(job.input_file).read_text(encoding="utf-8")
    except (ValueError, FileNotFoundError):
        raise JobFailed(_("The uploaded file is no longer kept; please upload it again.")) from None
    try:
        report = ratings_import_apply(clinic=job.clinic, text=text)
    except ImportRejected as rejected:
        raise JobFailed(
            _("The file has problems; nothing was imported."), rejected.report.as_dict()
        ) from None
    summary = report.as_dict()
    summary.pop("clients", None)  # the page shows counts, not client codes
    summary["clients"] = len({planned.client.pk for planned in report.planned})
    return JobOutcome(summary)


def _flags_recompute(job: Job, progress: JobProgress) -> JobOutcome:
    """Every flag of the clinic with its current rule settings, a batch of clients per
    transaction (a retry recomputes them all again: the refresh is idempotent)."""
    _check_admin(job)
    refresh = flag_services.flags_refresh_for_clinic(clinic=job.clinic, progress=progress)
    return JobOutcome(
        {
            "clients": refresh.clients,
            "created": refresh.created,
            "updated": refresh.updated,
            "retired": refresh.retired,
            "unretired": refresh.unretired,
        }
    )


RUNNERS: dict[str, Callable[[Job, JobProgress], JobOutcome]] = {
    Kind.RATINGS_CSV: _ratings_export,
    Kind.RATINGS_XLSX: _ratings_export,
    Kind.FHIR_BUNDLE: _fhir_bundle,
    Kind.RATINGS_IMPORT: _ratings_import,
    Kind.FLAGS_RECOMPUTE: _flags_recompute,
}


# --- the purge -------------------------------------------------------------------------------


def job_files_purge(*, now=None) -> dict[str, int]:
    """Delete the files of jobs past their time (a done job's becomes "expired"), mark jobs
    that lost their worker failed, and delete files no job refers to (an upload never
    applied, a half-written file) once they are as old as a kept file. Idempotent."""
    now = now or timezone.now()
    expired = 0
    for job in Job.objects.filter(expires_at__lte=now).exclude(file="", input_file=""):
        job_file_delete(job.file)
        job_file_delete(job.input_file)
        state = State.EXPIRED if job.state == State.DONE and job.file else job.state
        Job.objects.filter(pk=job.pk).update(file="", input_file="", state=state)
        expired += 1
    stale = Job.objects.filter(
        state__in=[State.QUEUED, State.RUNNING],
        created_at__lt=now - timezone.timedelta(hours=STALE_HOURS),
    ).values_list("pk", flat=True)
    lost = sum(job_fail(job_id=pk) for pk in list(stale))
    orphans = 0
    directory = job_files_dir()
    if directory.is_dir():
        kept = set(Job.objects.exclude(file="").values_list("file", flat=True))
        kept |= set(Job.objects.exclude(input_file="").values_list("input_file", flat=True))
        cutoff = (now - timezone.timedelta(hours=settings.ALLIANCE_JOB_FILE_HOURS)).timestamp()
        for path in directory.iterdir():
            if path.is_file() and path.name not in kept and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                orphans += 1
    return {"expired": expired, "stale": lost, "orphans": orphans}
