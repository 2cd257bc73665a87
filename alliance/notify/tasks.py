"""Messages as Celery tasks: the alert email at once (alliance.notify.alerts), queued on
commit after a notice is made; and, started by beat (settings.CELERY_BEAT_SCHEDULE), the
sweep of alerts at once no email has taken, the two alert digests (hourly: each clinic's
06:00) and the clients' form-link reminders (alliance.notify.reminders). Each looks its
rows up when it runs and is idempotent (claimed notices and reminders, daily and weekly
stamps)."""

import logging

from celery import shared_task

from alliance.jobs.tasks import RETRIED
from alliance.notify import alerts
from alliance.notify.reminders import formlink_reminders_send

logger = logging.getLogger(__name__)


@shared_task(**RETRIED)
def notices_email_at_once(user_id: int) -> int:
    return alerts.notices_email_at_once(user_id)


@shared_task(**RETRIED)
def notices_email_unsent_at_once() -> int:
    """Alerts at once that no email has taken (a failed send, a broker that was down)."""
    emailed = alerts.notices_email_unsent_at_once()
    if emailed:
        logger.info("Alerts at once swept: %d person(s) emailed", emailed)
    return emailed


@shared_task(**RETRIED)
def notices_daily_digest() -> int:
    """`manage.py send_alert_digests --daily`."""
    emailed = alerts.notices_daily_digest()
    logger.info("Daily alert digest: %d person(s) emailed", emailed)
    return emailed


@shared_task(**RETRIED)
def supervisors_weekly_digest() -> int:
    """`manage.py send_alert_digests --weekly`."""
    emailed = alerts.supervisors_weekly_digest()
    logger.info("Supervisor weekly digest: %d supervisor(s) emailed", emailed)
    return emailed


@shared_task(**RETRIED)
def formlink_reminders() -> int:
    """`manage.py send_reminders`: remind clients of unused form links (each reminder is
    claimed before it is sent, so a retry or a second run never sends it twice)."""
    return formlink_reminders_send()
