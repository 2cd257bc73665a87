"""Background jobs with a progress bar: a job's life (queued -> running -> done / failed),
its progress, the file it makes, and the purge of old files.

A page creates the job as queued and sends it to the queue once its transaction commits
(``job_create``; if the queue cannot be reached the job is marked failed at once, with
"try again"); the worker runs it by id (``alliance.jobs.tasks.job_run`` -> ``job_start`` and
``job_execute`` here), so a job that is done or failed is never run again. Each run holds a
lease: its attempt number, and a heartbeat written with its progress. A second delivery of a
job that is running with a fresh heartbeat does nothing; one whose heartbeat is older than
LEASE_MINUTES (its worker died) starts again from nothing, and the superseded run's writes
(progress, done, failed) change nothing, as each names its attempt. The work itself is the
existing code (exports, FHIR, the import, the clinic's flag refresh), which reports progress
through a small callback.

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
from django.db.models import F, Q, QuerySet
from django.db.models.functions import Coalesce
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone, translation
from django.utils.text import slugify
from django.utils.translation import gettext as _
from kombu.exceptions import KombuError

from alliance.flags import services as flag_services
from alliance.interop import exports, fhir
from alliance.interop.imports import ImportRejected, ratings_import_apply
from alliance.models import Job, User

logger = logging.getLogger(__name__)

Kind = Job.Kind
State = Job.State
# The jobs that make a file to download (what the Exports page and POST /api/v1/jobs/ start).
FILE_KINDS = (Kind.RATINGS_CSV, Kind.RATINGS_XLSX, Kind.FHIR_BUNDLE)
ADMIN_KINDS = (Kind.FHIR_BUNDLE, Kind.RATINGS_IMPORT, Kind.FLAGS_RECOMPUTE)
# A kept file's name: random hex and an extension, nothing a path could be built from.
FILE_NAME = re.compile(r"^[0-9a-f]{32}\.(csv|xlsx|json)$")
# A job queued or running this long has lost its worker: the purge marks it failed.
STALE_HOURS = 6
# A running job whose last progress (heartbeat) is older than this has lost its worker: a
# redelivered message may start it again. Progress is written at most once a second.
LEASE_MINUTES = 10
# A finished job's row is deleted this many days after its file and details expired
# (``expires_at``): its page says "expired" meanwhile, then the job is gone.
ROW_DAYS = 30
# What a job's result may hold only while it is fresh: an import's problems and warnings can
# name client codes, which must not outlive the client (the purge removes them at
# ``expires_at``). The clients' codes themselves are never stored.
RESULT_DETAILS = ("problems", "warnings")
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
    # Already marked done by the work itself (the import, in its own transaction).
    finished: bool = False


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
    """The user's own jobs, newest first: a job is its requester's only, and only while they
    are active in the job's clinic (a requester moved to another clinic or deactivated has
    none)."""
    if not (user.is_active and user.clinic_id):
        return Job.objects.none()
    return Job.objects.filter(requested_by_id=user.pk, clinic_id=user.clinic_id).order_by(
        "-created_at", "-pk"
    )


def job_get_own(user: User, job_id: int) -> Job:
    """The job, if ``user`` asked for it (see jobs_of); Http404 for anyone else (a clinic
    admin too)."""
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
    transaction.on_commit(lambda: _job_send(tasks.job_run, job.pk))
    return job


def _job_send(task, job_id: int) -> None:
    """Send the job to the queue; if the queue cannot be reached the job is failed at once
    with a message saying to try again (its page offers "Try again"), not left waiting."""
    try:
        task.delay(job_id)
    except (KombuError, OSError) as exc:  # ConnectionError is an OSError
        logger.error("Job %s could not be sent to the queue: %r", job_id, exc)
        job_fail(
            job_id=job_id,
            message=_("The job could not be started: please try again in a few minutes."),
        )


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


def job_start(*, job_id: int, after: int | None = None) -> Job | None:
    """queued -> running as a new attempt (one conditional UPDATE: of two deliveries at once,
    one wins). A running job is started again from nothing only if its heartbeat is stale
    (older than LEASE_MINUTES: its worker died) or if ``after`` is its attempt (the task's
    own retry of that attempt, after a database error). None otherwise, and for a job that is
    finished or gone: nothing is run. The returned job's ``attempts`` is this run's lease."""
    now = timezone.now()
    restartable = Q(heartbeat_at__isnull=True) | Q(
        heartbeat_at__lt=now - timezone.timedelta(minutes=LEASE_MINUTES)
    )
    if after is not None:
        restartable |= Q(attempts=after)
    started = (
        Job.objects.filter(pk=job_id)
        .filter(Q(state=State.QUEUED) | (Q(state=State.RUNNING) & restartable))
        .update(
            state=State.RUNNING,
            started_at=now,
            heartbeat_at=now,
            done=0,
            total=None,
            error="",
            attempts=F("attempts") + 1,
        )
    )
    if not started:
        return None
    _parts_delete(job_id)
    return Job.objects.select_related("clinic", "requested_by").get(pk=job_id)


def _attempt(job_id: int, attempt: int | None):
    """The job's row, if ``attempt`` is still its running attempt (None: any)."""
    rows = Job.objects.filter(pk=job_id)
    return rows if attempt is None else rows.filter(attempts=attempt)


class JobProgress:
    """The progress callback handed to the work: ``progress(done, total=None)``. Writes one
    short UPDATE at most every ``every_seconds`` (and whenever the total changes), never
    one per row."""

    def __init__(
        self,
        job_id: int,
        *,
        attempt: int | None = None,
        every_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.job_id = job_id
        self.attempt = attempt
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
        fields = {"done": done, "heartbeat_at": timezone.now()}
        if self.total is not None:
            fields["total"] = self.total
        _attempt(self.job_id, self.attempt).filter(state=State.RUNNING).update(**fields)
        self.written_at = now


def _kept_until():
    return timezone.now() + timezone.timedelta(hours=settings.ALLIANCE_JOB_FILE_HOURS)


def job_finish(*, job_id: int, outcome: JobOutcome, attempt: int | None = None) -> bool:
    """running -> done, with its result and file (kept ALLIANCE_JOB_FILE_HOURS); False if
    the job is no longer this attempt's (failed, purged, or started again)."""
    return bool(
        _attempt(job_id, attempt)
        .filter(state=State.RUNNING)
        .update(
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


def job_fail(
    *, job_id: int, message: str = "", result: dict | None = None, attempt: int | None = None
) -> bool:
    """queued or running -> failed (only if still ``attempt``'s, when given). ``message`` is
    for the requester (empty: the page's general one); the details are in the log, never on
    the page."""
    failed = bool(
        _attempt(job_id, attempt)
        .filter(state__in=[State.QUEUED, State.RUNNING])
        .update(
            state=State.FAILED,
            finished_at=timezone.now(),
            expires_at=_kept_until(),
            error=message[: Job._meta.get_field("error").max_length],
            result=result or {},
        )
    )
    if failed:
        _parts_delete(job_id)
    return failed


def job_run(*, job_id: int) -> Job | None:
    """Start the job (job_start) and run it (job_execute); None if it was not started."""
    job = job_start(job_id=job_id)
    if job is None:
        logger.info("Job %s is finished, gone or running elsewhere: not run", job_id)
        return None
    return job_execute(job=job)


def job_execute(*, job: Job) -> Job:
    """Run a started job (this attempt's lease: ``job.attempts``). A failure the requester
    can act on marks it failed with its message; any other error is raised for the task
    (retried, then marked failed with the general message)."""
    attempt = job.attempts
    progress = JobProgress(job.pk, attempt=attempt)
    language = job.parameters.get("language") or settings.LANGUAGE_CODE
    try:
        with translation.override(language), timezone.override(job.clinic.tzinfo):
            outcome = RUNNERS[job.kind](job, progress)
    except JobFailed as failed:
        job_fail(job_id=job.pk, message=str(failed), result=failed.result, attempt=attempt)
        return job
    try:
        if not outcome.finished and not job_finish(job_id=job.pk, outcome=outcome, attempt=attempt):
            job_file_delete(outcome.file)  # failed, purged or superseded: nobody gets it
    except BaseException:
        job_file_delete(outcome.file)
        raise
    if job.input_file and _attempt(job.pk, attempt).filter(state=State.DONE).exists():
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
        # Two steps a row: read, then written into the workbook.
        progress(0, 2 * total)
        try:
            content = exports.ratings_xlsx(ratings, lambda steps: progress(steps, 2 * total))
        except exports.ExportTooLarge as error:
            raise JobFailed(str(error)) from None
        name = job_file_write(job_id=job.pk, suffix=".xlsx", write=lambda out: out.write(content))
        return JobOutcome(
            {"rows": total},
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


def _import_summary(report) -> dict:
    """An import's report as a job keeps it: counts, never the clients' codes (the problems
    and warnings, which may name one, are removed by the purge at ``expires_at``)."""
    summary = report.as_dict()
    summary["clients"] = len({planned.client.pk for planned in report.planned})
    return summary


def _ratings_import(job: Job, progress: JobProgress) -> JobOutcome:
    """All rows in one transaction (ratings_import_apply): no row count until it is done.
    The job is marked done in that same transaction, so an import is applied once: if the
    marking fails nothing was imported and the retry imports; once it committed, the job is
    done and a redelivered message does nothing. The job's row is locked first, so a second
    run (PostgreSQL) waits for this one and then finds the job done."""
    _check_admin(job)
    try:
        text = job_file_path(job.input_file).read_text(encoding="utf-8")
    except (ValueError, FileNotFoundError):
        raise JobFailed(_("The uploaded file is no longer kept; please upload it again.")) from None
    try:
        with transaction.atomic():
            lease = _attempt(job.pk, job.attempts).filter(state=State.RUNNING)
            if not lease.select_for_update().exists():
                logger.info("Job %s: superseded before its import; nothing imported", job.pk)
                return JobOutcome(finished=True)
            report = ratings_import_apply(clinic=job.clinic, text=text)
            outcome = JobOutcome(_import_summary(report), finished=True)
            if not job_finish(job_id=job.pk, outcome=outcome, attempt=job.attempts):
                raise RuntimeError(f"Job {job.pk} lost its lease during the import")
    except ImportRejected as rejected:
        raise JobFailed(
            _("The file has problems; nothing was imported."), _import_summary(rejected.report)
        ) from None
    return outcome


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
    """Delete the files of jobs past their time (a done job's becomes "expired") and the
    details of their result (RESULT_DETAILS: an import's problems, which may name clients),
    delete the rows of jobs expired ROW_DAYS ago, mark jobs that lost their worker failed,
    and delete files no job refers to (an upload never applied, a half-written file) once
    they are as old as a kept file. Idempotent."""
    now = now or timezone.now()
    expired = 0
    details = Q()
    for key in RESULT_DETAILS:
        details |= Q(result__has_key=key)
    past = Job.objects.filter(expires_at__lte=now)
    for job in past.filter(~Q(file="") | ~Q(input_file="") | details):
        job_file_delete(job.file)
        job_file_delete(job.input_file)
        state = State.EXPIRED if job.state == State.DONE and job.file else job.state
        result = {k: v for k, v in job.result.items() if k not in RESULT_DETAILS}
        Job.objects.filter(pk=job.pk).update(file="", input_file="", state=state, result=result)
        expired += 1
    deleted, _by_model = Job.objects.filter(
        expires_at__lte=now - timezone.timedelta(days=ROW_DAYS), file="", input_file=""
    ).delete()
    stale = (
        Job.objects.filter(
            state__in=[State.QUEUED, State.RUNNING],
            created_at__lt=now - timezone.timedelta(hours=STALE_HOURS),
        )
        # A run that still writes its progress is alive, however long it takes.
        .exclude(heartbeat_at__gte=now - timezone.timedelta(minutes=LEASE_MINUTES))
        .values_list("pk", flat=True)
    )
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
    return {"expired": expired, "stale": lost, "orphans": orphans, "deleted": deleted}
