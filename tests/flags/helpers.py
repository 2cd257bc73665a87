"""Build client courses with chosen totals, for the flag tests."""

import datetime as dt

from django.utils import timezone

from measures.services import rating_record
from sessions.models import TherapySession
from tests.factories import TherapySessionFactory

ITEMS = ["bond_1", "goal_1", "task_1", "bond_2", "goal_2", "task_2"]


def answers_for(total: float) -> dict[str, int]:
    """Six answers (1-5) whose mean is ``total`` (a multiple of 1/6)."""
    points = round(total * len(ITEMS))
    base, extra = divmod(points, len(ITEMS))
    return {key: base + (1 if i < extra else 0) for i, key in enumerate(ITEMS)}


def course(
    client,
    instruments,
    client_totals=(),
    therapist_totals=(),
    *,
    tension=(),
    cancelled=(),
    refresh=False,
):
    """Completed sessions 1..n with these totals (None: no form), returned by number.

    ``tension``: session numbers where the client answered yes to the tension item;
    ``cancelled``: session numbers that were cancelled (no forms). Flags are refreshed
    once at the end when ``refresh`` is true (rating_record only stores).
    """
    count = max(len(client_totals), len(therapist_totals))
    start = timezone.now() - dt.timedelta(weeks=count + 1)
    sessions = {}
    for number in range(1, count + 1):
        held = number not in cancelled
        session = TherapySessionFactory(
            client=client,
            number=number,
            starts_at=start + dt.timedelta(weeks=number),
            status=TherapySession.Status.COMPLETED if held else TherapySession.Status.CANCELLED,
        )
        sessions[number] = session
        if not held:
            continue
        total = client_totals[number - 1] if number <= len(client_totals) else None
        if total is not None:
            rating_record(
                session=session,
                instrument=instruments["client"],
                answers=answers_for(total),
                questions={"tension": "yes" if number in tension else "no"},
            )
        total = therapist_totals[number - 1] if number <= len(therapist_totals) else None
        if total is not None:
            rating_record(
                session=session,
                instrument=instruments["therapist"],
                answers=answers_for(total),
                submitted_by=session.therapist,
            )
    if refresh:
        from alliance.flags.services import flags_refresh_for_client

        flags_refresh_for_client(client=client)
    return sessions


def flag_rows(client):
    """The client's flags as comparable tuples (identity and detection fields)."""
    return sorted(
        client.flags.values_list(
            "pk",
            "session__number",
            "rater",
            "scale",
            "rule",
            "magnitude",
            "explanation",
            "repair_status",
            "repaired_session__number",
            "retired_at",
            "episode__session__number",
            "episode__status",
        )
    )


def next_session(client):
    """A completed session after the client's last one, a week later, without forms."""
    last = client.sessions.order_by("-number").first()
    return TherapySessionFactory(
        client=client,
        number=last.number + 1,
        starts_at=last.starts_at + dt.timedelta(weeks=1),
        status=TherapySession.Status.COMPLETED,
    )
