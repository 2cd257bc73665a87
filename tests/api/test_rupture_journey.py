"""Through the API alone: a drop across a cancelled session is flagged and makes one episode
(positions are held sessions), and a session recorded before an already-scheduled one takes
the earlier number."""

import datetime as dt

import pytest
from django.utils import timezone

from tests.api.conftest import api_client_for
from tests.flags.helpers import ITEMS

pytestmark = pytest.mark.django_db


def _session(api, client_id, starts_at, status):
    body = {"client": client_id, "starts_at": starts_at.isoformat(), "status": status}
    response = api.post("/api/v1/sessions/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def _rate(api, session, answer):
    body = {"session": session["id"], "answers": dict.fromkeys(ITEMS, answer)}
    response = api.post("/api/v1/ratings/", body, format="json")
    assert response.status_code == 201, response.content


def test_a_drop_across_a_cancelled_session_is_an_episode_at_the_sixth_session(
    therapist, instruments
):
    api = api_client_for(therapist)
    added = api.post("/api/v1/clients/", {"code": "NEW-HELD"}, format="json")
    assert added.status_code == 201, added.content
    client_id = added.json()["id"]
    first = timezone.now() - dt.timedelta(weeks=7)
    sessions = []
    for week in range(6):
        status = "cancelled" if week == 4 else "completed"
        sessions.append(_session(api, client_id, first + dt.timedelta(weeks=week), status))
    assert [s["number"] for s in sessions] == [1, 2, 3, 4, 5, 6]
    for session in sessions[:4]:
        _rate(api, session, 5)
    _rate(api, sessions[5], 3)

    flags = api.get(f"/api/v1/flags/?client={client_id}&rule=reliable_drop").json()["results"]
    assert [(f["session"], f["session_number"], f["rater"]) for f in flags] == [
        (sessions[5]["id"], 6, "therapist")
    ]
    assert flags[0]["explanation"].startswith(
        "Therapist-rated total fell from 5.0 at session 4 to 3.0 at session 6"
    )

    # One episode holds the event, whatever rules fired; acknowledged once through the API.
    # (No client form was ever filled in: that is an episode of its own, kind missing_forms.)
    episodes = api.get(f"/api/v1/episodes/?client={client_id}&kind=rupture").json()["results"]
    assert [(e["kind"], e["session"], e["session_number"], e["status"]) for e in episodes] == [
        ("rupture", sessions[5]["id"], 6, "open")
    ]
    [episode] = episodes
    # The drop and the dip below the client's baseline are one event, not two to handle.
    assert sorted((f["rule"], f["rater"], f["scale"]) for f in episode["flags"]) == [
        ("below_baseline", "therapist", "total"),
        ("reliable_drop", "therapist", "total"),
    ]
    assert flags[0]["id"] in {flag["id"] for flag in episode["flags"]}
    assert flags[0]["episode"] == episode["id"]
    assert all(flag["session"] == sessions[5]["id"] for flag in episode["flags"])
    assert episode["repair_status"] == "pending"
    acknowledged = api.post(
        f"/api/v1/episodes/{episode['id']}/acknowledge/",
        {"action_note": "We talked about the missed week.", "action_session": sessions[5]["id"]},
        format="json",
    )
    assert acknowledged.status_code == 200, acknowledged.content
    assert acknowledged.json()["status"] == "acknowledged"
    # Every flag of the episode now reads as acknowledged; nothing is left open.
    rows = api.get(f"/api/v1/flags/?client={client_id}").json()["results"]
    assert {row["episode_status"] for row in rows if row["episode"] == episode["id"]} == {
        "acknowledged"
    }
    # An episode without a drop has no repair status: blank, not a stray "nan".
    [missing] = api.get(f"/api/v1/episodes/?client={client_id}&kind=missing_forms").json()[
        "results"
    ]
    assert missing["repair_status"] == ""
    still_open = api.get(f"/api/v1/episodes/?client={client_id}&kind=rupture&status=open")
    assert still_open.json()["count"] == 0


def test_a_session_recorded_before_a_scheduled_one_takes_the_earlier_number(therapist, instruments):
    api = api_client_for(therapist)
    client_id = api.post("/api/v1/clients/", {"code": "NEW-DATE"}, format="json").json()["id"]
    now = timezone.now()
    held = _session(api, client_id, now - dt.timedelta(days=14), "completed")
    scheduled = _session(api, client_id, now + dt.timedelta(days=3), "scheduled")
    recorded = _session(api, client_id, now - dt.timedelta(days=2), "completed")
    assert (held["number"], scheduled["number"], recorded["number"]) == (1, 2, 2)
    listed = api.get(f"/api/v1/sessions/?client={client_id}&ordering=number").json()["results"]
    assert [(s["id"], s["number"]) for s in listed] == [
        (held["id"], 1),
        (recorded["id"], 2),
        (scheduled["id"], 3),
    ]
    # Moving the scheduled session before the recorded one renumbers them again.
    moved = api.patch(
        f"/api/v1/sessions/{scheduled['id']}/",
        {"starts_at": (now - dt.timedelta(days=5)).isoformat(), "status": "cancelled"},
        format="json",
    )
    assert moved.status_code == 200, moved.content
    assert moved.json()["number"] == 2
    assert api.get(f"/api/v1/sessions/{recorded['id']}/").json()["number"] == 3
