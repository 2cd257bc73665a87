"""Background jobs (alliance.jobs): the life of a job (queued, running, progress, done,
failed), the export job's file against the synchronous export, its failure path, the
retries, the purge of old files, the FHIR bundle and the ratings import as jobs."""

import datetime as dt
import io
import json
import logging
import os

import pandas as pd
import pytest
import time_machine
from django.db import OperationalError
from django.utils import timezone

from alliance.flags import services as flag_services
from alliance.interop import exports, fhir
from alliance.interop.exports import ExportScope
from alliance.jobs import services as job_services
from alliance.jobs import tasks
from alliance.models import Job
from measures.models import Rating, ScaleScore
from tests.factories import ClientFactory, TherapySessionFactory, rating_of

pytestmark = pytest.mark.django_db

Kind = Job.Kind
State = Job.State


def _course(client, instruments, sessions=3):
    now = timezone.now()
    for number in range(1, sessions + 1):
        session = TherapySessionFactory(
            client=client, number=number, starts_at=now - dt.timedelta(days=7 * number)
        )
        rating_of(session, instruments["client"], refresh_flags=False)
        rating_of(session, instruments["therapist"], refresh_flags=False)


@pytest.fixture
def ratings(therapist, other_therapist, instruments):
    """Three sessions rated by both for the therapist's client and another therapist's."""
    _course(ClientFactory(primary_therapist=therapist, code="OWN-1"), instruments)
    _course(ClientFactory(primary_therapist=other_therapist, code="OTHER-1"), instruments)


def files(settings) -> list[str]:
    directory = settings.ALLIANCE_JOB_FILES_DIR
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def queued(kind, user, django_capture_on_commit_callbacks, **kwargs) -> Job:
    """A job as a page creates it: queued, its task sent once the transaction commits."""
    with django_capture_on_commit_callbacks() as sent:
        job = job_services.job_create(kind=kind, user=user, **kwargs)
    assert len(sent) == 1
    return job


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_life_of_a_job(therapist, ratings, settings, django_capture_on_commit_callbacks):
    job = queued(Kind.RATINGS_CSV, therapist, django_capture_on_commit_callbacks)
    job.refresh_from_db()
    assert (job.state, job.clinic, job.requested_by, job.percent) == (
        State.QUEUED,
        therapist.clinic,
        therapist,
        None,
    )
    assert job.parameters == {"language": "en"}

    started = job_services.job_start(job_id=job.pk)
    assert started.state == State.RUNNING and started.attempts == 1
    assert started.started_at is not None

    clock = FakeClock()
    progress = job_services.JobProgress(job.pk, clock=clock)
    progress(0, 200)  # the total: written at once
    job.refresh_from_db()
    assert (job.done, job.total, job.percent) == (0, 200, 0)
    clock.now = 0.5
    progress(50)  # within a second of the last write: not written
    job.refresh_from_db()
    assert job.done == 0
    clock.now = 1.2
    progress(80)
    job.refresh_from_db()
    assert (job.done, job.percent) == (80, 40)

    with time_machine.travel(dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC), tick=False):
        outcome = job_services.JobOutcome({"rows": 200}, "", "x.csv", "text/csv")
        assert job_services.job_finish(job_id=job.pk, outcome=outcome)
    job.refresh_from_db()
    assert job.state == State.DONE and job.finished
    assert (job.done, job.percent) == (200, 100)
    assert job.expires_at == dt.datetime(2026, 3, 3, 9, 0, tzinfo=dt.UTC)
    # Finished: never started again.
    assert job_services.job_start(job_id=job.pk) is None


def test_the_csv_export_job_writes_what_the_export_streams(
    therapist, ratings, settings, django_capture_on_commit_callbacks
):
    job = queued(Kind.RATINGS_CSV, therapist, django_capture_on_commit_callbacks)
    assert files(settings) == []
    tasks.job_run.delay(job.pk)
    job.refresh_from_db()
    assert job.state == State.DONE, job.error
    # In the clinic's time, as a page's request is (and the job): the file's name has its date.
    with timezone.override(therapist.clinic.tzinfo):
        response = exports.ratings_response(therapist, ExportScope(), "csv")
        expected = b"".join(response.streaming_content)
    content = job_services.job_file_path(job.file).read_bytes()
    assert content == expected
    assert b"OWN-1" in content and b"OTHER-1" not in content
    rows = ScaleScore.objects.filter(rating__in=Rating.objects.visible_to(therapist)).count()
    assert rows > 0
    assert (job.done, job.total, job.result["rows"]) == (rows, rows, rows)
    assert job.content_type == "text/csv; charset=utf-8"
    assert job.filename == response["Content-Disposition"].split('"')[1]
    assert files(settings) == [job.file]  # nothing else left behind


def test_the_excel_export_job(therapist, ratings, django_capture_on_commit_callbacks):
    job = queued(Kind.RATINGS_XLSX, therapist, django_capture_on_commit_callbacks)
    tasks.job_run.delay(job.pk)
    job.refresh_from_db()
    assert job.state == State.DONE and job.filename.endswith(".xlsx")
    workbook = pd.read_excel(job_services.job_file_path(job.file), sheet_name="ratings")
    expected = exports.ratings_frame(exports.ratings_in_scope(therapist, ExportScope()))
    assert list(workbook.columns) == exports.RATING_COLUMNS
    assert list(workbook["client_code"]) == list(expected["client_code"])
    # Two steps a row: read, then written into the workbook; all of them done.
    assert len(workbook) == job.result["rows"] == job.total // 2 == job.done // 2


def test_the_excel_export_reports_reading_then_writing(therapist, ratings):
    told = []
    ratings_in_scope = exports.ratings_in_scope(therapist, ExportScope())
    exports.ratings_xlsx(ratings_in_scope, told.append)
    rows = exports.ratings_rows_count(ratings_in_scope)
    assert told == [rows, 2 * rows]  # all read (a small export: one report), then all written


def test_an_export_that_fails_midway_leaves_no_file_and_says_so(
    therapist, ratings, settings, django_capture_on_commit_callbacks, monkeypatch, caplog
):
    real = exports.ratings_csv_chunks

    def breaks_midway(ratings, progress=None):
        chunks = real(ratings, progress)
        yield next(chunks)  # the heading is written
        raise RuntimeError("the disk broke")

    monkeypatch.setattr(exports, "ratings_csv_chunks", breaks_midway)
    job = queued(Kind.RATINGS_CSV, therapist, django_capture_on_commit_callbacks)
    with caplog.at_level(logging.ERROR, logger="alliance.jobs.tasks"):
        tasks.job_run.delay(job.pk)
    job.refresh_from_db()
    assert job.state == State.FAILED and job.finished
    assert job.error == ""  # the page's general message; the details are in the log
    assert job.file == ""
    assert files(settings) == []  # neither a kept file nor the half-written one
    assert "the disk broke" in caplog.text
    # Not run again.
    tasks.job_run.delay(job.pk)
    job.refresh_from_db()
    assert (job.state, job.attempts) == (State.FAILED, 1)


def test_an_excel_export_too_large_fails_with_what_to_do(
    therapist, ratings, monkeypatch, settings, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(exports, "XLSX_MAX_ROWS", 3)
    job = queued(Kind.RATINGS_XLSX, therapist, django_capture_on_commit_callbacks)
    tasks.job_run.delay(job.pk)
    job.refresh_from_db()
    assert job.state == State.FAILED
    assert "Download CSV instead" in job.error
    assert files(settings) == []


def _running_with_a_part(job, settings, at):
    with time_machine.travel(at, tick=False):
        job_services.job_start(job_id=job.pk)
    Job.objects.filter(pk=job.pk).update(done=7, total=9)
    settings.ALLIANCE_JOB_FILES_DIR.mkdir(parents=True)
    (settings.ALLIANCE_JOB_FILES_DIR / f".job-{job.pk}-abc.part").write_bytes(b"client_code\nOW")


def test_a_message_delivered_again_while_its_job_runs_does_nothing(
    therapist, ratings, settings, django_capture_on_commit_callbacks
):
    """acks_late: the broker may deliver a long job's message again while it runs. The
    second delivery leaves the live run alone: its attempt, its progress, its file."""
    job = queued(Kind.RATINGS_CSV, therapist, django_capture_on_commit_callbacks)
    start = timezone.now()
    _running_with_a_part(job, settings, start)
    with time_machine.travel(start + dt.timedelta(minutes=9), tick=False):
        job_services.JobProgress(job.pk, attempt=1)(8, 9)  # its heartbeat
    with time_machine.travel(start + dt.timedelta(minutes=18), tick=False):
        tasks.job_run.delay(job.pk)
    job.refresh_from_db()
    assert (job.state, job.attempts, job.done, job.total) == (State.RUNNING, 1, 8, 9)
    assert files(settings) == [f".job-{job.pk}-abc.part"]


def test_a_running_job_whose_worker_died_starts_again_from_nothing(
    therapist, ratings, settings, django_capture_on_commit_callbacks
):
    """No heartbeat for LEASE_MINUTES: the message that comes back starts it again, and the
    half-written file goes."""
    job = queued(Kind.RATINGS_CSV, therapist, django_capture_on_commit_callbacks)
    start = timezone.now()
    _running_with_a_part(job, settings, start - dt.timedelta(minutes=11))
    tasks.job_run.delay(job.pk)
    job.refresh_from_db()
    assert (job.state, job.attempts) == (State.DONE, 2)
    assert files(settings) == [job.file]


def test_a_superseded_run_changes_nothing(therapist, ratings, django_capture_on_commit_callbacks):
    """The first run was slow, not dead: once a second attempt holds the job, the first
    one's progress, finish and failure are not written."""
    job = queued(Kind.RATINGS_CSV, therapist, django_capture_on_commit_callbacks)
    with time_machine.travel(timezone.now() - dt.timedelta(minutes=30), tick=False):
        first = job_services.job_start(job_id=job.pk)
    second = job_services.job_start(job_id=job.pk)
    assert (first.attempts, second.attempts) == (1, 2)
    job_services.JobProgress(job.pk, attempt=2)(3, 10)
    job_services.JobProgress(job.pk, attempt=1)(9, 10)
    outcome = job_services.JobOutcome({"rows": 10}, "", "x.csv", "text/csv")
    assert not job_services.job_finish(job_id=job.pk, outcome=outcome, attempt=1)
    assert not job_services.job_fail(job_id=job.pk, attempt=1)
    job.refresh_from_db()
    assert (job.state, job.attempts, job.done) == (State.RUNNING, 2, 3)
    assert job_services.job_finish(job_id=job.pk, outcome=outcome, attempt=2)
    job.refresh_from_db()
    assert (job.state, job.result) == (State.DONE, {"rows": 10})


def test_database_errors_are_retried_then_the_job_fails(
    therapist, ratings, monkeypatch, django_capture_on_commit_callbacks
):
    real = job_services.RUNNERS[Kind.RATINGS_CSV]
    calls = []

    def flaky(job, progress):
        calls.append(job.attempts)
        if len(calls) <= 2:
            raise OperationalError("server closed the connection")
        return real(job, progress)

    # As a worker runs it: a retry is sent again (here at once), not raised to the caller.
    # Each retry takes over the attempt that failed, although its heartbeat is fresh.
    monkeypatch.setitem(tasks.job_run.app.conf, "task_eager_propagates", False)
    monkeypatch.setitem(job_services.RUNNERS, Kind.RATINGS_CSV, flaky)
    job = queued(Kind.RATINGS_CSV, therapist, django_capture_on_commit_callbacks)
    tasks.job_run.apply(args=[job.pk])
    job.refresh_from_db()
    assert calls == [1, 2, 3] and (job.state, job.attempts) == (State.DONE, 3)

    def down(job, progress):
        calls.append(job.attempts)
        raise OperationalError("server closed the connection")

    monkeypatch.setitem(job_services.RUNNERS, Kind.RATINGS_CSV, down)
    calls.clear()
    other = queued(Kind.RATINGS_CSV, therapist, django_capture_on_commit_callbacks)
    tasks.job_run.apply(args=[other.pk])
    other.refresh_from_db()
    assert len(calls) == 1 + tasks.RETRIED["max_retries"]
    assert (other.state, other.error) == (State.FAILED, "")


def test_the_clinic_fhir_bundle_job(clinic_admin, ratings, django_capture_on_commit_callbacks):
    job = queued(Kind.FHIR_BUNDLE, clinic_admin, django_capture_on_commit_callbacks)
    tasks.job_run.delay(job.pk)
    job.refresh_from_db()
    assert job.state == State.DONE and job.content_type == "application/fhir+json"
    data = json.loads(job_services.job_file_path(job.file).read_text())
    expected = fhir.clinic_bundle(clinic_admin.clinic)
    assert [e["fullUrl"] for e in data["entry"]] == [e["fullUrl"] for e in expected["entry"]]
    assert fhir.bundle_validate(data) == []
    ratings_count = Rating.objects.filter(session__client__clinic=clinic_admin.clinic).count()
    assert (job.done, job.total, job.result["ratings"]) == (ratings_count,) * 3


def test_only_a_clinic_admin_gets_the_clinic_bundle(
    therapist, ratings, settings, django_capture_on_commit_callbacks
):
    job = queued(Kind.FHIR_BUNDLE, therapist, django_capture_on_commit_callbacks)
    tasks.job_run.delay(job.pk)
    job.refresh_from_db()
    assert job.state == State.FAILED and "clinic admin" in job.error
    assert files(settings) == []


IMPORT = (
    "client_code,session_number,session_date,rater,therapist,"
    "bond_1,goal_1,task_1,bond_2,goal_2,task_2,tension,comment\n"
)


def test_the_import_job_applies_and_reports(
    clinic_admin, client_of_therapist, instruments, settings, django_capture_on_commit_callbacks
):
    day = (timezone.localdate() - dt.timedelta(days=2)).isoformat()
    text = IMPORT + (
        f"R-0001,1,{day},client,therapist,4,4,4,4,4,4,no,\n"
        f"R-0001,1,{day},therapist,therapist,3,3,3,3,3,3,,\n"
    )
    upload = job_services.job_upload_store(text=text)
    job = queued(
        Kind.RATINGS_IMPORT, clinic_admin, django_capture_on_commit_callbacks, input_file=upload
    )
    tasks.job_run.delay(job.pk)
    job.refresh_from_db()
    assert job.state == State.DONE, job.error
    assert Rating.objects.filter(session__client=client_of_therapist).count() == 2
    assert job.result["ratings"] == 2 and job.result["sessions_created"] == 1
    assert job.result["clients"] == 1  # a count: no client codes kept in the job
    assert job.input_file == "" and files(settings) == []


def test_the_import_is_applied_once_when_marking_it_done_fails(
    clinic_admin, client_of_therapist, instruments, monkeypatch, django_capture_on_commit_callbacks
):
    """The job is marked done in the import's transaction: when that fails nothing was
    imported, and the retry imports the file (once) and ends done."""
    day = (timezone.localdate() - dt.timedelta(days=2)).isoformat()
    text = IMPORT + f"R-0001,1,{day},client,therapist,4,4,4,4,4,4,no,\n"
    upload = job_services.job_upload_store(text=text)
    real = job_services.job_finish
    calls = []

    def flaky(**kwargs):
        calls.append(Rating.objects.count())
        if len(calls) == 1:
            raise OperationalError("server closed the connection")
        return real(**kwargs)

    monkeypatch.setitem(tasks.job_run.app.conf, "task_eager_propagates", False)
    monkeypatch.setattr(job_services, "job_finish", flaky)
    job = queued(
        Kind.RATINGS_IMPORT, clinic_admin, django_capture_on_commit_callbacks, input_file=upload
    )
    tasks.job_run.apply(args=[job.pk])
    job.refresh_from_db()
    assert calls == [1, 1]  # each time inside the import's transaction
    assert (job.state, job.attempts, job.error) == (State.DONE, 2, "")
    assert job.result["ratings"] == 1
    assert Rating.objects.filter(session__client=client_of_therapist).count() == 1
    # Delivered again after it committed: done, nothing run.
    tasks.job_run.apply(args=[job.pk])
    job.refresh_from_db()
    assert (job.state, job.attempts) == (State.DONE, 2)


def test_an_import_with_problems_fails_with_its_report(
    clinic_admin, client_of_therapist, instruments, django_capture_on_commit_callbacks
):
    upload = job_services.job_upload_store(text=IMPORT + "R-0001,1,,client,,4,4,4,4,4,9,,\n")
    job = queued(
        Kind.RATINGS_IMPORT, clinic_admin, django_capture_on_commit_callbacks, input_file=upload
    )
    tasks.job_run.delay(job.pk)
    job.refresh_from_db()
    assert job.state == State.FAILED and "nothing was imported" in job.error
    assert job.result["problems"]
    assert Rating.objects.count() == 0
    # Kept for "try again" until the purge.
    assert job_services.job_file_path(job.input_file).exists()


def test_a_failed_import_keeps_no_client_code_past_its_time(
    clinic_admin, client_of_therapist, instruments, django_capture_on_commit_callbacks
):
    """The clients' codes are never stored; the problems (which may name one) go when the
    job expires, and the job's row some days later."""
    day = (timezone.localdate() - dt.timedelta(days=2)).isoformat()
    text = IMPORT + (
        f"R-0001,1,{day},client,therapist,4,4,4,4,4,4,no,\n"
        f"NO-SUCH-CLIENT,1,{day},client,therapist,4,4,4,4,4,4,no,\n"
    )
    upload = job_services.job_upload_store(text=text)
    job = queued(
        Kind.RATINGS_IMPORT, clinic_admin, django_capture_on_commit_callbacks, input_file=upload
    )
    tasks.job_run.delay(job.pk)
    job.refresh_from_db()
    assert job.state == State.FAILED
    stored = json.dumps(job.result)
    assert "R-0001" not in stored  # the client the file would have rated
    assert job.result["clients"] == 1
    assert "NO-SUCH-CLIENT" in stored  # its problem, shown while the job is fresh

    assert job_services.job_files_purge(now=job.expires_at)["expired"] == 1
    job.refresh_from_db()
    assert "problems" not in job.result and "NO-SUCH-CLIENT" not in json.dumps(job.result)
    assert job.input_file == ""
    later = job.expires_at + dt.timedelta(days=job_services.ROW_DAYS)
    assert job_services.job_files_purge(now=later - dt.timedelta(minutes=1))["deleted"] == 0
    assert job_services.job_files_purge(now=later)["deleted"] == 1
    assert not Job.objects.filter(pk=job.pk).exists()


def test_the_purge_deletes_old_files_once(
    therapist, ratings, settings, django_capture_on_commit_callbacks
):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        job = queued(Kind.RATINGS_CSV, therapist, django_capture_on_commit_callbacks)
        tasks.job_run.delay(job.pk)
        young_upload = job_services.job_upload_store(text="a,b\n")
    job.refresh_from_db()
    assert job.file_available()
    # A file of a job that lost its worker, a day old; a job that never started.
    with time_machine.travel(start - dt.timedelta(hours=30), tick=False):
        lost = queued(Kind.RATINGS_CSV, therapist, django_capture_on_commit_callbacks)
        old_upload = job_services.job_upload_store(text="a,b\n")
    old = settings.ALLIANCE_JOB_FILES_DIR / old_upload
    old_time = (start - dt.timedelta(hours=30)).timestamp()
    os.utime(old, (old_time, old_time))

    assert job_services.job_files_purge(now=start + dt.timedelta(hours=1)) == {
        "expired": 0,
        "stale": 1,
        "orphans": 1,
        "deleted": 0,
    }
    lost.refresh_from_db()
    assert lost.state == State.FAILED
    assert sorted(files(settings)) == sorted([job.file, young_upload])

    later = start + dt.timedelta(hours=settings.ALLIANCE_JOB_FILE_HOURS, minutes=1)
    with time_machine.travel(later, tick=False):
        assert tasks.job_files_purge() == {"expired": 1, "stale": 0, "orphans": 1, "deleted": 0}
        job.refresh_from_db()
        assert (job.state, job.file) == (State.EXPIRED, "")
        assert files(settings) == []
        # Idempotent.
        assert tasks.job_files_purge() == {"expired": 0, "stale": 0, "orphans": 0, "deleted": 0}


def test_a_job_file_name_is_never_a_path():
    for name in ("../settings.py", "/etc/passwd", "abc.csv", ".job-1-x.part"):
        with pytest.raises(ValueError, match="Not a job file name"):
            job_services.job_file_path(name)


def test_the_writer_keeps_nothing_when_writing_fails(settings):
    def write(out: io.BufferedWriter) -> None:
        out.write(b"half")
        raise OSError("no space left")

    with pytest.raises(OSError, match="no space left"):
        job_services.job_file_write(job_id=1, suffix=".csv", write=write)
    assert files(settings) == []


def test_the_clinic_refresh_reports_its_progress_per_batch(therapist, instruments):
    for code in ("A-1", "A-2", "A-3"):
        ClientFactory(primary_therapist=therapist, code=code)
    seen = []
    flag_services.flags_refresh_for_clinic(
        clinic=therapist.clinic,
        batch_size=2,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen == [(0, 3), (2, 3), (3, 3)]


def test_progress_is_written_while_the_export_streams(
    therapist, ratings, monkeypatch, django_capture_on_commit_callbacks
):
    """Small chunks and a progress write at every report: the writes go between the rows
    the export reads (a server-side cursor on PostgreSQL) and change nothing in the file."""
    monkeypatch.setattr(exports, "CSV_CHUNK_ROWS", 2)
    monkeypatch.setattr(exports, "FETCH_ROWS", 2)
    written = []

    class EveryReport(job_services.JobProgress):
        def __init__(self, job_id, **kwargs):
            super().__init__(job_id, **kwargs | {"every_seconds": 0})

        def __call__(self, done, total=None):
            super().__call__(done, total)
            written.append(Job.objects.values_list("done", "total").get(pk=self.job_id))

    monkeypatch.setattr(job_services, "JobProgress", EveryReport)
    job = queued(Kind.RATINGS_CSV, therapist, django_capture_on_commit_callbacks)
    tasks.job_run.delay(job.pk)
    job.refresh_from_db()
    assert job.state == State.DONE, job.error
    rows = job.total
    assert written == [(done, rows) for done in [0, *range(2, rows + 1, 2)]]
    expected = b"".join(exports.ratings_response(therapist, ExportScope(), "csv").streaming_content)
    assert job_services.job_file_path(job.file).read_bytes() == expected
