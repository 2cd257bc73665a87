"""Scoring: answers -> values -> scale scores, and the optional questions. Pure, no database."""

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from measures.definitions import (
    InstrumentDefinition,
    ResponseScale,
    builtin_definition_paths,
    load_definition_file,
    parse_definition,
)
from measures.scoring import (
    NOT_ON_FORM,
    ScaleScore,
    ScoringError,
    clean_answers,
    clean_questions,
    parse_answer,
    reverse_score,
    score_answers,
)

TEXT = {"en": "text"}
LIKERT_1_5 = {"type": "likert", "min": 1, "max": 5, "anchors": {"1": TEXT, "5": TEXT}}


def slider(low: int = 0, high: int = 10, step: float = 1) -> dict[str, Any]:
    return {"type": "slider", "min": low, "max": high, "step": step}


def item(key: str, scales: list[str], reverse: bool = False, **extra: Any) -> dict[str, Any]:
    return {"key": key, "scales": scales, "reverse": reverse, "text": TEXT, **extra}


def scale(key: str, min_answered: int) -> dict[str, Any]:
    return {"key": key, "name": TEXT, "min_answered": min_answered}


def definition() -> InstrumentDefinition:
    """Likert items a_1, a_2 (reversed), b_1, b_2 with a total; slider items v_1, v_2 (reversed)."""
    return parse_definition(
        {
            "key": "test",
            "version": 1,
            "rater": "client",
            "name": TEXT,
            "languages": ["en"],
            "response": LIKERT_1_5,
            "items": [
                item("a_1", ["a", "total"]),
                item("a_2", ["a", "total"], reverse=True),
                item("b_1", ["b", "total"]),
                item("b_2", ["b", "total"]),
                item("v_1", ["vas"], response=slider()),
                item("v_2", ["vas"], reverse=True, response=slider()),
                item("h_1", ["half"], response=slider(step=0.5)),
                item("t_1", ["tenth"], reverse=True, response=slider(step=0.1)),
            ],
            "scales": [
                scale("a", 1),
                scale("b", 2),
                scale("total", 3),
                scale("vas", 1),
                scale("half", 1),
                scale("tenth", 1),
            ],
            "questions": [
                {
                    "key": "tension",
                    "role": "tension",
                    "type": "yes_no",
                    "text": TEXT,
                    "labels": {"yes": TEXT, "no": TEXT},
                },
                {
                    "key": "addressed",
                    "role": "tension_addressed",
                    "type": "likert",
                    "shown_if": "tension",
                    "min": 1,
                    "max": 5,
                    "anchors": {"1": TEXT},
                    "text": TEXT,
                },
                {"key": "note", "role": "comment", "type": "text", "max_length": 10, "text": TEXT},
            ],
        },
        "test.json",
    )


DEFINITION = definition()


def scores(answers: dict[str, Any]) -> dict[str, float | None]:
    return {key: result.score for key, result in score_answers(DEFINITION, answers).items()}


def errors(answers: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ScoringError) as caught:
        score_answers(DEFINITION, answers)
    return caught.value.errors


# --- scale scores -------------------------------------------------------------------------


def test_all_answered_scores_are_means_with_reverse_keying() -> None:
    result = score_answers(DEFINITION, {"a_1": 5, "a_2": 2, "b_1": 3, "b_2": 4, "v_1": 8, "v_2": 3})
    # a_2 is reversed: 2 -> 1 + 5 - 2 = 4; v_2: 3 -> 0 + 10 - 3 = 7.
    assert result["a"] == ScaleScore(score=4.5, n_answered=2, n_items=2)
    assert result["b"] == ScaleScore(score=3.5, n_answered=2, n_items=2)
    assert result["total"] == ScaleScore(score=4.0, n_answered=4, n_items=4)
    assert result["vas"] == ScaleScore(score=7.5, n_answered=2, n_items=2)


def test_scores_come_back_for_every_scale_in_definition_order() -> None:
    assert list(score_answers(DEFINITION, {})) == ["a", "b", "total", "vas", "half", "tenth"]


def test_missing_answers_at_or_above_min_answered_score_the_answered_items() -> None:
    result = score_answers(DEFINITION, {"a_1": 4, "b_1": 2, "b_2": 3})
    assert result["a"] == ScaleScore(score=4.0, n_answered=1, n_items=2)
    assert result["total"] == ScaleScore(score=3.0, n_answered=3, n_items=4)


def test_fewer_answers_than_min_answered_leave_the_scale_unscored() -> None:
    result = score_answers(DEFINITION, {"a_1": 4, "a_2": 4, "b_1": 2})
    assert result["b"] == ScaleScore(score=None, n_answered=1, n_items=2)
    assert result["total"] == ScaleScore(score=pytest.approx(8 / 3), n_answered=3, n_items=4)
    result = score_answers(DEFINITION, {"a_1": 4, "b_1": 2})
    assert result["total"] == ScaleScore(score=None, n_answered=2, n_items=4)


@pytest.mark.parametrize(
    "answers",
    [{}, dict.fromkeys(item.key for item in DEFINITION.items), {"a_1": "", "b_1": "  "}],
)
def test_nothing_answered_scores_nothing(answers: dict[str, Any]) -> None:
    for result in score_answers(DEFINITION, answers).values():
        assert result.score is None
        assert result.n_answered == 0


def test_reverse_keying_maps_each_end_to_the_other() -> None:
    assert [scores({"a_2": value})["a"] for value in (1, 2, 3, 4, 5)] == [5, 4, 3, 2, 1]
    assert scores({"v_2": 0})["vas"] == 10
    assert scores({"v_2": 10})["vas"] == 0
    assert scores({"t_1": 2.3})["tenth"] == pytest.approx(7.7)


def test_scores_are_floats() -> None:
    assert isinstance(scores({"a_1": 4})["a"], float)


@pytest.mark.parametrize(
    ("raw", "value"),
    [("4", 4), (" 4 ", 4), ("4.0", 4), (4.0, 4), (4, 4), ("+4", 4)],
)
def test_numbers_may_come_as_ints_floats_or_numeric_strings(raw: Any, value: int) -> None:
    cleaned = clean_answers(DEFINITION, {"a_1": raw})
    assert cleaned["a_1"] == value
    assert isinstance(cleaned["a_1"], int)


def test_clean_answers_lists_every_item_in_form_order() -> None:
    assert clean_answers(DEFINITION, {"b_1": "3", "h_1": "7.5"}) == {
        "a_1": None,
        "a_2": None,
        "b_1": 3,
        "b_2": None,
        "v_1": None,
        "v_2": None,
        "h_1": 7.5,
        "t_1": None,
    }


def test_answers_are_stored_as_given_not_reversed() -> None:
    assert clean_answers(DEFINITION, {"a_2": 2})["a_2"] == 2


def test_scoring_cleaned_answers_gives_the_same_scores() -> None:
    raw = {"a_1": "5", "a_2": 2.0, "b_1": " 3", "v_2": "3", "t_1": "0.3"}
    assert score_answers(DEFINITION, clean_answers(DEFINITION, raw)) == score_answers(
        DEFINITION, raw
    )


@pytest.mark.parametrize(
    ("key", "raw", "message"),
    [
        ("a_1", 4.5, "4.5 is not a whole number. Enter a whole number from 1 to 5."),
        ("a_1", "2.5", "2.5 is not a whole number. Enter a whole number from 1 to 5."),
        ("a_1", 0, "0 is out of range. Enter a whole number from 1 to 5."),
        ("a_1", 6, "6 is out of range. Enter a whole number from 1 to 5."),
        ("a_1", -1, "-1 is out of range. Enter a whole number from 1 to 5."),
        ("a_1", "6", "6 is out of range. Enter a whole number from 1 to 5."),
        ("a_1", 10**400, "is out of range. Enter a whole number from 1 to 5."),
        ("a_1", "abc", "“abc” is not a number. Enter a whole number from 1 to 5."),
        ("a_1", "nan", "“nan” is not a number. Enter a whole number from 1 to 5."),
        ("a_1", "inf", "“inf” is not a number. Enter a whole number from 1 to 5."),
        ("a_1", math.nan, "“nan” is not a number. Enter a whole number from 1 to 5."),
        ("a_1", -math.inf, "“-inf” is not a number. Enter a whole number from 1 to 5."),
        ("a_1", True, "True is not a number. Enter a whole number from 1 to 5."),
        ("a_1", False, "False is not a number. Enter a whole number from 1 to 5."),
        ("a_1", [4], "[4] is not a number. Enter a whole number from 1 to 5."),
        ("v_1", 7.5, "7.5 is not a whole number. Enter a whole number from 0 to 10."),
        ("v_1", 11, "11 is out of range. Enter a whole number from 0 to 10."),
        ("h_1", 7.25, "7.25 is between two steps. Enter a number from 0 to 10 in steps of 0.5."),
        ("t_1", "0.35", "0.35 is between two steps. Enter a number from 0 to 10 in steps of 0.1."),
    ],
)
def test_invalid_answer_is_reported_in_plain_language(key: str, raw: Any, message: str) -> None:
    assert errors({key: raw})[key].endswith(message)


def test_unknown_item_key_is_an_error() -> None:
    assert errors({"a_1": 3, "zz": 3}) == {"zz": NOT_ON_FORM}


def test_every_problem_is_reported_at_once() -> None:
    found = errors({"a_1": 0, "a_2": "x", "b_1": 2.5, "b_2": True, "v_1": 3, "zz": 1})
    assert set(found) == {"a_1", "a_2", "b_1", "b_2", "zz"}


def test_scoring_error_is_a_value_error_naming_each_key() -> None:
    with pytest.raises(ValueError, match=r"^a_1: 0 is out of range.*; zz: This question"):
        score_answers(DEFINITION, {"a_1": 0, "zz": 1})


@pytest.mark.parametrize(("raw", "value"), [(7.5, 7.5), ("7.5", 7.5), (7, 7), ("10", 10)])
def test_slider_accepts_values_on_its_steps(raw: Any, value: float) -> None:
    assert clean_answers(DEFINITION, {"h_1": raw})["h_1"] == value


@pytest.mark.parametrize(("raw", "value"), [("0.3", 0.3), (0.30000000000000004, 0.3), (9.9, 9.9)])
def test_tenth_steps_are_stored_without_float_noise(raw: Any, value: float) -> None:
    assert clean_answers(DEFINITION, {"t_1": raw})["t_1"] == value


def test_reverse_keyed_slider_with_fractional_steps() -> None:
    assert scores({"t_1": "2.5"})["tenth"] == 7.5


def test_shipped_client_form_scores_a_typical_submission() -> None:
    client = load_definition_file(builtin_definition_paths()[0])
    result = score_answers(
        client, {"bond_1": "5", "bond_2": "4", "goal_1": "4", "goal_2": "", "task_1": "3"}
    )
    assert result["bond"].score == 4.5
    assert result["goal"].score == 4.0
    assert result["task"].score == 3.0
    assert result["total"] == ScaleScore(score=4.0, n_answered=4, n_items=6)


# --- optional questions -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (True, True),
        (False, False),
        ("yes", True),
        (" Yes ", True),
        ("true", True),
        ("1", True),
        ("on", True),
        ("no", False),
        ("NO", False),
        ("false", False),
        ("0", False),
        (None, None),
        ("", None),
    ],
)
def test_tension_is_yes_no_or_unanswered(raw: Any, value: bool | None) -> None:
    assert clean_questions(DEFINITION, {"tension": raw})["tension"] is value


@pytest.mark.parametrize("raw", ["maybe", 2, 1, [True]])
def test_tension_other_values_are_errors(raw: Any) -> None:
    with pytest.raises(ScoringError) as caught:
        clean_questions(DEFINITION, {"tension": raw})
    assert caught.value.errors == {"tension": "Answer yes or no."}


def test_how_well_addressed_is_kept_when_there_was_tension() -> None:
    cleaned = clean_questions(DEFINITION, {"tension": "yes", "addressed": "4"})
    assert cleaned == {"tension": True, "addressed": 4, "note": None}


@pytest.mark.parametrize("tension", [False, "no", None, ""])
def test_how_well_addressed_is_dropped_unless_there_was_tension(tension: Any) -> None:
    # Even an invalid value is dropped: the form hid the question, so it is not the client's.
    cleaned = clean_questions(DEFINITION, {"tension": tension, "addressed": "99"})
    assert cleaned["addressed"] is None


def test_how_well_addressed_may_be_left_blank() -> None:
    assert clean_questions(DEFINITION, {"tension": True, "addressed": ""})["addressed"] is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("9", "9 is out of range. Enter a whole number from 1 to 5."),
        (2.5, "2.5 is not a whole number. Enter a whole number from 1 to 5."),
        ("well", "“well” is not a number. Enter a whole number from 1 to 5."),
        (True, "True is not a number. Enter a whole number from 1 to 5."),
    ],
)
def test_how_well_addressed_must_be_on_its_scale(raw: Any, message: str) -> None:
    with pytest.raises(ScoringError) as caught:
        clean_questions(DEFINITION, {"tension": True, "addressed": raw})
    assert caught.value.errors == {"addressed": message}


@pytest.mark.parametrize(
    ("raw", "value"),
    [("  hello  ", "hello"), ("   ", None), ("", None), (None, None), ("0123456789", "0123456789")],
)
def test_comment_is_stripped_and_blank_means_none(raw: Any, value: str | None) -> None:
    assert clean_questions(DEFINITION, {"note": raw})["note"] == value


def test_comment_longer_than_max_length_is_an_error() -> None:
    with pytest.raises(ScoringError) as caught:
        clean_questions(DEFINITION, {"note": "x" * 11})
    assert caught.value.errors == {"note": "Keep this to 10 characters or fewer (it has 11)."}


def test_comment_must_be_text() -> None:
    with pytest.raises(ScoringError) as caught:
        clean_questions(DEFINITION, {"note": 42})
    assert caught.value.errors == {"note": "Enter text."}


def test_questions_report_every_problem_and_unknown_keys() -> None:
    with pytest.raises(ScoringError) as caught:
        clean_questions(DEFINITION, {"tension": "maybe", "note": "x" * 20, "mood": "ok"})
    assert set(caught.value.errors) == {"tension", "note", "mood"}
    assert caught.value.errors["mood"] == NOT_ON_FORM


def test_questions_come_back_in_definition_order_with_none_for_unanswered() -> None:
    assert list(clean_questions(DEFINITION, {})) == ["tension", "addressed", "note"]
    assert set(clean_questions(DEFINITION, {}).values()) == {None}


def test_definition_without_questions_accepts_only_nothing() -> None:
    therapist = load_definition_file(builtin_definition_paths()[1])
    assert clean_questions(therapist, {}) == {}
    with pytest.raises(ScoringError):
        clean_questions(therapist, {"comment": "hi"})


# --- properties ---------------------------------------------------------------------------

STEPS = [1, 0.5, 0.25, 0.1]


@st.composite
def scales_and_answers(draw: st.DrawFn) -> tuple[InstrumentDefinition, dict[str, Any]]:
    """A random one-scale instrument (Likert or slider) and random valid answers."""
    kind = draw(st.sampled_from(["likert", "slider"]))
    low = draw(st.integers(-5, 5))
    high = low + draw(st.integers(1, 10))
    step = 1 if kind == "likert" else draw(st.sampled_from(STEPS))
    response = {"type": kind, "min": low, "max": high}
    response.update({"anchors": {str(low): TEXT}} if kind == "likert" else {"step": step})
    reverse = draw(st.lists(st.booleans(), min_size=1, max_size=8))
    min_answered = draw(st.integers(1, len(reverse)))
    instrument = parse_definition(
        {
            "key": "generated",
            "version": 1,
            "rater": "client",
            "name": TEXT,
            "languages": ["en"],
            "response": response,
            "items": [item(f"i_{n}", ["total"], flag) for n, flag in enumerate(reverse)],
            "scales": [scale("total", min_answered)],
        },
        "generated.json",
    )
    values = instrument.response.values
    answers = {
        f"i_{n}": draw(st.none() | st.sampled_from(values) | st.sampled_from(values).map(str))
        for n in range(len(reverse))
    }
    return instrument, answers


@given(scales_and_answers())
def test_scores_always_lie_within_the_response_range(
    case: tuple[InstrumentDefinition, dict[str, Any]],
) -> None:
    instrument, answers = case
    result = score_answers(instrument, answers)["total"]
    answered = sum(value is not None for value in answers.values())
    assert result.n_answered == answered
    if answered < instrument.scale("total").min_answered:
        assert result.score is None
    else:
        low, high = instrument.scale_range("total")
        assert low <= result.score <= high


@st.composite
def responses_and_values(draw: st.DrawFn, steps: list[float]) -> tuple[ResponseScale, float]:
    low = draw(st.integers(-100, 100))
    step = draw(st.sampled_from(steps))
    count = draw(st.integers(1, 200))
    high = low + math.ceil(count * step)
    response = ResponseScale(type="slider", min=low, max=high, step=step, anchors={})
    return response, draw(st.sampled_from(response.values))


@given(responses_and_values(steps=[1, 0.5, 0.25]))
def test_reversing_twice_is_the_identity(case: tuple[ResponseScale, float]) -> None:
    response, value = case
    assert reverse_score(reverse_score(value, response), response) == value


@given(responses_and_values(steps=[0.1]))
def test_reversing_twice_is_the_identity_up_to_float_rounding(
    case: tuple[ResponseScale, float],
) -> None:
    response, value = case
    twice = reverse_score(reverse_score(value, response), response)
    assert twice == pytest.approx(value, abs=1e-9)
    # The reversed value is itself a valid answer, and parses back to a clean step.
    assert parse_answer(reverse_score(value, response), response) is not None
