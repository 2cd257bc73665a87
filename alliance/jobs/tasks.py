"""The jobs a user asks for (job_run: an export, a FHIR bundle, an import, recomputing a
clinic's flags; alliance/jobs/services.py), and the periodic jobs, started by Celery beat
(settings.CELERY_BEAT_SCHEDULE), each what a management command does by hand: the same
service, the same result.

Each is idempotent (running it twice leaves what running it once leaves) and retried with
backoff while the database cannot be reached; what each did is logged, and a refresh that
still fails stays in its own list (PendingFlagRefresh) for the next run and for the admins.
"""

import logging

from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval
from django.db import InterfaceError, OperationalError

from alliance.dashboards.overview import clinic_overviews_refresh
from alliance.flags import services as flag_services
from alliance.jobs import services as job_services
from alliance.security.services import expired_clients_purge

logger = logging.getLogger(__name__)

RETRIED = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 30,  # 30 s, 60 s, 120 s... (with jitter)
    "retry_backoff_max": 600,
    "max_retries": 5,
}


@shared_task(**RETRIED)
def flags_refresh_pending() -> dict[str, int]:
    """`manage.py refresh_flags --pending`: retry the flag refreshes that failed or waited
    after a rating was stored."""
    refreshed, failing = flag_services.flags_refresh_pending()
    if failing:
        logger.warning("Flag refresh: %d client(s) still failing", failing)
    return {"refreshed": refreshed, "failing": failing}


@shared_task(**RETRIED)
def overviews_refresh() -> int:
    """`manage.py refresh_overview`: each clinic's overview computed ahead of the page."""
    return clinic_overviews_refresh()


@shared_task(**RETRIED)
def expired_purge() -> int:
    """`manage.py purge_expired`: discharged clients past their clinic's retention."""
    purged = expired_clients_purge()
    for client, _removed in purged:
        logger.info("Purged client %s of clinic %s past retention", client.pk, client.clinic_id)
    return len(purged)


@shared_task(**RETRIED)
def job_files_purge() -> dict[str, int]:
    """Background jobs' files past ALLIANCE_JOB_FILE_HOURS: deleted, the jobs marked expired."""
    purged = job_services.job_files_purge()
    if any(purged.values()):
        logger.info("Job files purged: %s", purged)
    return purged


@shared_task(bind=True, max_retries=RETRIED["max_retries"])
def job_run(self, job_id: int, after: int | None = None) -> None:
    """Run one job by id: a job already done or failed is not run again, nor one running
    elsewhere with a fresh heartbeat (a message delivered twice); one whose worker died is
    started again (services.job_start). Retried with backoff while the database cannot be
    reached (``after``: the attempt the retry takes over); on any other error, or when the
    retries are spent, this attempt is marked failed (the page says so in general words) and
    the error is logged."""
    job = None
    try:
        job = job_services.job_start(job_id=job_id, after=after)
        if job is None:
            logger.info("Job %s is finished, gone or running elsewhere: not run", job_id)
            return
        job_services.job_execute(job=job)
    except (OperationalError, InterfaceError) as exc:
        attempt = job.attempts if job is not None else after
        if self.request.retries < self.max_retries:
            countdown = get_exponential_backoff_interval(
                factor=RETRIED["retry_backoff"],
                retries=self.request.retries,
                maximum=RETRIED["retry_backoff_max"],
                full_jitter=True,
            )
            logger.warning("Job %s: database unavailable, retried in %s s", job_id, countdown)
            raise self.retry(
                args=[job_id], kwargs={"after": attempt}, exc=exc, countdown=countdown
            ) from exc
        logger.exception("Job %s failed: database unavailable after retries", job_id)
        job_services.job_fail(job_id=job_id, attempt=attempt)
    except Exception:
        logger.exception("Job %s failed", job_id)
        job_services.job_fail(job_id=job_id, attempt=job.attempts if job is not None else after)
