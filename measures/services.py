"""Writes with rules for instruments and ratings. Keyword-only, atomic."""

import uuid
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, QuerySet, Subquery
from django.utils import timezone

from measures.definitions import DefinitionError, InstrumentDefinition
from measures.models import Instrument, ItemAnswer, Rater, Rating, RatingChange, ScaleScore
from measures.scoring import ScoringError, clean_answers, clean_questions, score_answers
from measures.selectors import instrument_definition, rating_edit_refusal
from sessions.models import TherapySession


class AlreadyRated(ValidationError):
    """The session already has this rater's rating (a different submission)."""


def instrument_load(*, definition: InstrumentDefinition, source: str) -> tuple[Instrument, str]:
    """Store one validated definition. Returns the instrument and "created", "updated" or
    "unchanged". A version that already has ratings is never changed: publish a new version.
    """
    name = definition.name.get("en") or next(iter(definition.name.values()))
    with transaction.atomic():
        instrument = (
            Instrument.objects.select_for_update()
            .filter(key=definition.key, version=definition.version)
            .first()
        )
        if instrument is None:
            instrument = Instrument.objects.create(
                key=definition.key,
                version=definition.version,
                name=name,
                rater=definition.rater,
                definition=definition.raw,
            )
            return instrument, "created"
        if instrument.definition == definition.raw:
            return instrument, "unchanged"
        if instrument.ratings.exists():
            raise DefinitionError(
                [
                    f"{source}: {definition.key} version {definition.version} already has "
                    "ratings and cannot change; give the changed definition a new version"
                ]
            )
        instrument.name = name
        instrument.rater = definition.rater
        instrument.definition = definition.raw
        instrument.save(update_fields=["name", "rater", "definition", "updated_at"])
        return instrument, "updated"


def _store_answers(
    rating: Rating, values: dict[str, Any], definition: InstrumentDefinition
) -> None:
    """Store cleaned item answers and the scale scores computed from exactly those values."""
    ItemAnswer.objects.bulk_create(
        ItemAnswer(rating=rating, item=key, value=float(value))
        for key, value in values.items()
        if value is not None
    )
    ScaleScore.objects.bulk_create(
        ScaleScore(rating=rating, scale=scale, score=result.score, n_answered=result.n_answered)
        for scale, result in score_answers(definition, values).items()
    )


def sessions_client_form_refresh(*, sessions: QuerySet[TherapySession]) -> int:
    """Set ``client_form`` and ``client_total`` on these sessions from their client ratings,
    in one UPDATE; returns how many sessions it touched. If a session holds two client
    ratings (the clinic changed instruments in between), the one stored last counts, as in
    the rupture engine's scores frame. rating_record calls it for every client rating (those
    are never edited). Idempotent: the benchmark's bulk load runs it over a whole clinic."""
    client_ratings = Rating.objects.filter(session=OuterRef("pk"), rater=Rater.CLIENT)
    last_rating = Rating.objects.filter(session=OuterRef(OuterRef("pk")), rater=Rater.CLIENT)
    last_total = ScaleScore.objects.filter(
        rating=Subquery(last_rating.order_by("-pk").values("pk")[:1]), scale="total"
    ).values("score")[:1]
    return sessions.update(client_form=Exists(client_ratings), client_total=Subquery(last_total))


def _validated(
    definition: InstrumentDefinition, answers: dict[str, Any], questions: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check answers and optional questions, reporting every problem at once by field.

    Returns the cleaned item answers and the optional questions' values keyed by role
    (tension, tension_addressed, comment), whatever the instrument calls them.
    """
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    by_key: dict[str, Any] = {}
    try:
        values = clean_answers(definition, answers)
    except ScoringError as exc:
        errors.update(exc.errors)
    try:
        by_key = clean_questions(definition, questions)
    except ScoringError as exc:
        errors.update(exc.errors)
    if errors:
        raise ValidationError({key: [message] for key, message in errors.items()})
    return values, {question.role: by_key.get(question.key) for question in definition.questions}


def rating_record(
    *,
    session: TherapySession,
    instrument: Instrument,
    answers: dict[str, Any],
    questions: dict[str, Any] | None = None,
    submitted_by=None,
    submission_id: uuid.UUID | None = None,
    language: str = "en",
    submitted_at: datetime | None = None,
) -> tuple[Rating, bool]:
    """Validate, score and store one rating atomically.

    Stores only: the caller that received the form then refreshes the client's flags
    (``alliance.flags.services.flags_refresh_or_defer``; e.g.
    ``sessions.formlinks.formlink_submit``, ``sessions.services.session_therapist_rating_record``);
    bulk loaders once per client.

    Returns (rating, created). Resubmitting the same submission_id (double tap, refresh,
    two tabs) returns the stored rating with created=False. A second, different rating
    for the same session and rater raises AlreadyRated. Invalid answers raise
    ValidationError keyed by item or question.
    """
    rater = instrument.rater
    if rater == Rater.THERAPIST and submitted_by is None:
        raise ValidationError("A therapist rating needs the therapist who submits it.")
    if rater == Rater.CLIENT:
        submitted_by = None
    submission_id = submission_id or uuid.uuid4()

    existing = Rating.objects.filter(submission_id=submission_id).first()
    if existing is not None:
        if (existing.session_id, existing.rater) != (session.pk, rater):
            raise AlreadyRated("This form was already submitted for another session.")
        return existing, False

    definition = instrument_definition(instrument)
    values, by_role = _validated(definition, answers, questions or {})
    try:
        with transaction.atomic():
            rating = Rating.objects.create(
                session=session,
                instrument=instrument,
                rater=rater,
                submitted_by=submitted_by,
                submitted_at=submitted_at or timezone.now(),
                submission_id=submission_id,
                language=language,
                tension=by_role.get("tension"),
                tension_addressed=by_role.get("tension_addressed"),
                comment=by_role.get("comment") or "",
            )
            _store_answers(rating, values, definition)
            if rater == Rater.CLIENT:
                sessions_client_form_refresh(sessions=TherapySession.objects.filter(pk=session.pk))
    except IntegrityError:
        # A concurrent submit won the race: the same submission is not an error.
        existing = Rating.objects.filter(
            submission_id=submission_id, session=session, rater=rater
        ).first()
        if existing is not None:
            return existing, False
        raise AlreadyRated(
            "This session already has a %(rater)s rating.", params={"rater": rater}
        ) from None
    return rating, True


class RatingNotEditable(ValidationError):
    """The user may not change this rating (not theirs, or past the clinic's edit window)."""


class StaleRating(ValidationError):
    """The rating changed since the form was opened: saving would overwrite that change."""


def _question_values(rating: Rating) -> dict[str, Any]:
    """The rating's stored answers to optional questions, by role."""
    return {
        "tension": rating.tension,
        "tension_addressed": rating.tension_addressed,
        "comment": rating.comment or None,
    }


def _stored_answers(rating: Rating, definition: InstrumentDefinition) -> dict[str, Any]:
    """Item answers (and answered optional questions) as they are stored, for the change log."""
    answers: dict[str, Any] = {
        answer.item: answer.value for answer in rating.answers.order_by("item")
    }
    by_role = _question_values(rating)
    for question in definition.questions:
        if by_role.get(question.role) is not None:
            answers[question.key] = by_role[question.role]
    return answers


def rating_update(
    *,
    rating: Rating,
    user,
    answers: dict[str, Any],
    questions: dict[str, Any] | None = None,
    expected_revision: int,
) -> Rating:
    """Correct a therapist's own rating within the clinic's edit window; rescore; log the change.

    ``expected_revision`` is the revision the form was opened at: if the rating has changed
    since (another tab, a double submit), StaleRating is raised and nothing is written.
    RatingNotEditable when the user is not the rating's therapist or the window has passed;
    ValidationError keyed by item for invalid answers. Stores only: the caller refreshes the
    client's flags (``sessions.services.session_therapist_rating_update``).
    """
    definition = instrument_definition(rating.instrument)
    with transaction.atomic():
        # Lock the row so two concurrent edits of the same revision cannot both succeed.
        current = (
            Rating.objects.select_for_update()
            .select_related("session__client__clinic", "instrument")
            .get(pk=rating.pk)
        )
        refusal = rating_edit_refusal(rating=current, user=user)
        if refusal:
            raise RatingNotEditable(refusal)
        if current.revision != expected_revision:
            raise StaleRating(
                "This rating was changed after you opened it (now at revision %(current)d, "
                "you opened revision %(expected)d). Reload the page to see the current answers "
                "and make your change again.",
                params={"current": current.revision, "expected": expected_revision},
            )
        values, by_role = _validated(
            definition, answers, questions if questions is not None else {}
        )
        old_answers = _stored_answers(current, definition)
        current.answers.all().delete()
        current.scores.all().delete()
        # Only therapist ratings are corrected (rating_edit_refusal): the session's client
        # form fields (sessions_client_form_refresh) stay as they are.
        _store_answers(current, values, definition)
        update_fields = ["revision", "updated_at"]
        if questions is not None:
            current.tension = by_role.get("tension")
            current.tension_addressed = by_role.get("tension_addressed")
            current.comment = by_role.get("comment") or ""
            update_fields += ["tension", "tension_addressed", "comment"]
        current.revision += 1
        current.save(update_fields=update_fields)
        change = RatingChange(
            rating=current,
            changed_by=user,
            changed_at=timezone.now(),
            old_answers=old_answers,
            new_answers=_stored_answers(current, definition),
            old_revision=expected_revision,
            new_revision=current.revision,
        )
        change.full_clean()
        change.save()
    return current
