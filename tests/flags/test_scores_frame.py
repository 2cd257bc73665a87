"""The scores frame built in plain Python gives the frame the pandas version gave: the same
rows, order, columns and dtypes, and the same session ids, on awkward data (two ratings by
one rater in a session, ratings without scores, sessions without forms, cancelled and
no-show sessions, tension yes/no/unanswered, several clients)."""

import datetime as dt
import uuid

import numpy as np
import pandas as pd
import pytest
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from alliance.analytics.config import TENSION_SCALE
from alliance.flags import selectors as flag_selectors
from alliance.models import Client
from measures.models import Rater, Rating, ScaleScore
from sessions.models import TherapySession
from tests.factories import ClientFactory, TherapySessionFactory, rating_of
from tests.flags.helpers import answers_for

Status = TherapySession.Status
START = dt.datetime(2025, 1, 6, 9, tzinfo=dt.UTC)


def reference_scores_frame(rows: list[tuple]) -> flag_selectors.ScoresFrame:
    """The pandas implementation scores_frame had before it was built in plain Python, with
    positions: held sessions ranked by date, then number, per client."""
    raw = pd.DataFrame.from_records(
        rows,
        columns=[
            "client",
            "number",
            "session_id",
            "status",
            "starts_at",
            "rating",
            "rater",
            "tension",
            "scale",
            "score",
        ],
    )
    raw = raw[raw["status"] == Status.COMPLETED]
    held = raw.drop_duplicates("session_id").sort_values(["client", "starts_at", "number"])
    held = held.assign(session=held.groupby("client").cumcount() + 1)
    raw = raw.merge(held[["session_id", "session"]], on="session_id", how="left")
    session_ids = dict(
        zip(
            zip(held["client"].tolist(), held["session"].tolist(), strict=True),
            held["session_id"].tolist(),
            strict=True,
        )
    )
    rated = raw[raw["rating"].notna()]
    latest = (
        rated.drop_duplicates("rating")
        .sort_values("rating", kind="stable")
        .drop_duplicates(["session_id", "rater"], keep="last")
    )
    rated = rated[rated["rating"].isin(latest["rating"])]
    scored = rated[rated["scale"].notna()]
    tension = latest[(latest["rater"] == Rater.CLIENT) & latest["tension"].notna()]
    with_client_form = set(latest.loc[latest["rater"] == Rater.CLIENT, "session_id"])
    completed = raw[raw["status"] == Status.COMPLETED].drop_duplicates("session_id")
    no_client_form = completed[~completed["session_id"].isin(with_client_form)]
    parts = [
        pd.DataFrame(
            {
                "client": scored["client"],
                "rater": scored["rater"],
                "scale": scored["scale"],
                "session": scored["session"],
                "number": scored["number"],
                "score": scored["score"],
            }
        ),
        pd.DataFrame(
            {
                "client": tension["client"],
                "rater": Rater.CLIENT.value,
                "scale": TENSION_SCALE,
                "session": tension["session"],
                "number": tension["number"],
                "score": tension["tension"].astype(float),
            }
        ),
        pd.DataFrame(
            {
                "client": no_client_form["client"],
                "rater": Rater.CLIENT.value,
                "scale": "total",
                "session": no_client_form["session"],
                "number": no_client_form["number"],
                "score": np.nan,
            }
        ),
    ]
    parts = [part for part in parts if len(part)]
    columns = flag_selectors.SCORES_COLUMNS
    scores = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    scores["score"] = pd.to_numeric(scores["score"], errors="coerce").astype(float)
    scores["session"] = scores["session"].astype("int64")
    scores["number"] = scores["number"].astype("int64")
    scores = scores[columns].reset_index(drop=True)
    scores = scores.astype({"rater": "category", "scale": "category"})
    return flag_selectors.ScoresFrame(scores=scores, session_ids=session_ids)


def assert_same_frame(rows: list[tuple]) -> flag_selectors.ScoresFrame:
    built = flag_selectors.scores_frame_from_rows(rows)
    expected = reference_scores_frame(rows)
    pd.testing.assert_frame_equal(built.scores, expected.scores, check_exact=True)
    assert list(built.session_ids.items()) == list(expected.session_ids.items())
    return built


# --- any rows the query can give -----------------------------------------------------------


@st.composite
def query_rows(draw: st.DrawFn) -> list[tuple]:
    """Rows as the scores query gives them, in any order, rating ids in any order."""
    rows = []
    rating_ids = iter(draw(st.permutations(range(1, 40))))
    session_id = 0
    for client in range(1, draw(st.integers(1, 3)) + 1):
        for number in range(1, draw(st.integers(0, 5)) + 1):
            session_id += 1
            status = draw(st.sampled_from(Status.values))
            # Dates in any order against the numbers, ties included.
            starts_at = START + dt.timedelta(days=draw(st.integers(0, 3)))
            session = (client, number, session_id, status, starts_at)
            ratings = draw(st.lists(st.sampled_from(Rater.values), max_size=3))
            if not ratings:
                rows.append((*session, None, None, None, None, None))
            for rater in ratings:
                rating = (next(rating_ids), rater, draw(st.sampled_from([True, False, None])))
                scales = draw(st.lists(st.sampled_from(["bond", "goal", "total"]), unique=True))
                if not scales:
                    rows.append((*session, *rating, None, None))
                for scale in scales:
                    score = draw(st.one_of(st.none(), st.sampled_from([1.0, 2.5, 4.0, 5.0])))
                    rows.append((*session, *rating, scale, score))
    return draw(st.permutations(rows))


@settings(max_examples=300, deadline=None)
@given(rows=query_rows())
def test_the_frame_is_the_pandas_versions_on_any_rows(rows):
    assert_same_frame(rows)


def test_no_rows_give_the_empty_frame_with_the_engine_columns():
    built = assert_same_frame([])
    assert built.scores.empty
    assert list(built.scores.columns) == flag_selectors.SCORES_COLUMNS
    assert built.session_ids == {}


# --- from the database ---------------------------------------------------------------------


@pytest.mark.django_db
def test_the_frame_is_the_pandas_versions_on_awkward_courses(
    therapist, instruments, second_client_form
):
    shipped = instruments[Rater.CLIENT]
    other = second_client_form
    start = timezone.now() - dt.timedelta(weeks=10)
    statuses = [
        Status.COMPLETED,
        Status.COMPLETED,
        Status.CANCELLED,
        Status.COMPLETED,
        Status.NO_SHOW,
        Status.COMPLETED,
        Status.SCHEDULED,
    ]
    first, second = (ClientFactory(primary_therapist=therapist) for _ in range(2))
    sessions = {
        (person.pk, number): TherapySessionFactory(
            client=person,
            therapist=therapist,
            number=number,
            starts_at=start + dt.timedelta(weeks=number),
            status=status,
        )
        for person in (first, second)
        for number, status in enumerate(statuses, start=1)
    }

    def client_form(person, number, total, tension, instrument=shipped):
        questions = {} if tension is None else {"tension": tension}
        session = sessions[(person.pk, number)]
        return rating_of(
            session, instrument, answers_for(total), questions=questions, refresh_flags=False
        )

    # First client: two client forms in session 1 (the later one counts, tension "no"
    # overriding "yes"), tension unanswered at 2, no client form at 4, a therapist rating
    # without scores at 4 and a scale left unscored at 6.
    client_form(first, 1, 4.5, "yes")
    client_form(first, 1, 3.0, "no", instrument=other)
    client_form(first, 2, 4.0, None)
    rating_of(sessions[(first.pk, 1)], instruments[Rater.THERAPIST], refresh_flags=False)
    Rating.objects.create(
        session=sessions[(first.pk, 4)],
        instrument=instruments[Rater.THERAPIST],
        rater=Rater.THERAPIST,
        submitted_by=therapist,
        submitted_at=timezone.now(),
        submission_id=uuid.uuid4(),
    )
    unscored = client_form(first, 6, 2.5, "yes")
    ScaleScore.objects.filter(rating=unscored, scale="bond").update(score=None)
    # Second client: the later stored form of session 2 has the lower id's instrument.
    client_form(second, 2, 2.0, "yes", instrument=other)
    client_form(second, 2, 5.0, None)
    client_form(second, 6, 3.5, "no")

    clients = Client.objects.filter(pk__in=[first.pk, second.pk])
    rows = list(
        TherapySession.objects.filter(client__in=clients)
        .exclude(status__in=flag_selectors.NOT_HELD)
        .values_list(*flag_selectors.SCORES_QUERY_FIELDS)
        .order_by()
    )
    assert_same_frame(rows)
    frame = flag_selectors.scores_frame(clients)
    pd.testing.assert_frame_equal(frame.scores, reference_scores_frame(rows).scores)

    scores = frame.scores
    totals = scores[(scores["rater"] == Rater.CLIENT) & (scores["scale"] == "total")]
    assert sorted(
        (person, number, None if np.isnan(score) else round(score, 2))
        for person, number, score in zip(
            totals["client"], totals["number"], totals["score"], strict=True
        )
    ) == sorted(
        [
            (first.pk, 1, 3.0),
            (first.pk, 2, 4.0),
            (first.pk, 4, None),
            (first.pk, 6, 2.5),
            (second.pk, 1, None),
            (second.pk, 2, 5.0),
            (second.pk, 4, None),
            (second.pk, 6, 3.5),
        ]
    )
    tension = scores[scores["scale"] == TENSION_SCALE]
    assert sorted(
        zip(tension["client"], tension["number"], tension["score"], strict=True)
    ) == sorted([(first.pk, 1, 0.0), (first.pk, 6, 1.0), (second.pk, 6, 0.0)])
    assert scores["rater"].dtype == "category"
    assert scores["scale"].dtype == "category"
    # Only held sessions are positions: held sessions 1, 2, 4 and 6 are positions 1 to 4.
    # Cancelled, no-show and scheduled sessions have no position: the engine never sees them.
    assert frame.session_ids == {
        (person.pk, position): sessions[(person.pk, number)].pk
        for person in (first, second)
        for position, number in enumerate((1, 2, 4, 6), start=1)
    }
    assert sorted(set(zip(scores["session"], scores["number"], strict=True))) == [
        (1, 1),
        (2, 2),
        (3, 4),
        (4, 6),
    ]
