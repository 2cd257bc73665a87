"""The episode workflow: who sees, acknowledges, resolves and comments on an episode (a
"flag" on screen: one item per event, however many rules found it), and how."""

import datetime as dt
from html.parser import HTMLParser

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from alliance.flags import selectors as flag_selectors
from alliance.flags import services as flag_services
from alliance.models import Episode, EpisodeComment, Flag
from sessions.models import TherapySession
from tests.factories import (
    ClientFactory,
    FlagFactory,
    SupervisionFactory,
    TherapistFactory,
    TherapySessionFactory,
    rating_of,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def sessions(client_of_therapist):
    return {
        number: TherapySessionFactory(client=client_of_therapist, number=number)
        for number in (1, 2, 3, 4)
    }


@pytest.fixture
def flag(sessions):
    return FlagFactory(session=sessions[4])


@pytest.fixture
def episode(flag):
    return flag.episode


@pytest.fixture
def world(therapist, other_therapist, supervisor, clinic_admin, other_clinic_admin):
    return {
        "therapist": therapist,
        "other_therapist": other_therapist,
        "supervisor": supervisor,
        "clinic_admin": clinic_admin,
        "other_clinic_admin": other_clinic_admin,
    }


def as_user(client, user):
    client.force_login(user)
    return client


ACK = {
    "action_note": "Discussed the tension at the next session.",
    "rupture_type": "withdrawal",
    "repair_strategy": "explore_together",
}


# --- scoping -----------------------------------------------------------------------------

SEES = {
    "therapist": 200,
    "other_therapist": 404,
    "supervisor": 200,
    "clinic_admin": 200,
    "other_clinic_admin": 404,
}
ACTS = {name: 302 if name == "therapist" else 404 for name in SEES}
COMMENTS = {**ACTS, "supervisor": 302}


@pytest.mark.parametrize("role", SEES)
def test_who_sees_a_flag(client, world, episode, role):
    response = as_user(client, world[role]).get(reverse("episode_detail", args=[episode.pk]))
    assert response.status_code == SEES[role]


@pytest.mark.parametrize("role", ACTS)
def test_only_the_clients_therapist_acknowledges(client, world, episode, role):
    response = as_user(client, world[role]).post(
        reverse("episode_acknowledge", args=[episode.pk]), ACK
    )
    assert response.status_code == ACTS[role]
    episode.refresh_from_db()
    assert (episode.status == "acknowledged") == (role == "therapist")


@pytest.mark.parametrize("role", ACTS)
def test_only_the_clients_therapist_resolves(client, world, episode, role):
    response = as_user(client, world[role]).post(reverse("episode_resolve", args=[episode.pk]), {})
    assert response.status_code == ACTS[role]
    episode.refresh_from_db()
    assert (episode.status == "resolved") == (role == "therapist")


@pytest.mark.parametrize("role", COMMENTS)
def test_the_therapist_and_their_supervisor_comment(client, world, episode, role):
    response = as_user(client, world[role]).post(
        reverse("episode_comment", args=[episode.pk]), {"text": "Let's discuss on Thursday."}
    )
    assert response.status_code == COMMENTS[role]
    assert EpisodeComment.objects.filter(episode=episode).exists() == (COMMENTS[role] == 302)


def test_anonymous_users_are_sent_to_log_in(client, episode):
    for name in ("episode_detail", "episode_acknowledge", "episode_resolve", "episode_comment"):
        response = client.post(reverse(name, args=[episode.pk]))
        assert response.status_code == 302 and "/login/" in response.url


def test_a_supervisor_of_someone_else_sees_nothing(client, episode, clinic):
    outsider = SupervisionFactory(
        supervisor__clinic=clinic, supervisor__username="outsider"
    ).supervisor
    response = as_user(client, outsider).get(reverse("episode_detail", args=[episode.pk]))
    assert response.status_code == 404


def test_a_therapist_who_held_a_session_with_the_client_may_act(client, episode, other_therapist):
    TherapySessionFactory(client=episode.client, number=5, therapist=other_therapist)
    response = as_user(client, other_therapist).post(
        reverse("episode_acknowledge", args=[episode.pk]), ACK
    )
    assert response.status_code == 302


# --- acknowledge, resolve, comment -------------------------------------------------------


def test_acknowledging_records_what_was_done(client, therapist, episode, sessions):
    response = as_user(client, therapist).post(
        reverse("episode_acknowledge", args=[episode.pk]),
        {**ACK, "action_session": sessions[4].pk},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == reverse("client_detail", args=[episode.client_id])
    assert "Flag acknowledged" in response.content.decode()
    episode.refresh_from_db()
    assert episode.status == Episode.Status.ACKNOWLEDGED
    assert episode.acknowledged_by == therapist and episode.acknowledged_at is not None
    assert episode.action_note == ACK["action_note"]
    assert episode.action_session == sessions[4]
    assert (episode.rupture_type, episode.repair_strategy) == ("withdrawal", "explore_together")
    page = response.content.decode()
    assert "Discussed the tension at the next session." in page
    assert "Explored the rupture together" in page


def test_a_missing_note_comes_back_with_every_answer_kept(client, therapist, episode, sessions):
    response = as_user(client, therapist).post(
        reverse("episode_acknowledge", args=[episode.pk]),
        {
            "action_note": "  ",
            "action_session": sessions[3].pk,
            "rupture_type": "confrontation",
            "repair_strategy": "clarify",
        },
    )
    assert response.status_code == 400
    form = response.context["acknowledge_form"]
    assert "action_note" in form.errors
    page = response.content.decode()
    assert f'<option value="{sessions[3].pk}" selected>' in page
    assert '<option value="confrontation" selected>' in page
    assert '<option value="clarify" selected>' in page
    episode.refresh_from_db()
    assert episode.status == Episode.Status.OPEN


def test_the_session_must_be_one_of_the_clients(client, therapist, episode, clinic):
    elsewhere = TherapySessionFactory(client=ClientFactory(primary_therapist=therapist))
    response = as_user(client, therapist).post(
        reverse("episode_acknowledge", args=[episode.pk]), {**ACK, "action_session": elsewhere.pk}
    )
    assert response.status_code == 400
    assert "action_session" in response.context["acknowledge_form"].errors
    cancelled = TherapySessionFactory(
        client=episode.client, number=9, status=TherapySession.Status.CANCELLED
    )
    with pytest.raises(ValidationError) as error:
        flag_services.episode_acknowledge(
            episode=episode, user=therapist, action_note="x", action_session=cancelled
        )
    assert "action_session" in error.value.message_dict


def test_a_tension_report_shows_the_clients_own_words(client, therapist, sessions, instruments):
    rating_of(
        sessions[4],
        instruments["client"],
        questions={"tension": "yes", "tension_addressed": "2", "comment": "You <rushed> me."},
    )
    tension = Flag.objects.get(session=sessions[4], rule="client_reported_tension")
    url = reverse("episode_detail", args=[tension.episode_id])
    spanish = as_user(client, therapist).get(url, HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "Mal" in spanish
    client.cookies.pop("django_language", None)
    page = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "You &lt;rushed&gt; me." in page
    assert "Poorly" in page
    assert "The client said there was tension or a misunderstanding at session 4." in page
    other = as_user(client, therapist).get(
        reverse("episode_detail", args=[FlagFactory().episode_id])
    )
    assert other.status_code == 404


def test_a_tension_report_without_a_comment_says_so(client, therapist, sessions, instruments):
    rating_of(sessions[4], instruments["client"], questions={"tension": "yes"})
    tension = Flag.objects.get(session=sessions[4], rule="client_reported_tension")
    page = as_user(client, therapist).get(reverse("episode_detail", args=[tension.episode_id]))
    (item,) = page.context["evidence"]
    assert item.client_report == flag_selectors.ClientReport(comment="", addressed="")
    assert "No comment" in page.content.decode()


def test_the_numbers_are_one_click_away(client, therapist, episode, flag):
    page = as_user(client, therapist).get(reverse("episode_detail", args=[episode.pk]))
    html = page.content.decode()
    (item,) = page.context["evidence"]
    assert item.client_report is None and item.explanation == flag.explanation
    summary = html.index("How was this worked out?")
    assert html.rindex("<details", 0, summary) < summary < html.index(flag.explanation)


class _Ids(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.ids += [value for name, value in attrs if name == "id"]


def page_ids(html: str) -> list[str]:
    parser = _Ids()
    parser.feed(html)
    return parser.ids


def test_every_id_on_the_episode_page_is_unique(client, therapist, episode, sessions):
    FlagFactory(session=sessions[4], rule="sudden_loss")
    page = as_user(client, therapist).get(reverse("episode_detail", args=[episode.pk]))
    ids = page_ids(page.content.decode())
    assert sorted(i for i in set(ids) if ids.count(i) > 1) == []
    assert "id_acknowledge_action_note" in ids and "id_resolve_note" in ids


def test_a_repair_is_recorded_only_at_a_held_session(client, therapist, episode, sessions):
    now = timezone.now()
    not_held = [
        TherapySessionFactory(
            client=episode.client,
            number=5,
            starts_at=now + dt.timedelta(days=7),
            status=TherapySession.Status.SCHEDULED,
        ),
        # Marked completed ahead of time: it has still not taken place.
        TherapySessionFactory(
            client=episode.client, number=6, starts_at=now + dt.timedelta(days=14)
        ),
        TherapySessionFactory(
            client=episode.client,
            number=7,
            starts_at=now - dt.timedelta(hours=1),
            status=TherapySession.Status.SCHEDULED,
        ),
    ]
    page = as_user(client, therapist).get(reverse("episode_detail", args=[episode.pk]))
    offered = list(page.context["acknowledge_form"].fields["action_session"].queryset)
    assert sorted(session.number for session in offered) == [1, 2, 3, 4]
    for session in not_held:
        response = client.post(
            reverse("episode_acknowledge", args=[episode.pk]), {**ACK, "action_session": session.pk}
        )
        assert response.status_code == 400
        with pytest.raises(ValidationError) as error:
            flag_services.episode_acknowledge(
                episode=episode, user=therapist, action_note="x", action_session=session
            )
        assert "action_session" in error.value.message_dict
    episode.refresh_from_db()
    assert episode.status == Episode.Status.OPEN


def test_one_acknowledgement_covers_every_rule_of_the_event(client, therapist, episode, sessions):
    others = [
        FlagFactory(session=sessions[4], rule="sudden_loss"),
        FlagFactory(session=sessions[4], rule="client_reported_tension", scale="tension"),
    ]
    elsewhere = FlagFactory(session=sessions[3])
    assert {other.episode for other in others} == {episode}
    page = as_user(client, therapist).get(reverse("client_detail", args=[episode.client_id]))
    assert page.content.decode().count('class="flag-row ') == 2  # sessions 4 and 3
    response = client.post(reverse("episode_acknowledge", args=[episode.pk]), ACK, follow=True)
    assert "Flag acknowledged" in response.content.decode()
    episode.refresh_from_db()
    assert episode.status == "acknowledged" and episode.action_note == ACK["action_note"]
    assert Episode.objects.get(pk=elsewhere.episode_id).status == "open"


def test_acknowledging_again_edits_the_record(client, therapist, episode):
    as_user(client, therapist).post(reverse("episode_acknowledge", args=[episode.pk]), ACK)
    page = client.get(reverse("episode_detail", args=[episode.pk])).content.decode()
    assert "Edit what was done" in page and ACK["action_note"] in page
    client.post(
        reverse("episode_acknowledge", args=[episode.pk]),
        {**ACK, "action_note": "Changed the task."},
    )
    episode.refresh_from_db()
    assert episode.action_note == "Changed the task."


def test_resolving_closes_the_flag_and_keeps_the_note_as_a_comment(client, therapist, episode):
    response = as_user(client, therapist).post(
        reverse("episode_resolve", args=[episode.pk]), {"note": "Back on track."}, follow=True
    )
    assert "Flag resolved." in response.content.decode()
    episode.refresh_from_db()
    assert episode.status == Episode.Status.RESOLVED and episode.resolved_by == therapist
    assert episode.comments.get().text == "Back on track."
    # A resolved flag is closed: no more acknowledging or resolving.
    response = client.post(reverse("episode_acknowledge", args=[episode.pk]), ACK)
    assert response.status_code == 400
    assert "already resolved" in response.content.decode()
    with pytest.raises(ValidationError, match="already resolved"):
        flag_services.episode_resolve(episode=episode, user=therapist)


def test_a_retired_episode_is_read_only(client, therapist, episode):
    episode.retired_at = timezone.now()
    episode.save()
    page = as_user(client, therapist).get(reverse("episode_detail", args=[episode.pk]))
    assert "This flag no longer applies" in page.content.decode()
    assert page.context["acknowledge_form"] is None
    response = client.post(reverse("episode_acknowledge", args=[episode.pk]), ACK)
    assert response.status_code == 400
    assert "no longer applies" in response.content.decode()


def test_a_supervisor_comments_and_the_comment_is_listed_under_the_flag(
    client, supervisor, therapist, episode
):
    response = as_user(client, supervisor).post(
        reverse("episode_comment", args=[episode.pk]),
        {"text": "Good catch. Bring the recording on Thursday."},
        follow=True,
    )
    assert response.redirect_chain[-1][0].startswith(reverse("episode_detail", args=[episode.pk]))
    assert "Comment added." in response.content.decode()
    comment = episode.comments.get()
    assert comment.author == supervisor
    page = as_user(client, therapist).get(reverse("client_detail", args=[episode.client_id]))
    assert "Good catch. Bring the recording on Thursday." in page.content.decode()


def test_an_empty_comment_is_refused(client, supervisor, episode):
    response = as_user(client, supervisor).post(
        reverse("episode_comment", args=[episode.pk]), {"text": " "}
    )
    assert response.status_code == 400
    assert "text" in response.context["comment_form"].errors
    with pytest.raises(ValidationError):
        flag_services.episode_comment_add(episode=episode, user=supervisor, text="   ")


def test_services_refuse_users_who_may_only_read(episode, supervisor, clinic_admin):
    with pytest.raises(ValidationError):
        flag_services.episode_acknowledge(episode=episode, user=supervisor, action_note="x")
    with pytest.raises(ValidationError):
        flag_services.episode_resolve(episode=episode, user=clinic_admin)
    with pytest.raises(ValidationError):
        flag_services.episode_comment_add(episode=episode, user=clinic_admin, text="x")


# --- the client page and the caseload ----------------------------------------------------


def test_the_client_page_lists_active_episodes_with_their_workflow(
    client, therapist, episode, flag
):
    FlagFactory(
        session=flag.session, rule="below_baseline", repair_status="unrepaired", scale="goal"
    )
    retired = FlagFactory(session=flag.session, rule="ceiling")
    Episode.objects.filter(pk=retired.episode_id).update(retired_at=timezone.now())
    Episode.objects.filter(pk=episode.pk).update(repair_status="unrepaired")
    page = as_user(client, therapist).get(reverse("client_detail", args=[episode.client_id]))
    html = page.content.decode()
    assert html.count('class="flag-row ') == 1
    assert "Possible rupture" in html and "Repair: Unrepaired" in html
    assert "session 4" in html
    assert "Ratings at the ceiling" not in html  # retired
    assert reverse("episode_detail", args=[episode.pk]) in html
    assert "Acknowledge<span" in html


def test_the_client_page_is_read_only_for_supervisors_and_admins(
    client, supervisor, clinic_admin, episode
):
    html = as_user(client, supervisor).get(reverse("client_detail", args=[episode.client_id]))
    html = html.content.decode()
    assert "Acknowledge<span" not in html and "Comment<span" in html
    html = as_user(client, clinic_admin).get(reverse("client_detail", args=[episode.client_id]))
    html = html.content.decode()
    assert "Acknowledge<span" not in html and "Comment<span" not in html
    assert "The client's therapists acknowledge and resolve flags." in html


def test_the_caseload_counts_open_episodes_until_acknowledged(client, therapist, episode, sessions):
    FlagFactory(session=sessions[3])
    as_user(client, therapist)
    rows = client.get(reverse("caseload")).context["rows"]
    assert rows[0].client.open_episodes == 2
    client.post(reverse("episode_acknowledge", args=[episode.pk]), ACK)
    rows = client.get(reverse("caseload")).context["rows"]
    assert rows[0].client.open_episodes == 1


def test_the_episode_list_reads_in_a_fixed_number_of_queries(
    client, therapist, sessions, django_assert_max_num_queries
):
    def page_queries() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            client.get(reverse("client_detail", args=[sessions[1].client_id]))
        return len(queries)

    as_user(client, therapist)
    FlagFactory(session=sessions[4])
    one = page_queries()
    for number, session in sessions.items():
        for rule in ("sudden_loss", "below_baseline"):
            flag = FlagFactory(session=session, rule=rule, scale=f"s{number}")
            flag_services.episode_comment_add(episode=flag.episode, user=therapist, text="Noted.")
    with django_assert_max_num_queries(one):
        client.get(reverse("client_detail", args=[sessions[1].client_id]))


def test_another_clinics_therapist_never_sees_the_flag(client, episode):
    stranger = TherapistFactory(username="stranger")
    response = as_user(client, stranger).get(reverse("episode_detail", args=[episode.pk]))
    assert response.status_code == 404
