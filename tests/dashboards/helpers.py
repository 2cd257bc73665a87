"""Build courses with chosen totals on chosen dates, for the dashboard tests."""

import datetime as dt

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from measures.services import rating_record
from sessions.models import TherapySession
from tests.factories import FlagFactory, TherapySessionFactory
from tests.flags.helpers import answers_for


def weekly_course(
    client, instruments, client_totals=(), therapist_totals=(), *, start=None, therapist=None
):
    """Completed weekly sessions 1..n from ``start`` with these totals (None: no form), by
    number. Ratings go through the rating service; flags are not computed (tests place
    them with ``flag``)."""
    count = max(len(client_totals), len(therapist_totals))
    start = start or timezone.now() - dt.timedelta(weeks=count)
    sessions = {}
    for index in range(count):
        number = index + 1
        session = TherapySessionFactory(
            client=client,
            therapist=therapist or client.primary_therapist,
            number=number,
            starts_at=start + dt.timedelta(weeks=index),
            status=TherapySession.Status.COMPLETED,
        )
        sessions[number] = session
        for rater, totals in (("client", client_totals), ("therapist", therapist_totals)):
            total = totals[index] if index < len(totals) else None
            if total is None:
                continue
            extra = {"submitted_by": session.therapist} if rater == "therapist" else {}
            rating_record(
                session=session,
                instrument=instruments[rater],
                answers=answers_for(total),
                submitted_at=session.starts_at + dt.timedelta(hours=1),
                **extra,
            )
    return sessions


def flag(session, rule="reliable_drop", *, rater="client", scale="total", status=None, **fields):
    """A flag on a session, as the engine would store it, in the episode of its client,
    session and kind: the episode's repair status follows its active flags as
    ``group_episodes`` makes it, and it is retired when none is active. ``status``
    (acknowledged, resolved) is set on the episode, now."""
    made = FlagFactory(session=session, rule=rule, rater=rater, scale=scale, **fields)
    episode = made.episode
    repairs = list(episode.flags.filter(retired_at__isnull=True).values_list("repair_status"))
    found = {repair for (repair,) in repairs if repair}
    if "unrepaired" in found:
        episode.repair_status = "unrepaired"
    elif found == {"repaired"}:
        episode.repair_status = "repaired"
    else:
        episode.repair_status = "pending" if found else ""
    episode.retired_at = None if repairs else made.retired_at
    if status is not None:
        episode.status = status
        now = timezone.now()
        episode.acknowledged_at = now if status == "acknowledged" else episode.acknowledged_at
        episode.resolved_at = now if status == "resolved" else episode.resolved_at
    episode.save()
    return made


def queries_for(client, url, params=None, *, status=200) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, params or {})
    assert response.status_code == status, response.content[:500]
    return len(ctx.captured_queries)
