"""FHIR R4 export: every resource parses with fhir.resources (R4B models) and says what
the ratings say."""

import datetime as dt
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from alliance.interop import fhir
from measures.models import Rating
from tests.factories import ClientFactory, TherapySessionFactory, rating_of

pytestmark = pytest.mark.django_db

MODELS = {
    "Questionnaire": Questionnaire,
    "QuestionnaireResponse": QuestionnaireResponse,
    "Observation": Observation,
}


@pytest.fixture
def rated(client_of_therapist, instruments):
    """Two sessions: both raters on the first (the client reported tension and left a
    comment), only the therapist on the second, with a skipped item."""
    now = timezone.now()
    first = TherapySessionFactory(
        client=client_of_therapist, number=1, starts_at=now - dt.timedelta(days=8)
    )
    second = TherapySessionFactory(
        client=client_of_therapist, number=2, starts_at=now - dt.timedelta(days=1)
    )
    rating_of(
        first,
        instruments["client"],
        {"bond_1": 5, "bond_2": 4, "goal_1": 3, "goal_2": 3, "task_1": 4, "task_2": 4},
        questions={"tension": "yes", "tension_addressed": 4, "comment": "Felt rushed"},
    )
    rating_of(first, instruments["therapist"])
    rating_of(
        second,
        instruments["therapist"],
        {"bond_1": 4, "bond_2": None, "goal_1": 3, "goal_2": 3, "task_1": 4, "task_2": 4},
    )
    return client_of_therapist


def _bundle(client):
    return fhir.clinic_bundle(client.clinic, client_code=client.code)


def test_every_resource_parses_with_fhir_resources(rated):
    data = _bundle(rated)
    assert fhir.bundle_validate(data) == []
    Bundle.model_validate(data)
    for entry in data["entry"]:
        resource = entry["resource"]
        MODELS[resource["resourceType"]].model_validate(resource)
    kinds = [entry["resource"]["resourceType"] for entry in data["entry"]]
    assert kinds.count("Questionnaire") == 2
    assert kinds.count("QuestionnaireResponse") == 3
    assert kinds.count("Observation") == 3
    assert data["type"] == "collection"


def test_validation_reports_a_broken_resource(rated):
    data = _bundle(rated)
    observation = next(e for e in data["entry"] if e["resource"]["resourceType"] == "Observation")
    del observation["resource"]["status"]
    observation["resource"]["valueDecimal"] = 4.5  # not a value[x] of R4 Observation
    problems = fhir.bundle_validate(data)
    assert problems
    assert any("Observation" in problem for problem in problems)


def test_a_questionnaire_per_instrument(rated, instruments):
    questionnaire = fhir.questionnaire(instruments["client"])
    assert questionnaire["url"] == "urn:alliance:questionnaire:alliance-client"
    assert questionnaire["version"] == "1"
    link_ids = [item["linkId"] for item in questionnaire["item"]]
    assert link_ids[:6] == ["bond_1", "goal_1", "task_1", "bond_2", "goal_2", "task_2"]
    assert {"tension", "tension_addressed", "comment"} <= set(link_ids)
    tension_addressed = next(i for i in questionnaire["item"] if i["linkId"] == "tension_addressed")
    assert tension_addressed["enableWhen"][0]["question"] == "tension"
    bond = questionnaire["item"][0]
    assert bond["type"] == "choice"
    assert [o["valueCoding"]["code"] for o in bond["answerOption"]] == ["1", "2", "3", "4", "5"]


def test_a_client_rating_as_questionnaire_response(rated):
    rating = Rating.objects.get(session__number=1, rater="client")
    response = fhir.questionnaire_response(rating)
    clinic_id = rated.clinic_id
    patient = {"system": f"urn:alliance:clinic:{clinic_id}:client", "value": "R-0001"}
    assert response["subject"]["identifier"] == patient
    assert response["author"]["type"] == "Patient"
    assert response["author"]["identifier"] == patient
    assert response["encounter"]["identifier"] == {
        "system": f"urn:alliance:clinic:{clinic_id}:session",
        "value": "R-0001/1",
    }
    assert response["questionnaire"] == "urn:alliance:questionnaire:alliance-client|1"
    assert response["authored"] == rating.submitted_at.astimezone(dt.UTC).isoformat("T", "seconds")
    answers = {item["linkId"]: item["answer"][0] for item in response["item"]}
    assert answers["bond_1"]["valueCoding"]["code"] == "5"
    assert answers["tension"] == {"valueBoolean": True}
    assert answers["tension_addressed"]["valueCoding"]["code"] == "4"
    assert answers["comment"] == {"valueString": "Felt rushed"}


def test_a_therapist_rating_is_authored_by_the_practitioner(rated, therapist):
    rating = Rating.objects.get(session__number=1, rater="therapist")
    author = fhir.questionnaire_response(rating)["author"]
    assert author["type"] == "Practitioner"
    assert author["identifier"]["value"] == therapist.username


def test_scores_as_observation_with_components(rated):
    data = _bundle(rated)
    urls = {e["resource"]["id"]: e["fullUrl"] for e in data["entry"]}
    rating = Rating.objects.get(session__number=1, rater="client")
    observation = next(
        e["resource"]
        for e in data["entry"]
        if e["resource"]["resourceType"] == "Observation"
        and e["resource"]["id"] == f"{rating.submission_id}-total"
    )
    assert observation["category"][0]["coding"][0]["code"] == "survey"
    assert observation["code"]["coding"][0] == {
        "system": "urn:alliance:scale",
        "code": "alliance-client:total",
        "display": "Session check-in (client): Total",
    }
    assert observation["valueQuantity"]["value"] == pytest.approx(23 / 6, abs=1e-4)
    components = {
        c["code"]["coding"][0]["code"]: c["valueQuantity"]["value"]
        for c in observation["component"]
    }
    assert components == {
        "alliance-client:bond": 4.5,
        "alliance-client:goal": 3.0,
        "alliance-client:task": 4.0,
    }
    assert observation["derivedFrom"] == [
        {"reference": urls[str(rating.submission_id)], "type": "QuestionnaireResponse"}
    ]


def test_a_bundle_is_the_same_when_exported_again(rated):
    first, second = _bundle(rated), _bundle(rated)
    first.pop("timestamp"), second.pop("timestamp")
    assert first == second


def test_export_command_writes_a_valid_bundle(rated):
    out = io.StringIO()
    call_command(
        "export_fhir",
        "--clinic",
        str(rated.clinic_id),
        "--client",
        "R-0001",
        "--validate",
        stdout=out,
    )
    data = json.loads(out.getvalue())
    assert fhir.bundle_validate(data) == []
    assert len(data["entry"]) == 8


def test_export_command_refuses_unknown_clinic_and_client(rated):
    with pytest.raises(CommandError, match="No clinic"):
        call_command("export_fhir", "--clinic", "999999", stdout=io.StringIO())
    with pytest.raises(CommandError, match="No client"):
        call_command(
            "export_fhir",
            "--clinic",
            str(rated.clinic_id),
            "--client",
            "NOPE",
            stdout=io.StringIO(),
        )


def test_api_bundles_parse_and_are_scoped(rated, therapist, other_therapist, instruments):
    from tests.api.conftest import api_client_for

    foreign = ClientFactory(primary_therapist=other_therapist, code="F-1")
    rating_of(TherapySessionFactory(client=foreign, number=1), instruments["client"])
    api = api_client_for(therapist)
    response = api.get("/api/v1/fhir/bundle/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/fhir+json"
    data = response.json()
    assert fhir.bundle_validate(data) == []
    assert "F-1" not in response.content.decode()
    one = api.get(f"/api/v1/clients/{rated.pk}/fhir/").json()
    assert fhir.bundle_validate(one) == []
    assert api.get(f"/api/v1/clients/{foreign.pk}/fhir/").status_code == 404


def test_bundle_takes_a_fixed_number_of_queries(rated, instruments, django_assert_max_num_queries):
    ratings = fhir.ratings_for_fhir(Rating.objects.all())
    with django_assert_max_num_queries(4):
        small = fhir.bundle(ratings)
    for number in range(3, 13):
        session = TherapySessionFactory(client=rated, number=number)
        rating_of(session, instruments["client"])
        rating_of(session, instruments["therapist"])
    with django_assert_max_num_queries(4):
        large = fhir.bundle(fhir.ratings_for_fhir(Rating.objects.all()))
    assert len(large["entry"]) > len(small["entry"]) + 30


def test_a_large_bundle_reads_its_ratings_a_chunk_at_a_time(
    rated, instruments, monkeypatch, django_assert_max_num_queries
):
    """Never all ratings with their answers in memory at once, and progress as it reads."""
    whole = fhir.bundle(fhir.ratings_for_fhir(Rating.objects.all()))
    monkeypatch.setattr(fhir, "FETCH_RATINGS", 2)
    monkeypatch.setattr(fhir, "PROGRESS_EVERY", 1)
    told = []
    ratings = Rating.objects.count()  # 3: two chunks
    # The count, the instruments, the ratings, and each chunk's answers and scores.
    with django_assert_max_num_queries(3 + 2 * 2):
        chunked = fhir.bundle(
            fhir.ratings_for_fhir(Rating.objects.all()), lambda *p: told.append(p)
        )
    assert chunked["entry"] == whole["entry"]
    assert told == [(0, ratings)] + [(n, ratings) for n in range(1, ratings + 1)] + [
        (ratings, ratings)
    ]
