"""Periodic jobs, started by Celery beat (settings.CELERY_BEAT_SCHEDULE), each what a
management command does by hand: the same service, the same result.

Each is idempotent (running it twice leaves what running it once leaves) and retried with
backoff while the database cannot be reached; what each did is logged, and a refresh that
still fails stays in its own list (PendingFlagRefresh) for the next run and for the admins.
"""

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError

from alliance.dashboards.overview import clinic_overviews_refresh
from alliance.flags import services as flag_services
from alliance.people import invitations
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
def password_reset_send(*, email: str, language: str) -> None:
    """ "Forgot your password?": the set-password link, sent after the page has answered.
    Queue it with password_reset_queue, which keeps the address out of the logs."""
    invitations.password_reset_send(email=email, language=language)


def password_reset_queue(*, email: str, language: str) -> None:
    password_reset_send.apply_async(
        kwargs={"email": email, "language": language}, kwargsrepr="{'email': '(hidden)'}"
    )
