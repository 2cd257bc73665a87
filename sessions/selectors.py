"""Reads for session pages. Every read starts from the user's scope; outside it is 404."""

from dataclasses import dataclass, field
from operator import attrgetter

from django.db.models import Prefetch, QuerySet, prefetch_related_objects
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from alliance.models import User
from measures.models import Rater, Rating
from measures.selectors import (
    RatingValues,
    rating_answer_rows,
    rating_scores,
    rating_tension_addressed,
    ratings_values,
)
from sessions.models import TherapySession

# Sessions that took place, or may have: a rating makes a scheduled one completed.
RATEABLE = (TherapySession.Status.SCHEDULED, TherapySession.Status.COMPLETED)


def session_may_change(user: User, session: TherapySession) -> bool:
    """The session's therapist or the client's primary therapist may change a session.

    Supervisors and clinic admins read sessions but never change them.
    """
    return (
        user.is_active
        and user.is_therapist
        and user.clinic_id == session.client.clinic_id
        and user.pk in (session.therapist_id, session.client.primary_therapist_id)
    )


def _sessions_visible_to(user: User) -> QuerySet[TherapySession]:
    return TherapySession.objects.visible_to(user).select_related(
        "client__clinic", "client__primary_therapist", "therapist"
    )


def session_get(user: User, session_id: int) -> TherapySession:
    """One session within the user's scope, else 404."""
    return get_object_or_404(_sessions_visible_to(user), pk=session_id)


def session_get_for_change(user: User, session_id: int) -> TherapySession:
    """One session the user may change, else 404.

    A session the user may see but not change (a supervisor's) is 404 for writes too:
    the answer never tells an outsider more than "not found".
    """
    session = session_get(user, session_id)
    if not session_may_change(user, session):
        raise Http404("No session you may change matches the given query.")
    return session


@dataclass
class Course:
    """Sessions with their ratings loaded: each session's ``rating_list`` (its ratings, with
    instrument and submitter) and every rating's answers and scores by rating id (its scores
    only when not ``answers``)."""

    sessions: list[TherapySession]
    values: dict[int, RatingValues] = field(default_factory=dict)
    answers: bool = True

    def values_of(self, rating: Rating | None) -> RatingValues:
        """The rating's answers and scores; none for no rating."""
        return self.values.get(rating.pk) if rating is not None else RatingValues()


def _load_ratings(sessions: list[TherapySession], *, answers: bool = True) -> Course:
    """The sessions with their ratings (``rating_list``) and the ratings' answer and score
    values (``ratings_values``; scores only when not ``answers``): 4 queries (3).

    The instrument by prefetch, not by a join: a join decodes its definition (a large JSON
    document) once per rating; a client's ratings share one or two instruments. The list is
    a plain attribute (``to_attr``): a related manager per session costs more than its rows.
    """
    ratings = Rating.objects.select_related("submitted_by").prefetch_related("instrument")
    prefetch_related_objects(sessions, Prefetch("ratings", queryset=ratings, to_attr="rating_list"))
    values = ratings_values(
        [rating for session in sessions for rating in session.rating_list], answers=answers
    )
    return Course(sessions=sessions, values=values, answers=answers)


def session_with_ratings(session: TherapySession) -> Course:
    """The session with its ratings, instruments, answers and scores loaded (4 queries)."""
    return _load_ratings([session])


def sessions_of_client(client, *, answers: bool = True) -> Course:
    """A client's sessions in course order with their ratings, answers and scores loaded
    (5 queries); without the answers when not ``answers`` (4: the client page, which
    fetches a session's answers when asked)."""
    sessions = list(client.sessions.select_related("therapist").order_by("number"))
    return _load_ratings(sessions, answers=answers)


def _rating_of(session: TherapySession, rater: str) -> Rating | None:
    """The session's rating by ``rater`` from its loaded ``rating_list``; of two (the clinic
    changed instruments within the session), the last stored, as the rupture engine's
    scores frame counts it (alliance.flags.selectors.scores_frame)."""
    ratings = [r for r in session.rating_list if r.rater == rater]
    return max(ratings, key=attrgetter("pk"), default=None)


def therapist_rating_of(session: TherapySession) -> Rating | None:
    return _rating_of(session, Rater.THERAPIST)


def client_rating_of(session: TherapySession) -> Rating | None:
    return _rating_of(session, Rater.CLIENT)


@dataclass
class RatingView:
    """A rating ready for a page: its answers with item texts and its scale scores."""

    rating: Rating
    answers: list[dict]
    scores: list[dict]
    tension_addressed: str = ""  # the answer's label ("Okay"), empty when not answered

    @property
    def total(self) -> float | None:
        return next((s["score"] for s in self.scores if s["key"] == "total"), None)


def rating_view(
    rating: Rating | None, values: RatingValues, language: str, *, answers: bool = True
) -> RatingView | None:
    """The rating ready for a page; without its ``answers`` (and their words) when the page
    shows only its scores."""
    if rating is None:
        return None
    if not answers:
        return RatingView(rating=rating, answers=[], scores=rating_scores(rating, values, language))
    return RatingView(
        rating=rating,
        answers=rating_answer_rows(rating, values, language),
        scores=rating_scores(rating, values, language),
        tension_addressed=rating_tension_addressed(rating, language),
    )


@dataclass
class SessionRow:
    session: TherapySession
    client_rating: RatingView | None
    therapist_rating: RatingView | None
    may_rate: bool  # the user held the session and has not rated it yet


def session_rows(course: Course, *, user: User, language: str) -> list[SessionRow]:
    """The course's sessions with their ratings prepared for a page (no queries); the
    ratings' scores only, not their answers, when the course was read without them (the
    client page fetches a session's answers when asked: ``sessions.views.session_answers``)."""
    answers = course.answers
    now = timezone.now()
    rows = []
    for session in course.sessions:
        client_rating = client_rating_of(session)
        therapist_rating = therapist_rating_of(session)
        rows.append(
            SessionRow(
                session=session,
                client_rating=rating_view(
                    client_rating, course.values_of(client_rating), language, answers=answers
                ),
                therapist_rating=rating_view(
                    therapist_rating, course.values_of(therapist_rating), language, answers=answers
                ),
                may_rate=(
                    therapist_rating is None
                    and session.therapist_id == user.pk
                    and user.is_therapist
                    and session.status in RATEABLE
                    and session.starts_at <= now
                ),
            )
        )
    return rows
