"""Instrument definitions: the shipped files, the licensed-instrument skeletons, and bad files."""

import copy
import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from measures.definitions import (
    SCHEMA_PATH,
    DefinitionError,
    InstrumentDefinition,
    builtin_definition_paths,
    load_definition_file,
    parse_definition,
)

DATA = Path(__file__).parent / "data"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "instruments.md"

LIKERT = {
    "type": "likert",
    "min": 1,
    "max": 5,
    "anchors": {"1": {"en": "Never", "es": "Nunca"}, "5": {"en": "Always", "es": "Siempre"}},
}


def valid() -> dict[str, Any]:
    """A small valid definition; each test breaks one thing in a fresh copy."""
    return copy.deepcopy(
        {
            "key": "demo",
            "version": 1,
            "rater": "client",
            "name": {"en": "Demo", "es": "Demostración"},
            "languages": ["en", "es"],
            "response": LIKERT,
            "items": [
                {"key": "a_1", "scales": ["a", "total"], "text": {"en": "A1", "es": "A1 es"}},
                {
                    "key": "a_2",
                    "scales": ["a", "total"],
                    "reverse": True,
                    "text": {"en": "A2", "es": "A2 es"},
                },
                {"key": "b_1", "scales": ["b", "total"], "text": {"en": "B1", "es": "B1 es"}},
            ],
            "scales": [
                {"key": "a", "name": {"en": "A", "es": "A"}, "min_answered": 1},
                {"key": "b", "name": {"en": "B", "es": "B"}, "min_answered": 1},
                {"key": "total", "name": {"en": "Total", "es": "Total"}, "min_answered": 2},
            ],
            "questions": [
                {
                    "key": "tension",
                    "role": "tension",
                    "type": "yes_no",
                    "text": {"en": "Tension?", "es": "¿Tensión?"},
                    "labels": {"yes": {"en": "Yes", "es": "Sí"}, "no": {"en": "No", "es": "No"}},
                },
                {
                    "key": "tension_addressed",
                    "role": "tension_addressed",
                    "type": "likert",
                    "shown_if": "tension",
                    "text": {"en": "How well?", "es": "¿Qué tal?"},
                    "min": 1,
                    "max": 5,
                    "anchors": {"1": {"en": "Badly", "es": "Mal"}},
                },
                {
                    "key": "comment",
                    "role": "comment",
                    "type": "text",
                    "max_length": 100,
                    "text": {"en": "Comment", "es": "Comentario"},
                },
            ],
            "norms": {"total": {"sd": 0.6, "reliability": 0.9, "source": "test"}},
            "cutoffs": {},
        }
    )


def problems(data: Any) -> list[str]:
    with pytest.raises(DefinitionError) as caught:
        parse_definition(data, "test.json")
    return caught.value.messages


def test_valid_fixture_parses() -> None:
    definition = parse_definition(valid(), "test.json")
    assert definition.key == "demo"


# --- shipped instruments ------------------------------------------------------------------


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


def test_builtin_paths_are_the_shipped_definitions_without_the_schema() -> None:
    names = [path.name for path in builtin_definition_paths()]
    assert names == ["alliance-client.v1.json", "alliance-therapist.v1.json"]


@pytest.mark.parametrize("path", builtin_definition_paths(), ids=lambda path: path.name)
def test_shipped_definition_validates_and_follows_the_house_format(path: Path) -> None:
    definition = load_definition_file(path)
    assert path.name == f"{definition.key}.v{definition.version}.json"
    assert definition.languages == ("en", "es")
    assert [scale.key for scale in definition.scales] == ["bond", "goal", "task", "total"]
    for dimension in ("bond", "goal", "task"):
        assert len(definition.scale(dimension).item_keys) == 2
    assert set(definition.scale("total").item_keys) == {item.key for item in definition.items}
    assert len(definition.items) == 6
    assert not any(item.reverse for item in definition.items)
    assert (definition.response.type, definition.response.min, definition.response.max) == (
        "likert",
        1,
        5,
    )
    assert sorted(definition.response.anchors) == [1, 2, 3, 4, 5]
    assert set(definition.norms) == {"bond", "goal", "task", "total"}
    assert definition.norms["total"].reliability == pytest.approx(0.9)
    assert all(
        "Provisional" in norm.source and "30" in norm.source for norm in definition.norms.values()
    )
    assert definition.cutoffs == {}


def test_client_form_asks_the_three_optional_questions() -> None:
    client = load_definition_file(builtin_definition_paths()[0])
    assert client.rater == "client"
    assert [(q.role, q.type) for q in client.questions] == [
        ("tension", "yes_no"),
        ("tension_addressed", "likert"),
        ("comment", "text"),
    ]
    assert client.question("tension_addressed").shown_if == "tension"


def test_therapist_form_has_no_optional_questions() -> None:
    therapist = load_definition_file(builtin_definition_paths()[1])
    assert therapist.rater == "therapist"
    assert therapist.questions == ()


def test_client_and_therapist_forms_are_parallel() -> None:
    client, therapist = (load_definition_file(path) for path in builtin_definition_paths())
    assert [item.key for item in client.items] == [item.key for item in therapist.items]
    assert [item.scales for item in client.items] == [item.scales for item in therapist.items]


def test_the_docs_quote_the_shipped_wording() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    for path in builtin_definition_paths():
        definition = load_definition_file(path)
        texts = [text for item in definition.items for text in item.text.values()]
        texts += [text for question in definition.questions for text in question.text.values()]
        assert [text for text in texts if text not in docs] == []


# --- licensed-instrument skeletons (placeholder text, as in docs/instruments.md) ----------


def test_wai_sr_skeleton_validates_with_the_published_structure() -> None:
    wai = load_definition_file(DATA / "wai-sr.v1.json")
    members = {scale.key: scale.item_keys for scale in wai.scales}
    assert members["task"] == ("item_1", "item_2", "item_10", "item_12")
    assert members["bond"] == ("item_3", "item_5", "item_7", "item_9")
    assert members["goal"] == ("item_4", "item_6", "item_8", "item_11")
    assert len(members["total"]) == 12
    assert not any(item.reverse for item in wai.items)
    assert wai.scale_range("total") == (1, 5)
    assert wai.item("item_7").text["en"] == "<licensed text of item 7>"


def test_session_rating_scale_skeleton_validates_as_four_sliders() -> None:
    srs = load_definition_file(DATA / "session-rating-scale.v1.json")
    assert [item.key for item in srs.items] == ["line_1", "line_2", "line_3", "line_4"]
    assert {(item.response.type, item.response.min, item.response.max) for item in srs.items} == {
        ("slider", 0, 10)
    }
    assert srs.response.step == pytest.approx(0.1)
    assert srs.cutoffs["total"].below == 9


def test_the_docs_show_exactly_the_validated_skeletons() -> None:
    blocks = re.findall(r"```json\n(.*?)```", DOCS.read_text(encoding="utf-8"), flags=re.S)
    shown = {data["key"]: data for data in map(json.loads, blocks)}
    assert set(shown) == {"wai-sr", "session-rating-scale"}
    for key, data in shown.items():
        parse_definition(data, "docs/instruments.md")
        assert data == json.loads((DATA / f"{key}.v1.json").read_text(encoding="utf-8"))


# --- the parsed definition ----------------------------------------------------------------


def test_parsed_definition_exposes_items_scales_and_questions() -> None:
    definition = parse_definition(valid(), "test.json")
    assert definition.version == 1
    assert definition.rater == "client"
    assert definition.name == {"en": "Demo", "es": "Demostración"}
    assert definition.instructions == {}
    assert definition.source == ""
    assert definition.item("a_2").reverse is True
    assert definition.item("a_1").reverse is False
    assert definition.item("a_1").scales == ("a", "total")
    assert definition.item("a_1").response == definition.response
    assert definition.scale("total").item_keys == ("a_1", "a_2", "b_1")
    assert definition.scale("total").min_answered == 2
    assert definition.norms["total"].sd == pytest.approx(0.6)
    assert definition.question("comment").max_length == 100
    assert definition.question("tension").labels["yes"] == {"en": "Yes", "es": "Sí"}
    assert definition.question("tension_addressed").response.max == 5


def test_item_and_scale_lookups_raise_key_error_for_unknown_keys() -> None:
    definition = parse_definition(valid(), "test.json")
    with pytest.raises(KeyError):
        definition.item("nope")
    with pytest.raises(KeyError):
        definition.scale("nope")


def test_question_by_role_is_none_when_absent() -> None:
    data = valid()
    data["questions"] = []
    assert parse_definition(data, "test.json").question("tension") is None


def test_questions_and_norms_and_cutoffs_are_optional() -> None:
    data = valid()
    for field in ("questions", "norms", "cutoffs"):
        del data[field]
    definition = parse_definition(data, "test.json")
    assert (definition.questions, definition.norms, definition.cutoffs) == ((), {}, {})


def test_items_for_a_language_gives_form_order_and_text() -> None:
    definition = parse_definition(valid(), "test.json")
    assert [(item.key, text) for item, text in definition.items_for("es")] == [
        ("a_1", "A1 es"),
        ("a_2", "A2 es"),
        ("b_1", "B1 es"),
    ]
    with pytest.raises(ValueError, match="'fr'"):
        definition.items_for("fr")


@pytest.mark.parametrize(
    ("preferred", "expected"),
    [
        ("es", "es"),
        ("es-MX", "es"),
        ("es_MX", "es"),
        ("ES", "es"),
        ("en", "en"),
        ("fr", "en"),
        (None, "en"),
        ("", "en"),
    ],
)
def test_language_for_falls_back_to_the_base_language_then_the_first(
    preferred: str | None, expected: str
) -> None:
    assert parse_definition(valid(), "test.json").language_for(preferred) == expected


def test_choices_label_anchored_points_and_number_the_others() -> None:
    definition = parse_definition(valid(), "test.json")
    assert definition.response.choices("es") == [
        (1, "Nunca"),
        (2, "2"),
        (3, "3"),
        (4, "4"),
        (5, "Siempre"),
    ]


def test_slider_values_are_clean_numbers() -> None:
    data = valid()
    data["response"] = {"type": "slider", "min": 0, "max": 1, "step": 0.1}
    values = parse_definition(data, "test.json").response.values
    assert values == [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1]
    assert isinstance(values[0], int)


def test_item_can_override_the_response_scale() -> None:
    data = valid()
    slider = {"type": "slider", "min": 0, "max": 10, "step": 1}
    data["items"].append(
        {"key": "vas", "scales": ["vas"], "text": {"en": "V", "es": "V"}, "response": slider}
    )
    data["scales"].append({"key": "vas", "name": {"en": "V", "es": "V"}, "min_answered": 1})
    definition = parse_definition(data, "test.json")
    assert definition.item("vas").response.type == "slider"
    assert definition.scale_range("vas") == (0, 10)
    assert definition.scale_range("total") == (1, 5)


def test_definition_is_frozen_and_raw_is_an_independent_copy() -> None:
    data = valid()
    definition = parse_definition(data, "test.json")
    assert definition.raw == data
    data["items"][0]["text"]["en"] = "changed"
    assert definition.raw["items"][0]["text"]["en"] == "A1"
    assert json.loads(json.dumps(definition.raw)) == definition.raw
    with pytest.raises(dataclasses.FrozenInstanceError):
        definition.version = 2  # type: ignore[misc]


def test_definition_type_is_exported() -> None:
    assert isinstance(parse_definition(valid(), "test.json"), InstrumentDefinition)


# --- files that cannot be read ------------------------------------------------------------


def test_invalid_json_names_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{\n  "key": "demo",\n  "version": 1\n  "rater": "client"\n}\n')
    with pytest.raises(DefinitionError) as caught:
        load_definition_file(path)
    assert caught.value.messages == [
        "bad.json: line 4 column 3: invalid JSON (Expecting ',' delimiter)"
    ]


def test_missing_file_is_a_definition_error(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match=r"^absent\.json: cannot read the file"):
        load_definition_file(tmp_path / "absent.json")


def test_file_that_is_not_utf8_is_a_definition_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes('{"name": "Demostración"}'.encode("latin-1"))
    with pytest.raises(DefinitionError, match=r"^latin1\.json: the file is not UTF-8 text$"):
        load_definition_file(path)


def test_file_with_a_byte_order_mark_loads(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_text(json.dumps(valid()), encoding="utf-8-sig")
    assert load_definition_file(path).key == "demo"


def test_load_accepts_a_string_path() -> None:
    assert load_definition_file(str(DATA / "wai-sr.v1.json")).key == "wai-sr"


# --- structure (JSON Schema) --------------------------------------------------------------


def test_error_is_a_value_error_whose_str_joins_every_message() -> None:
    data = valid()
    del data["key"]
    del data["rater"]
    expected = "test.json: 'key' is a required property\ntest.json: 'rater' is a required property"
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        parse_definition(data, "test.json")


def test_definition_must_be_an_object() -> None:
    assert problems([]) == ["test.json: [] is not of type 'object'"]


@pytest.mark.parametrize(
    "field", ["key", "version", "rater", "name", "languages", "response", "items", "scales"]
)
def test_missing_required_field(field: str) -> None:
    data = valid()
    del data[field]
    assert problems(data) == [f"test.json: {field!r} is a required property"]


def test_missing_field_in_an_item_names_the_item() -> None:
    data = valid()
    del data["items"][1]["scales"]
    assert problems(data) == ["test.json: items[1] 'a_2': 'scales' is a required property"]


def test_unknown_field_is_rejected() -> None:
    data = valid()
    data["colour"] = "blue"
    assert problems(data) == [
        "test.json: Additional properties are not allowed ('colour' was unexpected)"
    ]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.update(version="1"), "test.json: version: '1' is not of type 'integer'"),
        (lambda d: d.update(version=0), "test.json: version: 0 is less than the minimum of 1"),
        (
            lambda d: d.update(rater="patient"),
            "test.json: rater: 'patient' is not one of ['client', 'therapist']",
        ),
        (
            lambda d: d["items"][0].update(key="Bond 1"),
            "test.json: items[0] 'Bond 1': key: 'Bond 1' is not valid: "
            "use lower-case letters and digits joined by - or _, such as bond_1",
        ),
        (
            lambda d: d["languages"].append("Spanish"),
            "test.json: languages[2]: 'Spanish' is not valid: "
            "use a language code such as en, es or pt-BR",
        ),
        (lambda d: d["items"][0].update(reverse="yes"), "not of type 'boolean'"),
        (
            lambda d: d["items"][0].update(scales=[]),
            "items[0] 'a_1': scales: [] should be non-empty",
        ),
        (
            lambda d: d["items"][0]["text"].update(es=""),
            "items[0] 'a_1': text.es: '' should be non-empty",
        ),
        (lambda d: d["scales"][0].update(min_answered=0), "scales[0] 'a': min_answered: 0 is less"),
        (lambda d: d["response"].update(type="stars"), "response.type: 'stars' is not one of"),
        (lambda d: d["response"].pop("anchors"), "response: 'anchors' is a required property"),
        (lambda d: d["response"].update(min=0.5), "response.min: 0.5 is not of type 'integer'"),
        (lambda d: d["response"].update(step=2), "response.step: 1 was expected"),
        (
            lambda d: d["response"]["anchors"].update({"1.0": {"en": "x", "es": "x"}}),
            "test.json: response.anchors: '1.0' is not valid: key each anchor by its value",
        ),
        (lambda d: d.update(items=[]), "test.json: items: [] should be non-empty"),
        (
            lambda d: d["norms"]["total"].pop("source"),
            "norms.total: 'source' is a required property",
        ),
        (lambda d: d["cutoffs"].update(total={"below": 3}), "'source' is a required property"),
    ],
)
def test_structural_problem_is_reported_in_place(change: Any, expected: str) -> None:
    data = valid()
    change(data)
    messages = problems(data)
    assert any(expected in message for message in messages), messages


def test_slider_needs_a_step() -> None:
    data = valid()
    data["response"] = {"type": "slider", "min": 0, "max": 10}
    assert problems(data) == ["test.json: response: 'step' is a required property"]


@pytest.mark.parametrize(
    ("role", "field", "expected"),
    [
        ("tension", "type", "questions[0] 'tension': type: 'yes_no' was expected"),
        ("tension", "labels", "questions[0] 'tension': 'labels' is a required property"),
        ("tension_addressed", "shown_if", "'shown_if' is a required property"),
        ("comment", "max_length", "questions[2] 'comment': 'max_length' is a required property"),
    ],
)
def test_question_fields_follow_the_role(role: str, field: str, expected: str) -> None:
    data = valid()
    question = next(q for q in data["questions"] if q["role"] == role)
    if field == "type":
        question["type"] = "likert"
    else:
        del question[field]
    assert any(expected in message for message in problems(data))


def test_question_with_a_field_of_another_role_is_rejected() -> None:
    data = valid()
    data["questions"][2]["min"] = 1
    assert problems(data) == [
        "test.json: questions[2] 'comment': "
        "'min' is not one of ['key', 'role', 'type', 'text', 'max_length']"
    ]


def test_unknown_question_role_is_rejected() -> None:
    data = valid()
    data["questions"][2]["role"] = "mood"
    assert "questions[2] 'comment': role: 'mood' is not one of" in problems(data)[0]


def test_structural_errors_are_sorted_by_position() -> None:
    data = valid()
    data["items"] = [
        {"key": f"i_{n}", "scales": ["total"], "text": {"en": "x", "es": "x"}} for n in range(12)
    ]
    del data["items"][10]["text"]
    del data["items"][2]["text"]
    assert problems(data) == [
        "test.json: items[2] 'i_2': 'text' is a required property",
        "test.json: items[10] 'i_10': 'text' is a required property",
    ]


# --- consistency (Python cross-checks) ----------------------------------------------------


def test_unknown_scale() -> None:
    data = valid()
    data["items"][0]["scales"] = ["a", "totl"]
    assert problems(data) == ["test.json: items[0] 'a_1': scale 'totl' is not defined in scales"]


def test_duplicate_item_key() -> None:
    data = valid()
    data["items"][2]["key"] = "a_1"
    assert "test.json: items[2] 'a_1': duplicate item key (also items[0])" in problems(data)


def test_duplicate_scale_key() -> None:
    data = valid()
    data["scales"].append({"key": "a", "name": {"en": "A", "es": "A"}, "min_answered": 1})
    assert problems(data) == ["test.json: scales[3] 'a': duplicate scale key (also scales[0])"]


def test_scale_without_items() -> None:
    data = valid()
    data["scales"].append({"key": "c", "name": {"en": "C", "es": "C"}, "min_answered": 1})
    assert problems(data) == ["test.json: scales[3] 'c': no item belongs to this scale"]


def test_min_answered_above_the_number_of_items() -> None:
    data = valid()
    data["scales"][0]["min_answered"] = 3
    assert problems(data) == [
        "test.json: scales[0] 'a': min_answered is 3 but the scale has 2 item(s)"
    ]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["items"][1]["text"].pop("es"), "items[1] 'a_2': text has no 'es' translation"),
        (lambda d: d["name"].pop("en"), "name has no 'en' translation"),
        (lambda d: d.update(instructions={"en": "Think"}), "instructions has no 'es' translation"),
        (lambda d: d["scales"][2]["name"].pop("es"), "scales[2] 'total': name has no 'es'"),
        (
            lambda d: d["response"]["anchors"]["5"].pop("es"),
            "test.json: response anchor '5' has no 'es' translation",
        ),
        (
            lambda d: d["questions"][0]["text"].pop("es"),
            "questions[0] 'tension': text has no 'es' translation",
        ),
        (
            lambda d: d["questions"][0]["labels"]["yes"].pop("es"),
            "questions[0] 'tension': yes label has no 'es' translation",
        ),
        (
            lambda d: d["questions"][1]["anchors"]["1"].pop("es"),
            "questions[1] 'tension_addressed': answer anchor '1' has no 'es' translation",
        ),
        (
            lambda d: d["items"][0]["text"].update(fr="A1 fr"),
            "items[0] 'a_1': text has a 'fr' text but 'fr' is not in languages",
        ),
    ],
)
def test_every_text_is_in_every_declared_language(change: Any, expected: str) -> None:
    data = valid()
    change(data)
    messages = problems(data)
    assert len(messages) == 1
    assert expected in messages[0]


def test_anchor_outside_the_range() -> None:
    data = valid()
    data["response"]["anchors"]["7"] = {"en": "x", "es": "x"}
    assert problems(data) == ["test.json: response anchor '7' is outside the range 1 to 5"]


def test_anchor_between_steps() -> None:
    data = valid()
    data["response"] = {
        "type": "slider",
        "min": 0,
        "max": 10,
        "step": 0.5,
        "anchors": {"0.25": {"en": "x", "es": "x"}, "2.5": {"en": "y", "es": "y"}},
    }
    assert problems(data) == ["test.json: response anchor '0.25' is not one of the scale's steps"]


def test_question_anchor_outside_its_range() -> None:
    data = valid()
    data["questions"][1]["anchors"]["0"] = {"en": "x", "es": "x"}
    assert problems(data) == [
        "test.json: questions[1] 'tension_addressed': answer anchor '0' is outside the range 1 to 5"
    ]


def test_max_must_exceed_min() -> None:
    data = valid()
    data["response"].update(min=5, max=5)
    assert problems(data) == ["test.json: response max (5) must be greater than min (5)"]


def test_step_must_divide_the_range() -> None:
    data = valid()
    data["response"] = {"type": "slider", "min": 0, "max": 10, "step": 3}
    assert problems(data) == ["test.json: response step 3 does not divide 0 to 10 into equal steps"]


def test_a_scale_never_mixes_response_ranges() -> None:
    data = valid()
    data["items"][2]["response"] = {"type": "slider", "min": 0, "max": 10, "step": 1}
    assert problems(data) == [
        "test.json: scales[2] 'total': mixes response ranges: "
        "1 to 5 (a_1, a_2); 0 to 10 (b_1); use one range per scale"
    ]


def test_likert_and_slider_items_with_the_same_range_may_share_a_scale() -> None:
    data = valid()
    data["items"][2]["response"] = {"type": "slider", "min": 1, "max": 5, "step": 0.5}
    parse_definition(data, "test.json")


@pytest.mark.parametrize(
    ("norm", "expected"),
    [
        ({"sd": 0}, "norms.total: sd must be greater than 0 (got 0)"),
        ({"sd": -0.5}, "norms.total: sd must be greater than 0 (got -0.5)"),
        ({"sd": float("nan")}, "norms.total: sd must be greater than 0 (got nan)"),
        ({"reliability": 0}, "norms.total: reliability must be above 0 and below 1 (got 0)"),
        ({"reliability": 1}, "norms.total: reliability must be above 0 and below 1 (got 1)"),
        ({"reliability": 1.2}, "norms.total: reliability must be above 0 and below 1 (got 1.2)"),
    ],
)
def test_bad_norms(norm: dict[str, float], expected: str) -> None:
    data = valid()
    data["norms"]["total"].update(norm)
    assert problems(data) == [f"test.json: {expected}"]


def test_norms_and_cutoffs_name_existing_scales() -> None:
    data = valid()
    data["norms"]["bond"] = {"sd": 0.7, "reliability": 0.8, "source": "x"}
    data["cutoffs"]["goal"] = {"below": 3, "source": "x"}
    assert problems(data) == [
        "test.json: norms.bond: scale 'bond' is not defined in scales",
        "test.json: cutoffs.goal: scale 'goal' is not defined in scales",
    ]


@pytest.mark.parametrize("below", [1, 0.5, 5.5])
def test_cutoff_must_lie_within_the_scale(below: float) -> None:
    data = valid()
    data["cutoffs"]["total"] = {"below": below, "source": "manual"}
    assert problems(data) == [
        f"test.json: cutoffs.total: below ({below}) must be above 1 and at most 5"
    ]


def test_cutoff_within_the_scale_is_kept() -> None:
    data = valid()
    data["cutoffs"]["total"] = {"below": 3.5, "source": "manual"}
    assert parse_definition(data, "test.json").cutoffs["total"].below == 3.5


def test_question_roles_are_unique() -> None:
    data = valid()
    data["questions"].append(dict(data["questions"][2], key="comment_2"))
    assert problems(data) == [
        "test.json: questions[3] 'comment_2': role 'comment' is already used by questions[2]"
    ]


def test_question_keys_are_unique_and_distinct_from_item_keys() -> None:
    data = valid()
    data["questions"][2]["key"] = "a_1"
    assert problems(data) == ["test.json: questions[2] 'a_1': key is already used by items[0]"]
    data = valid()
    data["questions"][2]["key"] = "tension"
    assert problems(data) == [
        "test.json: questions[2] 'tension': duplicate question key (also questions[0])"
    ]


def test_how_well_addressed_depends_on_the_tension_question() -> None:
    data = valid()
    data["questions"][1]["shown_if"] = "comment"
    assert problems(data) == [
        "test.json: questions[1] 'tension_addressed': "
        "shown_if 'comment' must be the key of the tension question"
    ]
    data = valid()
    del data["questions"][0]
    assert problems(data) == [
        "test.json: questions[0] 'tension_addressed': "
        "shown_if 'tension' must be the key of the tension question"
    ]


def test_every_consistency_problem_is_reported_at_once() -> None:
    data = valid()
    data["items"][0]["scales"].append("nope")
    data["items"][1]["text"].pop("es")
    data["response"]["anchors"]["9"] = {"en": "x", "es": "x"}
    data["norms"]["total"]["reliability"] = 2
    assert problems(data) == [
        "test.json: response anchor '9' is outside the range 1 to 5",
        "test.json: items[0] 'a_1': scale 'nope' is not defined in scales",
        "test.json: items[1] 'a_2': text has no 'es' translation",
        "test.json: norms.total: reliability must be above 0 and below 1 (got 2)",
    ]


def test_shipped_file_with_a_missing_translation_names_file_item_and_language(
    tmp_path: Path,
) -> None:
    source = builtin_definition_paths()[0]
    data = json.loads(source.read_text(encoding="utf-8"))
    data["items"][3]["text"].pop("es")
    path = tmp_path / source.name
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(DefinitionError) as caught:
        load_definition_file(path)
    assert caught.value.messages == [
        "alliance-client.v1.json: items[3] 'bond_2': text has no 'es' translation"
    ]
