"""Alert emails: at once, the daily digest and the supervisor's weekly digest.

Each message holds the clinic's name, a count, a general reason and a link, in the
recipient's language (``User.language``); never a client's code or name, a score, a
comment or a flag's text. Notices are claimed before sending (``emailed_at`` set by one
UPDATE that only unclaimed rows match), so a run repeated or run twice at once sends
nothing twice; a message that could not be sent gives its claim back for the next run.
Inactive people and those without an address are skipped; ``alert_email = none`` means no
email at all, the supervisor's digest included.
"""

import datetime as dt
import logging

from django.conf import settings
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from alliance.dashboards.queue import risk_queue
from alliance.models import Episode, Notice, User
from alliance.notify.email import email_send
from alliance.people.selectors import supervisees_of

logger = logging.getLogger(__name__)


def _send(user: User, template: str, context: dict, what: str) -> bool:
    """Render ``notify/email/<template>_subject.txt`` and ``_body.txt`` in the user's
    language and send them."""
    with translation.override(user.language or settings.LANGUAGE_CODE):
        context = {"clinic": user.clinic.name if user.clinic else "", **context}
        subject = render_to_string(f"notify/email/{template}_subject.txt", context)
        body = render_to_string(f"notify/email/{template}_body.txt", context)
    sent = email_send(subject=subject, body=body, to=user.email, what=f"{what}, user {user.pk}")
    if sent:
        logger.info("Alert email sent (%s) to user %s", what, user.pk)
    return sent


def _link(name: str) -> str:
    return settings.ALLIANCE_BASE_URL + reverse(name)


def _recipients(alert_email: str):
    return (
        User.objects.filter(is_active=True, alert_email=alert_email, clinic__isnull=False)
        .exclude(email="")
        .select_related("clinic")
    )


def _notices_email(user: User, *, what: str, template: str) -> int:
    """Claim the user's unread notices not yet emailed and send one message with their
    count; the number sent about (0: nothing new, or not sent)."""
    now = timezone.now()
    ids = list(
        Notice.objects.visible_to(user)
        .unread()
        .filter(emailed_at__isnull=True, created_at__lte=now)
        .values_list("pk", flat=True)
    )
    if not ids:
        return 0
    claimed = Notice.objects.filter(pk__in=ids, emailed_at__isnull=True)
    count = claimed.update(emailed_at=now)
    if not count:
        return 0  # another run has them
    context = {"count": count, "link": _link("notice_list")}
    if not _send(user, template, context, what):
        Notice.objects.filter(pk__in=ids, emailed_at=now).update(emailed_at=None)
        return 0
    return count


def notices_email_at_once(user_id: int) -> int:
    """The email of someone who chose alerts at once: their new notices, one message."""
    user = _recipients(User.AlertEmail.IMMEDIATELY).filter(pk=user_id).first()
    if user is None:
        return 0
    return _notices_email(user, what="alert at once", template="alert")


def notices_daily_digest() -> int:
    """Each daily-digest person with new unread notices gets one message with their
    count. Returns how many people were emailed."""
    people = (
        _recipients(User.AlertEmail.DAILY)
        .filter(notices__read_at__isnull=True, notices__emailed_at__isnull=True)
        .distinct()
    )
    return sum(
        1
        for user in people
        if _notices_email(user, what="daily alert digest", template="daily_digest")
    )


def week_start(now: dt.datetime) -> dt.datetime:
    """Monday 00:00 UTC of ``now``'s week: one supervisor digest per week."""
    day = now.astimezone(dt.UTC).date()
    monday = day - dt.timedelta(days=day.weekday())
    return dt.datetime.combine(monday, dt.time.min, tzinfo=dt.UTC)


def supervisor_queue_counts(supervisor: User) -> dict[str, int] | None:
    """What the supervision page's queue counts (alliance.dashboards.risk_queue): the
    supervisees' active clients, those needing a look, open and unrepaired flags. None
    without supervisees."""
    supervisees = list(supervisees_of(supervisor))
    if not supervisees:
        return None
    queue = risk_queue(supervisor, supervisees, limit=1)
    facts = [fact for client_facts in queue.facts.values() for fact in client_facts]
    return {
        "therapists": len(supervisees),
        "clients": queue.clients,
        "attention": queue.attention,
        "open": sum(1 for fact in facts if fact.is_open),
        "unrepaired": sum(
            1 for fact in facts if fact.repair_status == Episode.RepairStatus.UNREPAIRED
        ),
    }


def supervisors_weekly_digest() -> int:
    """Each supervisor (with supervisees, an address, and emails not switched off) gets one
    message a week with their queue's counts and a link to the supervision page. Returns
    how many were emailed."""
    now = timezone.now()
    monday = week_start(now)
    supervisors = (
        User.objects.filter(is_active=True, is_supervisor=True, clinic__isnull=False)
        .exclude(email="")
        .exclude(alert_email=User.AlertEmail.NONE)
        .filter(Q(weekly_digest_at__isnull=True) | Q(weekly_digest_at__lt=monday))
        .select_related("clinic")
    )
    sent = 0
    for supervisor in supervisors:
        counts = supervisor_queue_counts(supervisor)
        if counts is None:
            continue
        claim = User.objects.filter(pk=supervisor.pk).filter(
            Q(weekly_digest_at__isnull=True) | Q(weekly_digest_at__lt=monday)
        )
        if not claim.update(weekly_digest_at=now):
            continue  # another run has sent it
        context = {**counts, "link": _link("supervision")}
        if _send(supervisor, "weekly_digest", context, "supervisor weekly digest"):
            sent += 1
        else:
            User.objects.filter(pk=supervisor.pk, weekly_digest_at=now).update(
                weekly_digest_at=supervisor.weekly_digest_at
            )
    return sent
