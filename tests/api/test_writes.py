"""What the writes do, through the same services the pages use."""

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from alliance.models import Flag
from measures.models import Rating
from sessions.models import FormLink, TherapySession
from tests.api.conftest import api_client_for
from tests.factories import TherapySessionFactory

pytestmark = pytest.mark.django_db

ANSWERS = {"bond_1": 4, "goal_1": 3, "task_1": 4, "bond_2": 5, "goal_2": "3", "task_2": None}


@pytest.fixture
def therapist_api(world):
    return api_client_for(world.users["therapist"])


def _post_rating(api, session, **extra):
    body = {"session": session.pk, "answers": ANSWERS, **extra}
    return api.post("/api/v1/ratings/", body, format="json")


def test_a_therapist_posts_their_rating_and_reads_it_back(therapist_api, world):
    response = _post_rating(therapist_api, world.own.unrated)
    assert response.status_code == 201, response.content
    rating = response.json()
    assert rating["rater"] == "therapist"
    assert rating["submitted_by"]["username"] == "therapist"
    assert rating["instrument"]["key"] == "alliance-therapist"
    assert rating["answers"] == {
        "bond_1": 4.0,
        "goal_1": 3.0,
        "task_1": 4.0,
        "bond_2": 5.0,
        "goal_2": 3.0,
    }
    assert rating["scores"]["bond"] == 4.5
    assert rating["scores"]["total"] == pytest.approx(3.8)
    assert therapist_api.get(f"/api/v1/ratings/{rating['id']}/").json() == rating


def test_the_same_submission_twice_stores_one_rating(therapist_api, world):
    submission = str(uuid.uuid4())
    first = _post_rating(therapist_api, world.own.unrated, submission_id=submission)
    again = _post_rating(therapist_api, world.own.unrated, submission_id=submission)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert Rating.objects.filter(session=world.own.unrated).count() == 1


def test_a_second_rating_of_the_session_is_a_conflict(therapist_api, world):
    assert _post_rating(therapist_api, world.own.unrated).status_code == 201
    second = _post_rating(therapist_api, world.own.unrated)
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "conflict"


def test_a_submission_id_of_another_rating_reveals_nothing(therapist_api, world):
    foreign = world.other.held.ratings.get(rater="therapist")
    response = _post_rating(
        therapist_api, world.own.unrated, submission_id=str(foreign.submission_id)
    )
    assert response.status_code == 409
    assert "OTHER-1" not in response.content.decode()


def test_only_the_sessions_therapist_rates_it(world, client_of_therapist):
    """The primary therapist may change a colleague's session but not rate it for them."""
    colleague = world.users["other_therapist"]
    session = TherapySessionFactory(client=world.own.client, therapist=colleague, number=3)
    response = _post_rating(api_client_for(world.users["therapist"]), session)
    assert response.status_code == 400
    assert "Only the therapist who held this session" in response.json()["error"]["message"]


def test_future_and_cancelled_sessions_cannot_be_rated(therapist_api, world):
    future = TherapySessionFactory(
        client=world.own.client,
        number=3,
        starts_at=timezone.now() + timezone.timedelta(days=2),
        status=TherapySession.Status.SCHEDULED,
    )
    cancelled = TherapySessionFactory(
        client=world.own.client, number=4, status=TherapySession.Status.CANCELLED
    )
    assert _post_rating(therapist_api, future).status_code == 400
    assert _post_rating(therapist_api, cancelled).status_code == 400
    # The same rule refuses their client form links (sessions.services.session_check_rateable).
    for session, message in (
        (future, "This session has not started yet: the client form can be handed out once"),
        (cancelled, "A cancelled or missed session has no client form."),
    ):
        refused = therapist_api.post(f"/api/v1/sessions/{session.pk}/form-link/")
        assert refused.status_code == 400
        assert refused.json()["error"]["message"].startswith(message)
    assert not FormLink.objects.exists()


def test_there_is_no_way_to_post_a_client_rating(therapist_api, world):
    """Client ratings come only through form links: the API records the therapist form."""
    body = {
        "session": world.own.unrated.pk,
        "answers": ANSWERS,
        "questions": {"tension": "yes"},
    }
    response = therapist_api.post("/api/v1/ratings/", body, format="json")
    assert response.status_code == 400
    assert "tension" in response.json()["error"]["fields"]
    assert not Rating.objects.filter(session=world.own.unrated, rater="client").exists()


def test_a_therapist_corrects_their_rating_with_the_revision_they_read(therapist_api, world):
    rating = _post_rating(therapist_api, world.own.unrated).json()
    url = f"/api/v1/ratings/{rating['id']}/"
    changed = therapist_api.patch(
        url, {"answers": {**ANSWERS, "bond_1": 2}, "revision": 1}, format="json"
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["revision"] == 2
    assert changed.json()["answers"]["bond_1"] == 2.0
    stale = therapist_api.patch(url, {"answers": ANSWERS, "revision": 1}, format="json")
    assert stale.status_code == 409


def test_nobody_else_corrects_a_rating(world):
    rating = world.own.held.ratings.get(rater="therapist")
    for role in ("supervisor", "clinic_admin", "other_therapist"):
        api = api_client_for(world.users[role])
        response = api.patch(
            f"/api/v1/ratings/{rating.pk}/", {"answers": ANSWERS, "revision": 1}, format="json"
        )
        assert response.status_code == 404


def test_a_form_link_for_the_client(therapist_api, world, settings):
    settings.ALLIANCE_BASE_URL = "https://alliance.example.org"
    response = therapist_api.post(
        f"/api/v1/sessions/{world.own.unrated.pk}/form-link/", {"channel": "qr"}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"url", "expires_at"}
    assert body["url"].startswith("https://alliance.example.org/f/")
    link = FormLink.objects.get(session=world.own.unrated)
    assert link.channel == "qr"
    token = body["url"].rstrip("/").rsplit("/", 1)[1]
    assert token not in link.token_hash  # only the hash is stored
    refused = therapist_api.post(f"/api/v1/sessions/{world.own.held.pk}/form-link/")
    assert refused.status_code == 400  # the client already filled in that session's form


def test_sessions_are_added_and_changed_through_the_services(therapist_api, world):
    created = therapist_api.post(
        "/api/v1/sessions/",
        {"client": world.own.client.pk, "starts_at": "2030-01-02T15:00:00+01:00"},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["number"] == 3
    assert created.json()["status"] == "scheduled"
    url = f"/api/v1/sessions/{created.json()['id']}/"
    cancelled = therapist_api.patch(url, {"status": "cancelled", "note": "ill"}, format="json")
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["note"] == "ill"
    future_completed = therapist_api.patch(url, {"status": "completed"}, format="json")
    assert future_completed.status_code == 400
    has_ratings = therapist_api.patch(
        f"/api/v1/sessions/{world.own.held.pk}/", {"status": "cancelled"}, format="json"
    )
    assert has_ratings.status_code == 400


def test_clients_are_added_changed_and_transferred(world):
    therapist = api_client_for(world.users["therapist"])
    added = therapist.post("/api/v1/clients/", {"code": "NEW-1"}, format="json")
    assert added.status_code == 201
    assert added.json()["primary_therapist"]["username"] == "therapist"
    taken = therapist.post("/api/v1/clients/", {"code": "NEW-1"}, format="json")
    assert taken.status_code == 400
    assert "already exists" in taken.json()["error"]["message"]
    for_colleague = therapist.post(
        "/api/v1/clients/", {"primary_therapist": world.users["other_therapist"].pk}, format="json"
    )
    assert for_colleague.status_code == 404
    supervisor = api_client_for(world.users["supervisor"])
    assert supervisor.post("/api/v1/clients/", {}, format="json").status_code == 404

    admin = api_client_for(world.users["clinic_admin"])
    suggested = admin.post(
        "/api/v1/clients/", {"primary_therapist": world.users["other_therapist"].pk}
    )
    assert suggested.status_code == 201
    assert suggested.json()["code"]  # the clinic's next suggested code

    client_id = added.json()["id"]
    discharged = therapist.patch(
        f"/api/v1/clients/{client_id}/", {"status": "discharged"}, format="json"
    )
    assert discharged.json()["status"] == "discharged"
    assert discharged.json()["discharged_at"]
    url = f"/api/v1/clients/{client_id}/transfer/"
    target = {"to_therapist": world.users["other_therapist"].pk}
    assert therapist.post(url, target, format="json").status_code == 404
    moved = admin.post(url, target, format="json")
    assert moved.status_code == 200
    assert moved.json()["primary_therapist"]["username"] == "other-therapist"


def test_an_episode_is_acknowledged_resolved_and_commented_on(world):
    therapist = api_client_for(world.users["therapist"])
    url = f"/api/v1/episodes/{world.own.episode.pk}/"
    empty = therapist.post(url + "acknowledge/", {"action_note": " "}, format="json")
    assert empty.status_code == 400
    foreign_session = therapist.post(
        url + "acknowledge/",
        {"action_note": "Talked", "action_session": world.other.held.pk},
        format="json",
    )
    assert foreign_session.json()["error"]["fields"] == {
        "action_session": ["Choose one of this client's sessions."]
    }
    upcoming = TherapySessionFactory(
        client=world.own.client,
        number=9,
        starts_at=timezone.now() + dt.timedelta(days=7),
        status=TherapySession.Status.SCHEDULED,
    )
    future_session = therapist.post(
        url + "acknowledge/",
        {"action_note": "Talked", "action_session": upcoming.pk},
        format="json",
    )
    assert future_session.status_code == 400
    assert future_session.json()["error"]["fields"] == {
        "action_session": ["Choose one of this client's held sessions."]
    }
    acknowledged = therapist.post(
        url + "acknowledge/",
        {
            "action_note": "We talked about the homework.",
            "action_session": world.own.unrated.pk,
            "rupture_type": "withdrawal",
            "repair_strategy": "explore_together",
        },
        format="json",
    )
    assert acknowledged.status_code == 200
    body = acknowledged.json()
    assert (body["status"], body["rupture_type"], body["action_session"]) == (
        "acknowledged",
        "withdrawal",
        world.own.unrated.pk,
    )
    comment = api_client_for(world.users["supervisor"]).post(
        url + "comments/", {"text": "Bring it to supervision."}, format="json"
    )
    assert comment.status_code == 201
    assert comment.json()["author"]["username"] == "supervisor"
    resolved = therapist.post(url + "resolve/", {"note": "Repaired."}, format="json")
    assert resolved.json()["status"] == "resolved"
    assert [c["text"] for c in resolved.json()["comments"]] == [
        "Bring it to supervision.",
        "Repaired.",
    ]
    assert therapist.post(url + "resolve/", {}, format="json").status_code == 400
    # The flag is the record: it shows its episode's status and takes no action.
    flag = therapist.get(f"/api/v1/flags/{world.own.flag.pk}/").json()
    assert (flag["episode"], flag["episode_status"]) == (world.own.episode.pk, "resolved")
    assert "acknowledged_by" not in flag
    for action in ("acknowledge", "resolve", "comments"):
        gone = therapist.post(f"/api/v1/flags/{world.own.flag.pk}/{action}/", {}, format="json")
        assert gone.status_code == 404
        assert gone.json()["error"]["code"] == "not_found"


def test_an_episode_nests_its_active_flags(world):
    own = world.own
    retired = Flag.objects.create(
        client=own.client,
        session=own.held,
        episode=own.episode,
        rater="client",
        scale="total",
        rule=Flag.Rule.RELIABLE_DROP,
        magnitude=1,
        explanation="Retired: the rating was corrected.",
        retired_at=timezone.now(),
    )
    therapist = api_client_for(world.users["therapist"])
    body = therapist.get(f"/api/v1/episodes/{own.episode.pk}/").json()
    assert (body["client"], body["kind"], body["status"]) == (own.client.pk, "rupture", "open")
    assert (body["session"], body["session_number"]) == (own.held.pk, own.held.number)
    assert [f["id"] for f in body["flags"]] == [own.flag.pk]
    assert set(body["flags"][0]) == {
        "id",
        "rule",
        "rater",
        "scale",
        "session",
        "session_number",
        "magnitude",
        "explanation",
        "repair_status",
        "repaired_session",
    }
    # Every flag of an episode, retired ones too, through the flags endpoint.
    listed = therapist.get(f"/api/v1/flags/?episode={own.episode.pk}&retired=true").json()
    assert [f["id"] for f in listed["results"]] == [retired.pk]
    foreign = therapist.get(f"/api/v1/flags/?episode={world.other.episode.pk}")
    assert foreign.status_code == 400


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", True),
        ("status=open", True),
        ("status=acknowledged", False),
        ("kind=rupture", True),
        ("kind=ceiling", False),
        ("retired=true", False),
        ("repair_status=unrepaired", False),
    ],
)
def test_episodes_filter(world, query, expected):
    therapist = api_client_for(world.users["therapist"])
    response = therapist.get(f"/api/v1/episodes/?{query}")
    assert response.status_code == 200, response.content
    ids = [row["id"] for row in response.json()["results"]]
    assert ids == ([world.own.episode.pk] if expected else [])
