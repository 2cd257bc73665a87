"""FHIR R4 export: instruments as Questionnaires, ratings as QuestionnaireResponses, scale
scores as Observations, gathered in a Bundle (type collection) per client or per scope.

Resources are built as plain JSON-ready dicts (fast, no model objects per row);
``bundle_validate`` parses every resource with fhir.resources' R4B models (FHIR 4.3, whose
resources used here are those of R4) and the tests run it on every export.

Identity without personal data: a client is a Patient reference *by identifier* (system: a
URN scoped to the clinic, value: the pseudonymous client code), a session an Encounter and a
therapist a Practitioner likewise; no Patient, Encounter or Practitioner resource is
exported. Inside a bundle, resources refer to each other by their ``urn:uuid`` fullUrl,
derived deterministically from the stored ids so a re-export gives the same bundle.
"""

import datetime as dt
import re
import uuid
from collections.abc import Callable
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from alliance.models import Client, Clinic, User
from measures.definitions import InstrumentDefinition
from measures.models import Instrument, Rater, Rating, ScaleScore
from measures.selectors import instrument_definition

# Stable namespace for the deterministic urn:uuid fullUrls of exported resources.
NAMESPACE = uuid.UUID("0b7c43a4-7b4e-4b7e-9a55-7d6c1f2a9e10")
QUESTIONNAIRE_URL = "urn:alliance:questionnaire:{key}"
SCALE_SYSTEM = "urn:alliance:scale"
CATEGORY_SYSTEM = "http://terminology.hl7.org/CodeSystem/observation-category"
ABSENT_SYSTEM = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
UCUM = "http://unitsofmeasure.org"
SUBSCALES = ("bond", "goal", "task")


def _urn(clinic_id: int, kind: str) -> str:
    """The identifier system for one kind of thing in one clinic, e.g. its client codes."""
    return f"urn:alliance:clinic:{clinic_id}:{kind}"


def _full_url(kind: str, key: Any) -> str:
    return f"urn:uuid:{uuid.uuid5(NAMESPACE, f'{kind}:{key}')}"


def _instant(value) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="seconds")


def _canonical(instrument: Instrument) -> str:
    return f"{QUESTIONNAIRE_URL.format(key=instrument.key)}|{instrument.version}"


def patient_reference(client: Client) -> dict:
    return {
        "type": "Patient",
        "identifier": {"system": _urn(client.clinic_id, "client"), "value": client.code},
        "display": f"Client {client.code}",
    }


def practitioner_reference(user: User, clinic_id: int) -> dict:
    return {
        "type": "Practitioner",
        "identifier": {"system": _urn(clinic_id, "user"), "value": user.username},
    }


def _text(text: dict[str, str]) -> str:
    return text.get("en") or next(iter(text.values()))


def _answer_options(key: str, response) -> list[dict]:
    return [
        {
            "valueCoding": {
                "system": f"{QUESTIONNAIRE_URL.format(key=key)}:response",
                "code": str(value),
                "display": label,
            }
        }
        for value, label in response.choices("en")
    ]


def questionnaire(instrument: Instrument) -> dict:
    """The instrument's items (and optional questions) as an R4 Questionnaire."""
    definition = instrument_definition(instrument)
    items = []
    for item in definition.items:
        entry = {"linkId": item.key, "text": _text(item.text), "required": False}
        if item.response.type == "likert":
            entry |= {
                "type": "choice",
                "answerOption": _answer_options(definition.key, item.response),
            }
        else:
            entry |= {"type": "decimal"}
        items.append(entry)
    for question in definition.questions:
        entry = {"linkId": question.key, "text": _text(question.text), "required": False}
        if question.type == "yes_no":
            entry["type"] = "boolean"
        elif question.type == "likert":
            entry |= {
                "type": "choice",
                "answerOption": _answer_options(definition.key, question.response),
            }
        else:
            entry |= {"type": "text", "maxLength": question.max_length or 2000}
        if question.shown_if:
            entry["enableWhen"] = [
                {"question": question.shown_if, "operator": "=", "answerBoolean": True}
            ]
        items.append(entry)
    return {
        "resourceType": "Questionnaire",
        "id": f"{instrument.key}-v{instrument.version}",
        "url": QUESTIONNAIRE_URL.format(key=instrument.key),
        "version": str(instrument.version),
        "name": "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", instrument.key)),
        "title": instrument.name,
        "status": "active" if instrument.is_active else "retired",
        "subjectType": ["Patient"],
        "description": definition.source or instrument.name,
        "item": items,
    }


def _item_answer(definition: InstrumentDefinition, key: str, value: float) -> dict:
    response = definition.item(key).response
    number = int(value) if float(value).is_integer() else value
    if response.type == "likert":
        label = dict(response.choices("en")).get(number, str(number))
        return {
            "valueCoding": {
                "system": f"{QUESTIONNAIRE_URL.format(key=definition.key)}:response",
                "code": str(number),
                "display": label,
            }
        }
    return {"valueDecimal": value}


def _question_answers(definition: InstrumentDefinition, rating: Rating) -> list[dict]:
    stored = {
        "tension": rating.tension,
        "tension_addressed": rating.tension_addressed,
        "comment": rating.comment or None,
    }
    items = []
    for question in definition.questions:
        value = stored.get(question.role)
        if value is None:
            continue
        if question.type == "yes_no":
            answer = {"valueBoolean": bool(value)}
        elif question.type == "likert":
            label = dict(question.response.choices("en")).get(value, str(value))
            answer = {
                "valueCoding": {
                    "system": f"{QUESTIONNAIRE_URL.format(key=definition.key)}:response",
                    "code": str(value),
                    "display": label,
                }
            }
        else:
            answer = {"valueString": str(value)}
        items.append({"linkId": question.key, "answer": [answer]})
    return items


def _encounter_reference(rating: Rating) -> dict:
    session = rating.session
    return {
        "type": "Encounter",
        "identifier": {
            "system": _urn(session.client.clinic_id, "session"),
            "value": f"{session.client.code}/{session.number}",
        },
        "display": f"Session {session.number} of client {session.client.code}",
    }


def _author(rating: Rating) -> dict:
    client = rating.session.client
    if rating.rater == Rater.THERAPIST and rating.submitted_by is not None:
        return practitioner_reference(rating.submitted_by, client.clinic_id)
    return patient_reference(client)


def questionnaire_response(rating: Rating) -> dict:
    definition = instrument_definition(rating.instrument)
    order = {item.key: n for n, item in enumerate(definition.items)}
    answers = sorted(
        (a for a in rating.answers.all() if a.item in order), key=lambda a: order[a.item]
    )
    return {
        "resourceType": "QuestionnaireResponse",
        "id": str(rating.submission_id),
        "identifier": {"system": "urn:alliance:submission", "value": str(rating.submission_id)},
        "questionnaire": _canonical(rating.instrument),
        "status": "completed",
        "subject": patient_reference(rating.session.client),
        "encounter": _encounter_reference(rating),
        "authored": _instant(rating.submitted_at),
        "author": _author(rating),
        "source": _author(rating),
        "item": [
            {"linkId": a.item, "answer": [_item_answer(definition, a.item, a.value)]}
            for a in answers
        ]
        + _question_answers(definition, rating),
    }


def _quantity(score: float | None) -> dict:
    if score is None:
        return {
            "dataAbsentReason": {"coding": [{"system": ABSENT_SYSTEM, "code": "asked-declined"}]}
        }
    return {
        "valueQuantity": {
            "value": round(score, 4),
            "unit": "score",
            "system": UCUM,
            "code": "{score}",
        }
    }


def _scale_code(definition: InstrumentDefinition, scale: str) -> dict:
    try:
        name = _text(definition.scale(scale).name)
    except KeyError:
        name = scale
    return {
        "coding": [
            {
                "system": SCALE_SYSTEM,
                "code": f"{definition.key}:{scale}",
                "display": f"{_text(definition.name)}: {name}",
            }
        ],
        "text": f"{name} ({Rater(definition.rater).label.lower()}-rated alliance)",
    }


def observation(rating: Rating, response_url: str) -> dict | None:
    """The rating's total as an Observation, bond/goal/task (and other scales) as components.

    None when the rating has no total scale (a licensed form without one)."""
    definition = instrument_definition(rating.instrument)
    scores: dict[str, ScaleScore] = {s.scale: s for s in rating.scores.all()}
    total = scores.get("total")
    if total is None:
        return None
    others = sorted(
        (s for s in scores if s != "total"),
        key=lambda s: (SUBSCALES.index(s) if s in SUBSCALES else len(SUBSCALES), s),
    )
    return {
        "resourceType": "Observation",
        "id": f"{rating.submission_id}-total",
        "status": "final",
        "category": [
            {"coding": [{"system": CATEGORY_SYSTEM, "code": "survey", "display": "Survey"}]}
        ],
        "code": _scale_code(definition, "total"),
        "subject": patient_reference(rating.session.client),
        "encounter": _encounter_reference(rating),
        "effectiveDateTime": _instant(rating.session.starts_at),
        "issued": _instant(rating.submitted_at),
        "performer": [_author(rating)],
        **_quantity(total.score),
        "derivedFrom": [{"reference": response_url, "type": "QuestionnaireResponse"}],
        "component": [
            {"code": _scale_code(definition, scale), **_quantity(scores[scale].score)}
            for scale in others
        ],
    }


def ratings_for_fhir(ratings: QuerySet[Rating]) -> QuerySet[Rating]:
    """Everything the resources need, loaded in a fixed number of queries."""
    return (
        ratings.select_related("session__client", "instrument", "submitted_by")
        .prefetch_related(
            "answers", Prefetch("scores", queryset=ScaleScore.objects.order_by("scale"))
        )
        .order_by("session__client__code", "session__number", "rater", "pk")
    )


# Ratings per progress report of a bundle built for a background job (alliance.jobs), and
# ratings read per query (with their answers and scores, prefetched per chunk).
PROGRESS_EVERY = 500
FETCH_RATINGS = 2_000


def bundle(ratings: QuerySet[Rating], progress: Callable[[int, int], None] | None = None) -> dict:
    """A Bundle (type collection): the Questionnaires used, then per rating its
    QuestionnaireResponse and its Observation. The ratings are read FETCH_RATINGS at a time
    (with their answers and scores), never all at once: at 54,000 ratings reading them whole
    held 3.3 GB and told ``progress`` nothing for 33 s. ``progress`` (a background job's) is
    told (ratings done, ratings in all) as they are turned into resources."""
    total = ratings.count() if progress is not None else None
    if progress is not None:
        progress(0, total)
    used = Instrument.objects.filter(pk__in=ratings.order_by().values("instrument_id"))
    entries = [
        {
            "fullUrl": _full_url("Questionnaire", f"{i.key}|{i.version}"),
            "resource": questionnaire(i),
        }
        for i in sorted(used, key=lambda i: (i.key, i.version))
    ]
    done = 0
    for done, rating in enumerate(ratings.iterator(chunk_size=FETCH_RATINGS), start=1):
        response_url = _full_url("QuestionnaireResponse", rating.submission_id)
        entries.append({"fullUrl": response_url, "resource": questionnaire_response(rating)})
        found = observation(rating, response_url)
        if found is not None:
            entries.append(
                {"fullUrl": _full_url("Observation", rating.submission_id), "resource": found}
            )
        if progress is not None and done % PROGRESS_EVERY == 0:
            progress(done, max(total, done))
    if progress is not None:
        progress(done, max(total, done))
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": _instant(timezone.now()),
        "entry": entries,
    }


def clinic_bundle(
    clinic: Clinic,
    *,
    client_code: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """A clinic's ratings (or one client's) for the export command and the clinic admin's
    background job: no user scope applies."""
    ratings = Rating.objects.filter(session__client__clinic=clinic)
    if client_code is not None:
        ratings = ratings.filter(session__client__code=client_code)
    return bundle(ratings_for_fhir(ratings), progress)


def bundle_validate(data: dict) -> list[str]:
    """Parse the bundle and every resource in it with fhir.resources (R4B); the problems
    found, as "entry N (Type): message" lines (empty when everything is valid)."""
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError

    problems = []
    resources = [("bundle", data["resourceType"], data)]
    resources += [
        (f"entry {n}", entry["resource"]["resourceType"], entry["resource"])
        for n, entry in enumerate(data.get("entry", []))
    ]
    for where, kind, resource in resources:
        try:
            get_fhir_model_class(kind).model_validate(resource)
        except (ValidationError, ValueError) as exc:
            problems.append(f"{where} ({kind}): {exc}")
    return problems
