"""Alert emails: at once, the daily digest and the supervisor's weekly digest.

At once: queued on commit after a notice is made (alliance.notify.services), and swept every
15 minutes (``notices_email_unsent_at_once``) for notices older than AT_ONCE_SWEEP_AFTER that
no email has claimed: a send that failed, or a broker that could not take the task.
The digests go out in the 06:00 hour of each clinic's own time (``Clinic.timezone``): beat
runs them hourly and each person is stamped once per local day (``User.daily_digest_at``) or
local week from Monday (``User.weekly_digest_at``).

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
import zoneinfo

from django.conf import settings
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from alliance.dashboards.queue import risk_queue
from alliance.models import AccessEvent, Clinic, Episode, Notice, User
from alliance.notify.email import email_send
from alliance.people.selectors import supervisees_of
from alliance.security.audit import audit_record

logger = logging.getLogger(__name__)

DIGEST_HOUR = 6  # the digests go out in the 06:00 hour of the clinic's time
# The email at once normally leaves within seconds; the sweep leaves it that long first.
AT_ONCE_SWEEP_AFTER = dt.timedelta(minutes=5)


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
        # Who was told, by the alerts (a system job): never the address.
        audit_record(
            action=AccessEvent.Action.CREATE,
            user=user,
            username="alerts",
            roles="system",
            clinic_id=user.clinic_id,
            object_type="alert_email",
        )
    return sent


def _link(name: str) -> str:
    return settings.ALLIANCE_BASE_URL + reverse(name)


def _recipients(alert_email: str):
    return (
        User.objects.filter(is_active=True, alert_email=alert_email, clinic__isnull=False)
        .exclude(email="")
        .select_related("clinic")
    )


def _notices_email(
    user: User, *, what: str, template: str, made_before: dt.datetime | None = None
) -> int:
    """Claim the user's unread notices not yet emailed (made before ``made_before``, now by
    default) and send one message with their count; the number sent about (0: nothing new,
    or not sent)."""
    now = timezone.now()
    ids = list(
        Notice.objects.visible_to(user)
        .unread()
        .filter(emailed_at__isnull=True, created_at__lte=made_before or now)
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


def notices_email_unsent_at_once(*, now: dt.datetime | None = None) -> int:
    """The sweep behind the email at once: each at-once person with unread notices made more
    than AT_ONCE_SWEEP_AFTER ago that no email has claimed gets them in one message (claimed
    first, so the task on commit and the sweep never send one twice). Returns how many
    people were emailed."""
    now = now or timezone.now()
    before = now - AT_ONCE_SWEEP_AFTER
    people = (
        _recipients(User.AlertEmail.IMMEDIATELY)
        .filter(
            notices__read_at__isnull=True,
            notices__emailed_at__isnull=True,
            notices__created_at__lte=before,
        )
        .distinct()
    )
    return sum(
        1
        for user in people
        if _notices_email(user, what="alert at once", template="alert", made_before=before)
    )


def _digest_timezones(now: dt.datetime, *, monday: bool = False) -> list[str]:
    """The clinics' time zones where it is now the digest hour (and Monday, if asked)."""
    zones = Clinic.objects.values_list("timezone", flat=True).distinct()
    return [
        name
        for name in zones
        if (local := now.astimezone(zoneinfo.ZoneInfo(name))).hour == DIGEST_HOUR
        and (not monday or local.weekday() == 0)
    ]


def local_day_start(now: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """Midnight of ``now``'s date in ``tz``: one daily digest per local day."""
    return dt.datetime.combine(now.astimezone(tz).date(), dt.time.min, tzinfo=tz)


def notices_daily_digest(*, now: dt.datetime | None = None) -> int:
    """Each daily-digest person with new unread notices whose clinic's time is in the
    06:00 hour, and who has not had today's (their clinic's date) digest, gets one message
    with their count. Run hourly. Returns how many people were emailed."""
    now = now or timezone.now()
    people = (
        _recipients(User.AlertEmail.DAILY)
        .filter(
            clinic__timezone__in=_digest_timezones(now),
            notices__read_at__isnull=True,
            notices__emailed_at__isnull=True,
        )
        .distinct()
    )
    sent = 0
    for user in people:
        today = local_day_start(now, user.clinic.tzinfo)
        claim = User.objects.filter(pk=user.pk).filter(
            Q(daily_digest_at__isnull=True) | Q(daily_digest_at__lt=today)
        )
        if not claim.update(daily_digest_at=now):
            continue  # another run has sent today's
        if _notices_email(user, what="daily alert digest", template="daily_digest"):
            sent += 1
        else:  # nothing new in scope, or not sent: the day's digest is still to come
            User.objects.filter(pk=user.pk, daily_digest_at=now).update(
                daily_digest_at=user.daily_digest_at
            )
    return sent


def week_start(now: dt.datetime, tz: dt.tzinfo = dt.UTC) -> dt.datetime:
    """Monday 00:00 of ``now``'s week in ``tz``: one supervisor digest per week."""
    day = now.astimezone(tz).date()
    monday = day - dt.timedelta(days=day.weekday())
    return dt.datetime.combine(monday, dt.time.min, tzinfo=tz)


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


def supervisors_weekly_digest(*, now: dt.datetime | None = None) -> int:
    """Each supervisor (with supervisees, an address, and emails not switched off) gets one
    message a week, on Monday in the 06:00 hour of their clinic's time, with their queue's
    counts and a link to the supervision page. Run hourly. Returns how many were emailed."""
    now = now or timezone.now()
    supervisors = (
        User.objects.filter(
            is_active=True,
            is_supervisor=True,
            clinic__timezone__in=_digest_timezones(now, monday=True),
        )
        .exclude(email="")
        .exclude(alert_email=User.AlertEmail.NONE)
        .select_related("clinic")
    )
    sent = 0
    for supervisor in supervisors:
        monday = week_start(now, supervisor.clinic.tzinfo)
        if supervisor.weekly_digest_at is not None and supervisor.weekly_digest_at >= monday:
            continue
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
