"""Messages as Celery tasks: the alert email at once (alliance.notify.alerts), queued on
commit after a notice is made; and, started by beat (settings.CELERY_BEAT_SCHEDULE), the
sweep of alerts at once no email has taken, the two alert digests (hourly: each clinic's
06:00) and the clients' form-link reminders (alliance.notify.reminders). Each looks its
rows up when it runs and is idempotent (claimed notices and reminders, daily and weekly
stamps). And "Forgot your password?"'s message, sent after the page has answered."""

import logging

from celery import shared_task

from alliance.jobs.tasks import RETRIED
from alliance.notify import alerts
from alliance.notify.reminders import formlink_reminders_send
from alliance.people import invitations

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


@shared_task
def password_reset_send(*, email: str, language: str) -> None:
    """ "Forgot your password?": the set-password link, sent after the page has answered.
    Queue it with password_reset_queue, which keeps the address out of the logs. Not retried:
    Celery's retry would send the address again without its hidden form (kwargsrepr); the
    person asks again."""
    invitations.password_reset_send(email=email, language=language)


def password_reset_queue(*, email: str, language: str) -> None:
    """Queue the message; a queue that cannot be reached is logged (without the address),
    and the page answers as always: it never says whether anything was sent."""
    try:
        password_reset_send.apply_async(
            kwargs={"email": email, "language": language}, kwargsrepr="{'email': '(hidden)'}"
        )
    except Exception as exc:  # the broker's client errors: kombu, redis, OSError...
        logger.error("Password reset not queued: %s", type(exc).__name__)
