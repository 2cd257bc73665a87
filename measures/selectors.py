"""Reads for instruments and ratings."""

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from measures.definitions import InstrumentDefinition, format_number, parse_definition
from measures.models import Instrument, ItemAnswer, Rater, Rating, ScaleScore

# The project's own forms, used when a clinic has not chosen another instrument.
BUILTIN_KEYS = {Rater.CLIENT: "alliance-client", Rater.THERAPIST: "alliance-therapist"}


@lru_cache(maxsize=64)
def _definition(instrument_pk: int, updated_at: Any, data_key: str) -> InstrumentDefinition:
    return parse_definition(Instrument.objects.get(pk=instrument_pk).definition, source=data_key)


def instrument_definition(instrument: Instrument) -> InstrumentDefinition:
    """The parsed definition of a stored instrument (cached per instrument version)."""
    return _definition(
        instrument.pk, instrument.updated_at, f"{instrument.key} v{instrument.version}"
    )


def instrument_for(*, clinic, rater: str) -> Instrument:
    """The instrument a clinic uses for one rater: its own choice, else the newest active
    shipped form (``instruments_for``, one query)."""
    instrument = instruments_for(clinic=clinic).get(rater)
    if instrument is None:
        raise Instrument.DoesNotExist(
            f"No {rater} instrument is loaded: run `manage.py load_instruments`."
        )
    return instrument


def instruments_for(*, clinic) -> dict[str, Instrument]:
    """The instruments a clinic uses, by rater (client first), in one query: the clinic's own
    choice, else the newest active shipped form (BUILTIN_KEYS); a rater without one (no
    shipped form loaded) is left out. The one place that decides which form a clinic uses."""
    chosen = {
        Rater.CLIENT.value: clinic.client_instrument_id,
        Rater.THERAPIST.value: clinic.therapist_instrument_id,
    }
    builtin_keys = [BUILTIN_KEYS[rater] for rater, pk in chosen.items() if pk is None]
    candidates = Instrument.objects.filter(
        Q(pk__in=[pk for pk in chosen.values() if pk is not None])
        | Q(key__in=builtin_keys, is_active=True)
    )
    by_pk = {instrument.pk: instrument for instrument in candidates}
    found = {}
    for rater, pk in chosen.items():
        if pk is not None:
            found[rater] = by_pk[pk]
            continue
        builtin = [
            instrument
            for instrument in by_pk.values()
            if instrument.key == BUILTIN_KEYS[rater] and instrument.is_active
        ]
        if builtin:
            found[rater] = max(builtin, key=lambda instrument: instrument.version)
    return found


def rating_edit_refusal(*, rating, user, now=None) -> str | None:
    """Why ``user`` may not edit ``rating`` now, in words for the page; None when they may.

    Only the therapist who submitted a rating may edit it, within the clinic's
    ``rating_edit_days`` of submitting it (0 days: ratings are never edited).
    """
    if rating.rater != Rater.THERAPIST or rating.submitted_by_id != user.pk or not user.is_active:
        return _("Only the therapist who submitted this rating may change it.")
    days = rating.session.client.clinic.rating_edit_days
    if (now or timezone.now()) > rating.submitted_at + dt.timedelta(days=days):
        return ngettext(
            "This rating can no longer be changed: ratings can be corrected for %(days)d day "
            "after they are submitted.",
            "This rating can no longer be changed: ratings can be corrected for %(days)d days "
            "after they are submitted.",
            days,
        ) % {"days": days}
    return None


@dataclass(frozen=True)
class RatingValues:
    """A rating's stored answers and scale scores, as plain values."""

    answers: dict[str, float] = field(default_factory=dict)  # item key -> answer
    # scale key -> score; None when too few items were answered to score it
    scores: dict[str, float | None] = field(default_factory=dict)


def ratings_values(ratings: list[Rating], *, answers: bool = True) -> dict[int, RatingValues]:
    """Each rating's answers and scores (``RatingValues``) by rating id, in two queries
    whatever their number; its scores only, in one, when not ``answers``.

    Read as plain values, not model instances: a long course has several hundred answers,
    and building an instance for each cost the client page more than its SQL did.
    """
    values = {rating.pk: RatingValues() for rating in ratings}
    if answers:
        rows = ItemAnswer.objects.filter(rating_id__in=values).values_list(
            "rating_id", "item", "value"
        )
        for rating_id, item, value in rows:
            values[rating_id].answers[item] = value
    scores = ScaleScore.objects.filter(rating_id__in=values).values_list(
        "rating_id", "scale", "score"
    )
    for rating_id, scale, score in scores:
        values[rating_id].scores[scale] = score
    return values


def rating_answer_rows(rating, values: RatingValues, language: str) -> list[dict]:
    """The rating's answers in form order, each with the item text and the answer's label.

    Reads the rating's ``values`` (``ratings_values``) and the cached instrument definition:
    no query per rating.
    """
    definition = instrument_definition(rating.instrument)
    language = definition.language_for(language)
    answers = values.answers
    rows = []
    for position, (item, text) in enumerate(definition.items_for(language), start=1):
        value = answers.get(item.key)
        label = ""
        if value is not None:
            anchor = item.response.anchors.get(int(value) if float(value).is_integer() else value)
            label = anchor[language] if anchor else ""
        rows.append(
            {
                "position": position,
                "key": item.key,
                "text": text,
                "value": None if value is None else format_number(value),
                "label": label,
                "max": format_number(item.response.max),
            }
        )
    return rows


def rating_tension_addressed(rating, language: str) -> str:
    """How well the client said a tension was addressed, as the label of the instrument's
    question in ``language`` ("Okay", not 3); empty when not answered."""
    if rating.tension_addressed is None:
        return ""
    definition = instrument_definition(rating.instrument)
    question = definition.question("tension_addressed")
    if question is None or question.response is None:
        return format_number(rating.tension_addressed)
    return question.response.label(rating.tension_addressed, definition.language_for(language))


def rating_scores(rating, values: RatingValues, language: str) -> list[dict]:
    """The rating's scale scores (from its ``values``, ``ratings_values``) in the
    instrument's order, with the scale names."""
    definition = instrument_definition(rating.instrument)
    language = definition.language_for(language)
    scores = values.scores
    return [
        {"key": scale.key, "name": scale.name[language], "score": scores.get(scale.key)}
        for scale in definition.scales
    ]
