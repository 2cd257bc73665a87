"""Instrument definitions: load a JSON definition file, validate it, and expose it as data.

Pure Python (no Django). Validation runs in two passes: the JSON Schema in
``measures/instruments/schema.json`` checks structure, then ``_consistency_problems`` checks
what a schema cannot say (unique keys, translations, ranges, scale membership, norms).
Every problem is reported at once, each naming the file, the place and what is wrong.
The format is documented in docs/instruments.md.
"""

from __future__ import annotations

import copy
import functools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

INSTRUMENTS_DIR = Path(__file__).resolve().parent / "instruments"
SCHEMA_PATH = INSTRUMENTS_DIR / "schema.json"

Text = Mapping[str, str]  # language code -> text
Number = int | float


class DefinitionError(ValueError):
    """An instrument definition is invalid; ``messages`` lists every problem found."""

    def __init__(self, messages: Sequence[str]) -> None:
        self.messages = list(messages)
        super().__init__("\n".join(self.messages))


@dataclass(frozen=True)
class ResponseScale:
    """How an item is answered: a Likert scale (whole numbers) or a slider with a step."""

    type: str  # "likert" or "slider"
    min: int
    max: int
    step: Number
    anchors: Mapping[Number, Text]  # labelled points, keyed by value

    @property
    def values(self) -> list[Number]:
        """Every allowed answer, from min to max."""
        count = round((self.max - self.min) / self.step)
        return [grid_value(self.min, self.step, i) for i in range(count + 1)]

    def choices(self, language: str) -> list[tuple[Number, str]]:
        """(value, label) pairs for a form: the anchor's text, or the number where unlabelled."""
        return [(value, self.label(value, language)) for value in self.values]

    def label(self, value: Number, language: str) -> str:
        """An answer as words: its anchor's text in ``language``, or the number if unlabelled."""
        anchor = self.anchors.get(int(value) if float(value).is_integer() else value)
        return anchor[language] if anchor else format_number(value)


@dataclass(frozen=True)
class Item:
    key: str
    text: Text
    scales: tuple[str, ...]
    reverse: bool
    response: ResponseScale  # the item's own, or the instrument's


@dataclass(frozen=True)
class Scale:
    key: str
    name: Text
    item_keys: tuple[str, ...]
    min_answered: int


@dataclass(frozen=True)
class Question:
    """An optional question outside the scales (tension, how well it was addressed, comment)."""

    key: str
    role: str  # "tension", "tension_addressed" or "comment"
    type: str  # "yes_no", "likert" or "text"
    text: Text
    labels: Mapping[str, Text]  # yes_no: {"yes": ..., "no": ...}; empty otherwise
    response: ResponseScale | None  # likert only
    shown_if: str | None  # key of the yes/no question that must be answered yes
    max_length: int | None  # text only


@dataclass(frozen=True)
class Norm:
    sd: float
    reliability: float
    source: str


@dataclass(frozen=True)
class Cutoff:
    below: float
    source: str


@dataclass(frozen=True)
class InstrumentDefinition:
    key: str
    version: int
    rater: str  # "client" or "therapist"
    name: Text
    languages: tuple[str, ...]  # the first is the default
    instructions: Text  # empty when the file has none
    source: str  # empty when the file has none
    response: ResponseScale  # the default for items without their own
    items: tuple[Item, ...]
    scales: tuple[Scale, ...]
    questions: tuple[Question, ...]
    norms: Mapping[str, Norm]
    cutoffs: Mapping[str, Cutoff]
    raw: dict[str, Any]  # the definition as loaded, for storage

    @functools.cached_property
    def _items_by_key(self) -> dict[str, Item]:
        return {item.key: item for item in self.items}

    def item(self, key: str) -> Item:
        """The item with this key; KeyError if there is none."""
        return self._items_by_key[key]

    def scale(self, key: str) -> Scale:
        """The scale with this key; KeyError if there is none."""
        for scale in self.scales:
            if scale.key == key:
                return scale
        raise KeyError(key)

    def scale_range(self, key: str) -> tuple[int, int]:
        """(min, max) a score on this scale can take: the shared range of its items."""
        response = self.item(self.scale(key).item_keys[0]).response
        return response.min, response.max

    def question(self, role: str) -> Question | None:
        """The question playing this role ("tension", "tension_addressed", "comment"), if any."""
        return next((q for q in self.questions if q.role == role), None)

    def language_for(self, preferred: str | None) -> str:
        """The declared language closest to ``preferred`` ("es-MX" -> "es"), else the first."""
        if preferred:
            base = preferred.replace("_", "-").split("-")[0].lower()
            for candidate in (preferred, base):
                if candidate in self.languages:
                    return candidate
        return self.languages[0]

    def items_for(self, language: str) -> list[tuple[Item, str]]:
        """The items in form order, each with its text in ``language``."""
        if language not in self.languages:
            raise ValueError(f"{self.key} v{self.version} is not available in {language!r}")
        return [(item, item.text[language]) for item in self.items]


def grid_value(low: Number, step: Number, index: int) -> Number:
    """The index-th point of a scale starting at ``low``, as an int when it is whole."""
    # Rounding removes float noise such as 3 * 0.1 == 0.30000000000000004.
    value = round(low + index * step, 10)
    return int(value) if value == int(value) else value


def format_number(value: Number) -> str:
    """A number as a person writes it: 3, 2.5 (never 3.0)."""
    return str(int(value)) if float(value).is_integer() else str(value)


def builtin_definition_paths() -> list[Path]:
    """The definition files shipped with Alliance, in name order."""
    return sorted(path for path in INSTRUMENTS_DIR.glob("*.json") if path != SCHEMA_PATH)


def load_definition_file(path: str | Path) -> InstrumentDefinition:
    """Read, parse and validate one definition file; DefinitionError on any problem."""
    path = Path(path)
    try:
        # utf-8-sig: definitions saved by Windows editors start with a byte-order mark.
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise DefinitionError([f"{path.name}: cannot read the file ({exc.strerror})"]) from None
    except UnicodeDecodeError:
        raise DefinitionError([f"{path.name}: the file is not UTF-8 text"]) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        message = f"{path.name}: line {exc.lineno} column {exc.colno}: invalid JSON ({exc.msg})"
        raise DefinitionError([message]) from None
    return parse_definition(data, path.name)


def parse_definition(data: Any, source: str) -> InstrumentDefinition:
    """Validate a definition loaded from JSON and return it as an InstrumentDefinition.

    ``source`` names the definition in error messages (usually the file name).
    Raises DefinitionError listing every problem: structural ones first; consistency
    checks run only once the structure is valid, because they rely on it.
    """
    schema_errors = sorted(_schema_validator().iter_errors(data), key=_error_order)
    messages = [
        _message(source, _location(error.absolute_path, data), _schema_message(error))
        for error in schema_errors
    ]
    if not messages:
        messages = [_message(source, where, what) for where, what in _consistency_problems(data)]
    if messages:
        raise DefinitionError(messages)
    return _build(data)


# --- structure ---------------------------------------------------------------------------


@functools.cache
def _schema_validator() -> Draft202012Validator:
    return Draft202012Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


def _error_order(error: ValidationError) -> tuple[list[tuple[int, Any]], str]:
    # Indices sort as numbers so items[10] comes after items[2].
    path = [(0, step) if isinstance(step, int) else (1, step) for step in error.absolute_path]
    return path, error.message


def _schema_message(error: ValidationError) -> str:
    # A failed pattern prints its regex; the schema's description says the rule in words.
    if error.validator == "pattern" and "description" in error.schema:
        return f"{error.instance!r} is not valid: {error.schema['description']}"
    return error.message


def _location(path: Iterable[str | int], data: Any) -> str:
    """A path such as ``items[3] 'bond_2': text.es``: list entries are named by their key."""
    segments: list[str] = []
    current = ""
    node = data
    for step in path:
        node = node[step]
        if isinstance(step, int):
            current += f"[{step}]"
            if isinstance(node, dict) and isinstance(node.get("key"), str):
                segments.append(f"{current} {node['key']!r}")
                current = ""
        else:
            current += f".{step}" if current else step
    return ": ".join([*segments, current] if current else segments)


def _message(source: str, where: str, what: str) -> str:
    return f"{source}: {where}: {what}" if where else f"{source}: {what}"


# --- consistency -------------------------------------------------------------------------

_Problems = list[tuple[str, str]]  # (location, message)


def _consistency_problems(data: Mapping[str, Any]) -> _Problems:
    """Every cross-field problem of a structurally valid definition."""
    languages = data["languages"]
    problems: _Problems = []
    problems += _at("", _text_problems("name", data["name"], languages))
    if "instructions" in data:
        problems += _at("", _text_problems("instructions", data["instructions"], languages))
    problems += _at("", _response_problems("response", data["response"], languages))
    problems += _item_problems(data)
    problems += _scale_problems(data)
    problems += _question_problems(data)
    problems += _norm_problems(data)
    return problems


def _at(where: str, messages: Iterable[str]) -> _Problems:
    return [(where, message) for message in messages]


def _entry(kind: str, index: int, entry: Mapping[str, Any]) -> str:
    return f"{kind}[{index}] {entry['key']!r}"


def _item_problems(data: Mapping[str, Any]) -> _Problems:
    languages = data["languages"]
    scale_keys = {scale["key"] for scale in data["scales"]}
    first_index: dict[str, int] = {}
    problems: _Problems = []
    for i, item in enumerate(data["items"]):
        here = _entry("items", i, item)
        if item["key"] in first_index:
            problems.append((here, f"duplicate item key (also items[{first_index[item['key']]}])"))
        first_index.setdefault(item["key"], i)
        problems += _at(here, _text_problems("text", item["text"], languages))
        if "response" in item:
            problems += _at(here, _response_problems("response", item["response"], languages))
        problems += _at(
            here,
            (
                f"scale {key!r} is not defined in scales"
                for key in item["scales"]
                if key not in scale_keys
            ),
        )
    return problems


def _scale_problems(data: Mapping[str, Any]) -> _Problems:
    first_index: dict[str, int] = {}
    problems: _Problems = []
    for i, scale in enumerate(data["scales"]):
        here = _entry("scales", i, scale)
        if scale["key"] in first_index:
            problems.append(
                (here, f"duplicate scale key (also scales[{first_index[scale['key']]}])")
            )
        first_index.setdefault(scale["key"], i)
        problems += _at(here, _text_problems("name", scale["name"], data["languages"]))
        members = [item for item in data["items"] if scale["key"] in item["scales"]]
        if not members:
            problems.append((here, "no item belongs to this scale"))
        elif scale["min_answered"] > len(members):
            needed = scale["min_answered"]
            problems.append(
                (here, f"min_answered is {needed} but the scale has {len(members)} item(s)")
            )
        ranges: dict[tuple[int, int], list[str]] = {}
        for item in members:
            response = item.get("response", data["response"])
            ranges.setdefault((response["min"], response["max"]), []).append(item["key"])
        if len(ranges) > 1:
            # A mean over items with different ranges has no meaning.
            described = "; ".join(
                f"{low} to {high} ({', '.join(keys)})" for (low, high), keys in ranges.items()
            )
            problems.append((here, f"mixes response ranges: {described}; use one range per scale"))
    return problems


def _question_problems(data: Mapping[str, Any]) -> _Problems:
    questions = data.get("questions", [])
    item_index = {item["key"]: i for i, item in reversed(list(enumerate(data["items"])))}
    tension_key = next((q["key"] for q in questions if q["role"] == "tension"), None)
    first_key: dict[str, int] = {}
    first_role: dict[str, int] = {}
    problems: _Problems = []
    for i, question in enumerate(questions):
        here = _entry("questions", i, question)
        key, role = question["key"], question["role"]
        if key in item_index:
            problems.append((here, f"key is already used by items[{item_index[key]}]"))
        if key in first_key:
            problems.append((here, f"duplicate question key (also questions[{first_key[key]}])"))
        if role in first_role:
            problems.append(
                (here, f"role {role!r} is already used by questions[{first_role[role]}]")
            )
        first_key.setdefault(key, i)
        first_role.setdefault(role, i)
        problems += _at(here, _text_problems("text", question["text"], data["languages"]))
        for answer, text in question.get("labels", {}).items():
            problems += _at(here, _text_problems(f"{answer} label", text, data["languages"]))
        if question["type"] == "likert":
            problems += _at(here, _response_problems("answer", question, data["languages"]))
        if "shown_if" in question and question["shown_if"] != tension_key:
            problems.append(
                (here, f"shown_if {question['shown_if']!r} must be the key of the tension question")
            )
    return problems


def _norm_problems(data: Mapping[str, Any]) -> _Problems:
    ranges = _scale_ranges(data)
    problems: _Problems = []
    for scale_key, norm in data.get("norms", {}).items():
        here = f"norms.{scale_key}"
        if scale_key not in ranges:
            problems.append((here, f"scale {scale_key!r} is not defined in scales"))
        # `not >` and `not <` also catch NaN, which Python's json accepts.
        if not norm["sd"] > 0:
            problems.append((here, f"sd must be greater than 0 (got {norm['sd']})"))
        if not 0 < norm["reliability"] < 1:
            problems.append(
                (here, f"reliability must be above 0 and below 1 (got {norm['reliability']})")
            )
    for scale_key, cutoff in data.get("cutoffs", {}).items():
        here = f"cutoffs.{scale_key}"
        if scale_key not in ranges:
            problems.append((here, f"scale {scale_key!r} is not defined in scales"))
        elif ranges[scale_key] is not None:
            low, high = ranges[scale_key]
            if not low < cutoff["below"] <= high:
                problems.append(
                    (here, f"below ({cutoff['below']}) must be above {low} and at most {high}")
                )
    return problems


def _scale_ranges(data: Mapping[str, Any]) -> dict[str, tuple[int, int] | None]:
    """Each scale's (min, max), from its first item; None for a scale without items."""
    ranges: dict[str, tuple[int, int] | None] = {scale["key"]: None for scale in data["scales"]}
    for item in reversed(data["items"]):
        response = item.get("response", data["response"])
        for key in item["scales"]:
            ranges[key] = (response["min"], response["max"])
    return ranges


def _text_problems(field: str, text: Mapping[str, str], languages: Sequence[str]) -> list[str]:
    missing = [f"{field} has no {lang!r} translation" for lang in languages if lang not in text]
    extra = [
        f"{field} has a {lang!r} text but {lang!r} is not in languages"
        for lang in text
        if lang not in languages
    ]
    return missing + extra


def _response_problems(
    field: str, response: Mapping[str, Any], languages: Sequence[str]
) -> list[str]:
    low, high = response["min"], response["max"]
    step = response.get("step", 1)
    if high <= low:
        return [f"{field} max ({high}) must be greater than min ({low})"]
    problems = []
    if not _on_grid(high, low, step):
        problems.append(
            f"{field} step {format_number(step)} does not divide {low} to {high} into equal steps"
        )
    for label, text in response.get("anchors", {}).items():
        value = float(label)
        if not low <= value <= high:
            problems.append(f"{field} anchor {label!r} is outside the range {low} to {high}")
        elif not _on_grid(value, low, step):
            problems.append(f"{field} anchor {label!r} is not one of the scale's steps")
        problems += _text_problems(f"{field} anchor {label!r}", text, languages)
    return problems


def _on_grid(value: float, low: float, step: float) -> bool:
    steps = (value - low) / step
    return math.isclose(steps, round(steps), abs_tol=1e-9)


# --- building ----------------------------------------------------------------------------


def _build(data: dict[str, Any]) -> InstrumentDefinition:
    default_response = _build_response(data["response"])
    items = tuple(
        Item(
            key=item["key"],
            text=dict(item["text"]),
            scales=tuple(item["scales"]),
            reverse=item.get("reverse", False),
            response=_build_response(item["response"]) if "response" in item else default_response,
        )
        for item in data["items"]
    )
    scales = tuple(
        Scale(
            key=scale["key"],
            name=dict(scale["name"]),
            item_keys=tuple(item.key for item in items if scale["key"] in item.scales),
            min_answered=scale["min_answered"],
        )
        for scale in data["scales"]
    )
    questions = tuple(
        Question(
            key=question["key"],
            role=question["role"],
            type=question["type"],
            text=dict(question["text"]),
            labels={answer: dict(text) for answer, text in question.get("labels", {}).items()},
            response=_build_response(question) if question["type"] == "likert" else None,
            shown_if=question.get("shown_if"),
            max_length=question.get("max_length"),
        )
        for question in data.get("questions", [])
    )
    return InstrumentDefinition(
        key=data["key"],
        version=data["version"],
        rater=data["rater"],
        name=dict(data["name"]),
        languages=tuple(data["languages"]),
        instructions=dict(data.get("instructions", {})),
        source=data.get("source", ""),
        response=default_response,
        items=items,
        scales=scales,
        questions=questions,
        norms={
            key: Norm(sd=norm["sd"], reliability=norm["reliability"], source=norm["source"])
            for key, norm in data.get("norms", {}).items()
        },
        cutoffs={
            key: Cutoff(below=cutoff["below"], source=cutoff["source"])
            for key, cutoff in data.get("cutoffs", {}).items()
        },
        raw=copy.deepcopy(data),
    )


def _build_response(response: Mapping[str, Any]) -> ResponseScale:
    step = response.get("step", 1)
    return ResponseScale(
        type=response["type"],
        min=int(response["min"]),
        max=int(response["max"]),
        step=int(step) if float(step).is_integer() else step,
        anchors={_number(label): dict(text) for label, text in response.get("anchors", {}).items()},
    )


def _number(label: str) -> Number:
    value = float(label)
    return int(value) if value.is_integer() else value
