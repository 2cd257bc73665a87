"""Alert emails as Celery tasks (alliance.notify.emails): the one at once, queued on commit
after a notice is made, and the two digests started by beat (settings.CELERY_BEAT_SCHEDULE).
Each looks its rows up when it runs and is idempotent (claimed notices, a weekly stamp)."""

import logging

from celery import shared_task

from alliance.jobs.tasks import RETRIED
from alliance.notify import emails

logger = logging.getLogger(__name__)


@shared_task(**RETRIED)
def notices_email_at_once(user_id: int) -> int:
    return emails.notices_email_at_once(user_id)


@shared_task(**RETRIED)
def notices_daily_digest() -> int:
    """`manage.py send_alert_digests --daily`."""
    emailed = emails.notices_daily_digest()
    logger.info("Daily alert digest: %d person(s) emailed", emailed)
    return emailed


@shared_task(**RETRIED)
def supervisors_weekly_digest() -> int:
    """`manage.py send_alert_digests --weekly`."""
    emailed = emails.supervisors_weekly_digest()
    logger.info("Supervisor weekly digest: %d supervisor(s) emailed", emailed)
    return emailed
