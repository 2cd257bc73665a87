"""The job queue (alliance/celery.py, alliance/jobs/tasks.py): beat's schedule names real jobs,
each job does what its management command does, and a job runs through a real Celery
worker on Redis (required in CI, skipped here when no Redis answers) and on the queue of
files that `make run`'s own worker uses."""

import contextlib
import datetime as dt
import os
import threading

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from celery.exceptions import Retry
from celery.signals import task_postrun
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone

from alliance.celery import app
from alliance.jobs import tasks
from alliance.models import Client, ClinicOverviewSnapshot, Job, PendingFlagRefresh
from tests.factories import ClientFactory, ClinicAdminFactory

REDIS_URL = os.environ.get("ALLIANCE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def test_beat_starts_only_jobs_that_exist():
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert scheduled == {
        "alliance.jobs.tasks.flags_refresh_pending",
        "alliance.jobs.tasks.overviews_refresh",
        "alliance.jobs.tasks.expired_purge",
        "alliance.notify.tasks.formlink_reminders",
        "alliance.notify.tasks.notices_email_unsent_at_once",
        "alliance.notify.tasks.notices_daily_digest",
        "alliance.notify.tasks.supervisors_weekly_digest",
        "alliance.jobs.tasks.job_files_purge",
    }
    assert scheduled <= set(app.tasks)


def test_without_a_broker_a_job_runs_at_once_in_the_process():
    assert settings.CELERY_TASK_ALWAYS_EAGER  # the tests have no broker


def test_redis_does_not_hand_a_running_job_to_another_worker_too_soon():
    """Jobs are acknowledged when done: Redis's visibility_timeout (default 1 h) must be
    longer than the longest job, which the purge fails after STALE_HOURS."""
    from alliance.jobs import services as job_services

    timeout = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    assert timeout >= job_services.STALE_HOURS * 3600


@pytest.mark.django_db
def test_the_overview_job_refreshes_each_clinics_overview(clinic_admin):
    assert tasks.overviews_refresh.delay().get() == 1
    assert ClinicOverviewSnapshot.objects.filter(clinic=clinic_admin.clinic).count() == 1


@pytest.mark.django_db
def test_the_pending_flags_job_retries_the_failed_refreshes(therapist, instruments):
    client = ClientFactory(primary_therapist=therapist)
    PendingFlagRefresh.objects.create(client=client, failed_at=timezone.now())
    assert tasks.flags_refresh_pending.delay().get() == {"refreshed": 1, "failing": 0}
    assert not PendingFlagRefresh.objects.exists()


@pytest.mark.django_db
def test_the_purge_job_removes_clients_past_retention(therapist):
    kept = ClientFactory(primary_therapist=therapist, code="KEPT")
    gone = ClientFactory(primary_therapist=therapist, code="GONE")
    gone.status = Client.Status.DISCHARGED
    gone.discharged_at = timezone.now() - dt.timedelta(days=therapist.clinic.retention_days + 1)
    gone.save()
    assert tasks.expired_purge.delay().get() == 1
    assert list(Client.objects.values_list("code", flat=True)) == [kept.code]


@pytest.mark.django_db
def test_a_job_is_retried_while_the_database_cannot_be_reached(monkeypatch):
    def unreachable():
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(tasks.flag_services, "flags_refresh_pending", unreachable)
    # Retry is how a job tells its worker to run it again, after a backoff (30 s, 60 s...).
    with pytest.raises(Retry, match="could not connect to server"):
        tasks.flags_refresh_pending.delay()


def _redis_answers() -> bool:
    try:
        return redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.exceptions.RedisError:
        return False


@contextlib.contextmanager
def _worker(**conf):
    """A Celery worker in this process on the broker ``conf`` names, and the jobs it
    finished."""
    finished: dict[str, object] = {}
    done = threading.Event()

    def record(sender=None, task_id=None, retval=None, state=None, **kwargs):
        finished[task_id] = (state, retval)
        done.set()

    task_postrun.connect(record, weak=False)
    conf["task_always_eager"] = False
    previous = {key: app.conf[key] for key in conf}
    app.conf.update(conf)
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
            yield finished, done
    finally:
        app.conf.update(previous)
        task_postrun.disconnect(record)


@pytest.fixture
def redis_worker():
    """A worker on a real Redis broker, as in production."""
    if not _redis_answers():
        message = (
            f"needs Redis at {REDIS_URL} (CI starts it; locally: redis-server --daemonize yes)"
        )
        if os.environ.get("ALLIANCE_REDIS") == "require":
            pytest.fail(message)
        pytest.skip(message)
    redis.Redis.from_url(REDIS_URL).flushdb()
    with _worker(broker_url=REDIS_URL) as worker:
        yield worker


@pytest.fixture
def files_worker(tmp_path):
    """A worker on a queue kept in files, as `make run` starts it (settings: filesystem://)."""
    queue = {"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path)}
    options = {**queue, "control_folder": str(tmp_path / "control"), "store_processed": False}
    with _worker(broker_url="filesystem://", broker_transport_options=options) as worker:
        yield worker


def _overview_job_through(worker, broker_url: str) -> None:
    finished, done = worker
    admin = ClinicAdminFactory()
    with app.connection_for_write(broker_url) as connection:
        sent = tasks.overviews_refresh.apply_async(connection=connection)
    assert done.wait(timeout=60), "the worker did not finish the job"
    assert finished[sent.id] == ("SUCCESS", 1)
    assert ClinicOverviewSnapshot.objects.filter(clinic=admin.clinic).exists()


@pytest.mark.django_db(transaction=True)
def test_a_job_runs_through_a_real_worker_on_redis(redis_worker):
    _overview_job_through(redis_worker, REDIS_URL)


@pytest.mark.django_db(transaction=True)
def test_a_job_runs_through_make_runs_worker_on_a_queue_of_files(files_worker):
    _overview_job_through(files_worker, "filesystem://")


@pytest.mark.django_db(transaction=True)
def test_an_export_job_runs_through_a_real_worker_on_redis(redis_worker, settings):
    """A page's job as a worker runs it: by id, in another thread, the file in the shared
    job files directory."""
    finished, done = redis_worker
    admin = ClinicAdminFactory()
    job = Job.objects.create(kind=Job.Kind.RATINGS_CSV, clinic=admin.clinic, requested_by=admin)
    with app.connection_for_write(REDIS_URL) as connection:
        sent = tasks.job_run.apply_async(args=[job.pk], connection=connection)
    assert done.wait(timeout=60), "the worker did not finish the job"
    assert finished[sent.id][0] == "SUCCESS"
    job.refresh_from_db()
    assert job.state == Job.State.DONE, job.error
    assert (settings.ALLIANCE_JOB_FILES_DIR / job.file).read_bytes().startswith(b"clinic,")
