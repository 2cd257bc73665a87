"""Scoring: a form's answers -> validated values -> scale scores. Pure Python (no Django).

The scoring rule is the one published for short alliance measures: reverse-key where the
definition says so, then a scale's score is the mean of its answered items, and the scale is
left unscored when fewer than its ``min_answered`` items were answered (e.g. the WAI-SR:
Hatcher & Gillaspy 2006, Psychotherapy Research 16(1), 12-25). Means keep the response
scale's units, so scores from forms with a skipped item stay comparable.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from measures.definitions import (
    InstrumentDefinition,
    Number,
    Question,
    ResponseScale,
    format_number,
    grid_value,
)

Answer = int | float | str | None

NOT_ON_FORM = "This question is not on this form."
_YES = {"yes", "true", "1", "on"}
_NO = {"no", "false", "0", "off"}


class ScoringError(ValueError):
    """Answers that cannot be scored; ``errors`` maps each bad key to a message a form can show."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{key}: {message}" for key, message in self.errors.items()))


@dataclass(frozen=True)
class ScaleScore:
    score: float | None  # None when fewer than the scale's min_answered items were answered
    n_answered: int
    n_items: int


def clean_answers(
    definition: InstrumentDefinition, answers: Mapping[str, Answer]
) -> dict[str, Number | None]:
    """Validate item answers and return them as numbers.

    Input: answers keyed by item key; each an int, a float, a numeric string ("4", " 2.5 "),
    or None / "" for "not answered". Items missing from ``answers`` are not answered.
    Output: every item key in form order -> its value (int when whole) or None.
    Raises ScoringError listing every unknown key and every invalid value: not a number
    (booleans included), outside the item's range, or off the scale's steps (a Likert
    answer must be a whole number; a slider answer a multiple of its step).
    """
    errors: dict[str, str] = {}
    values: dict[str, Number | None] = {}
    for key, raw in answers.items():
        try:
            item = definition.item(key)
        except KeyError:
            errors[key] = NOT_ON_FORM
            continue
        try:
            values[key] = parse_answer(raw, item.response)
        except ValueError as exc:
            errors[key] = str(exc)
    if errors:
        raise ScoringError(errors)
    return {item.key: values.get(item.key) for item in definition.items}


def score_answers(
    definition: InstrumentDefinition, answers: Mapping[str, Answer]
) -> dict[str, ScaleScore]:
    """Score every scale of ``definition`` from item answers.

    Input: answers as accepted by ``clean_answers`` (raw form values or its output).
    Output: scale key -> ScaleScore, in the definition's scale order. A reverse-keyed answer
    counts as min + max - value; the score is the mean of the scale's answered items, or None
    when fewer than ``min_answered`` were answered (mean of answered items with a
    minimum-answered rule: Hatcher & Gillaspy 2006). Raises ScoringError like clean_answers.
    """
    values = clean_answers(definition, answers)
    scores: dict[str, ScaleScore] = {}
    for scale in definition.scales:
        answered = []
        for key in scale.item_keys:
            value = values[key]
            if value is not None:
                item = definition.item(key)
                answered.append(reverse_score(value, item.response) if item.reverse else value)
        enough = len(answered) >= scale.min_answered
        scores[scale.key] = ScaleScore(
            score=math.fsum(answered) / len(answered) if enough else None,
            n_answered=len(answered),
            n_items=len(scale.item_keys),
        )
    return scores


def reverse_score(value: Number, response: ResponseScale) -> Number:
    """A reverse-keyed item's value on the scale's direction: min + max - value."""
    return response.min + response.max - value


def parse_answer(raw: object, response: ResponseScale) -> Number | None:
    """One answer as a number on ``response`` (None when unanswered); ValueError if invalid."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    expected = _expected(response)
    shown = raw.strip() if isinstance(raw, str) else raw
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ValueError(f"{shown!r} is not a number. Enter {expected}.")
    try:
        value = float(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise ValueError(f"“{shown}” is not a number. Enter {expected}.") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"“{shown}” is not a number. Enter {expected}.")
    if not response.min <= value <= response.max:
        raise ValueError(f"{shown} is out of range. Enter {expected}.")
    steps = (value - response.min) / response.step
    if not math.isclose(steps, round(steps), abs_tol=1e-9):
        problem = "is not a whole number" if response.step == 1 else "is between two steps"
        raise ValueError(f"{shown} {problem}. Enter {expected}.")
    return grid_value(response.min, response.step, round(steps))


def clean_questions(
    definition: InstrumentDefinition, values: Mapping[str, object]
) -> dict[str, bool | int | float | str | None]:
    """Validate the optional questions and return their values.

    Input: answers keyed by question key, as a form or an API posts them.
    Output: every question key in definition order -> its value, or None when unanswered:
    yes_no -> True / False (from a bool or "yes"/"no"/"true"/"false"/"1"/"0"/"on"/"off");
    likert -> a whole number in its range; text -> the stripped text, at most max_length.
    A question with ``shown_if`` (how well a tension was addressed) only counts when its
    yes/no question was answered yes; otherwise it is dropped (None) without being checked,
    since a form may still post a value for a question it hid.
    Raises ScoringError with a message per unknown key or invalid answer.
    """
    known = {question.key for question in definition.questions}
    errors = {key: NOT_ON_FORM for key in values if key not in known}
    cleaned: dict[str, bool | int | float | str | None] = {}
    # Questions that depend on another one go last, so that one is already cleaned.
    for question in sorted(definition.questions, key=lambda q: q.shown_if is not None):
        if question.shown_if is not None and cleaned.get(question.shown_if) is not True:
            cleaned[question.key] = None
            continue
        try:
            cleaned[question.key] = _clean_question(question, values.get(question.key))
        except ValueError as exc:
            errors[question.key] = str(exc)
    if errors:
        raise ScoringError(errors)
    return {question.key: cleaned[question.key] for question in definition.questions}


def _clean_question(question: Question, raw: object) -> bool | int | float | str | None:
    if question.type == "yes_no":
        if raw is None or isinstance(raw, bool):
            return raw
        answer = raw.strip().lower() if isinstance(raw, str) else None
        if answer == "":
            return None
        if answer in _YES or answer in _NO:
            return answer in _YES
        raise ValueError("Answer yes or no.")
    if question.type == "likert":
        assert question.response is not None  # parse_definition gives every likert question one
        return parse_answer(raw, question.response)
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise ValueError("Enter text.")
    text = raw.strip()
    if question.max_length is not None and len(text) > question.max_length:
        raise ValueError(
            f"Keep this to {question.max_length} characters or fewer (it has {len(text)})."
        )
    return text or None


def _expected(response: ResponseScale) -> str:
    low, high = format_number(response.min), format_number(response.max)
    if response.step == 1:
        return f"a whole number from {low} to {high}"
    return f"a number from {low} to {high} in steps of {format_number(response.step)}"
