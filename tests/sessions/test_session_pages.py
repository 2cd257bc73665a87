import datetime as dt
import uuid
import zoneinfo

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from measures.models import Rating, RatingChange
from sessions.models import TherapySession
from tests.factories import TherapySessionFactory, rating_of

pytestmark = pytest.mark.django_db

Status = TherapySession.Status
ITEMS = ["bond_1", "goal_1", "task_1", "bond_2", "goal_2", "task_2"]
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")  # the test clinic's timezone


@pytest.fixture
def therapist_client(client, therapist):
    client.force_login(therapist)
    return client


class TestNewSession:
    def test_the_time_is_read_in_the_clinics_timezone(self, therapist_client, client_of_therapist):
        response = therapist_client.post(
            reverse("session_new", args=[client_of_therapist.pk]),
            {"starts_at": "2026-01-15T09:30", "status": "completed", "note": "online"},
        )
        session = TherapySession.objects.get(client=client_of_therapist)
        assert response.url == session.get_absolute_url()
        assert session.starts_at == dt.datetime(2026, 1, 15, 14, 30, tzinfo=dt.UTC)
        assert (session.number, session.status, session.therapist.username) == (
            1,
            "completed",
            "therapist",
        )
        page = therapist_client.get(response.url).content.decode()
        assert "15 January 2026, 09:30" in page  # shown in clinic time again

    def test_save_and_rate_goes_straight_to_the_rating(
        self, therapist_client, client_of_therapist, instruments
    ):
        response = therapist_client.post(
            reverse("session_new", args=[client_of_therapist.pk]),
            {"starts_at": "2026-01-15T09:30", "status": "completed", "and_rate": "1"},
        )
        session = TherapySession.objects.get(client=client_of_therapist)
        assert response.url == reverse("rating_new", args=[session.pk])

    def test_a_failed_form_keeps_every_value(self, therapist_client, client_of_therapist):
        future = timezone.localtime(timezone.now() + dt.timedelta(days=3), NEW_YORK)
        typed = future.strftime("%Y-%m-%dT%H:%M")
        response = therapist_client.post(
            reverse("session_new", args=[client_of_therapist.pk]),
            {"starts_at": typed, "status": "completed", "note": "room 4"},
        )
        assert response.status_code == 200
        html = response.content.decode()
        assert "starts_at" in response.context["form"].errors
        assert f'value="{typed}"' in html
        assert 'value="completed" id="id_status_0" required checked' in html
        assert "room 4</textarea>" in html
        assert not TherapySession.objects.exists()

    @pytest.mark.parametrize("value", ["yesterday", "2026-13-45T99:99", "", "2026-03-08T02:30"])
    def test_bad_dates_are_field_errors(self, therapist_client, client_of_therapist, value):
        # 2026-03-08 02:30 does not exist in New York (clocks jump from 02:00 to 03:00).
        response = therapist_client.post(
            reverse("session_new", args=[client_of_therapist.pk]),
            {"starts_at": value, "status": "scheduled"},
        )
        assert response.status_code == 200
        assert "starts_at" in response.context["form"].errors

    def test_the_form_suggests_now_in_clinic_time(self, therapist_client, client_of_therapist):
        moment = dt.datetime(2026, 6, 1, 18, 7, tzinfo=dt.UTC)
        with time_machine.travel(moment, tick=False):
            html = therapist_client.get(
                reverse("session_new", args=[client_of_therapist.pk])
            ).content.decode()
        assert 'value="2026-06-01T14:05"' in html  # 14:07 EDT, to the last five minutes


class TestSessionPage:
    def test_status_buttons_change_the_status(self, therapist_client, client_of_therapist):
        session = TherapySessionFactory(client=client_of_therapist, status=Status.SCHEDULED)
        html = therapist_client.get(session.get_absolute_url()).content.decode()
        assert 'name="status" value="no_show"' in html
        response = therapist_client.post(
            reverse("session_status", args=[session.pk]), {"status": "no_show"}, follow=True
        )
        assert "Session" in response.content.decode() and "is now no-show" in (
            response.content.decode()
        )
        session.refresh_from_db()
        assert session.status == Status.NO_SHOW

    def test_a_bad_status_is_a_message_not_an_error_page(
        self, therapist_client, client_of_therapist
    ):
        session = TherapySessionFactory(client=client_of_therapist)
        response = therapist_client.post(
            reverse("session_status", args=[session.pk]), {"status": "exploded"}, follow=True
        )
        assert response.status_code == 200
        assert "Choose a status" in response.content.decode()

    def test_the_status_form_only_returns_to_this_site(self, therapist_client, client_of_therapist):
        session = TherapySessionFactory(client=client_of_therapist, status=Status.SCHEDULED)
        response = therapist_client.post(
            reverse("session_status", args=[session.pk]),
            {"status": "cancelled", "next": "https://evil.example/"},
        )
        assert response.url == session.get_absolute_url()

    def test_the_session_page_includes_the_client_form_panel(
        self, therapist_client, client_of_therapist, instruments
    ):
        session = TherapySessionFactory(client=client_of_therapist)
        html = therapist_client.get(session.get_absolute_url()).content.decode()
        assert "client-form-panel" in html

    def test_a_supervisor_reads_without_buttons(self, client, supervisor, client_of_therapist):
        session = TherapySessionFactory(client=client_of_therapist, status=Status.SCHEDULED)
        client.force_login(supervisor)
        html = client.get(session.get_absolute_url()).content.decode()
        assert "Read-only" in html
        assert reverse("session_status", args=[session.pk]) not in html
        assert reverse("session_edit", args=[session.pk]) not in html
        assert reverse("rating_new", args=[session.pk]) not in html
        assert "client-form-panel" not in html


def answers(value="4", **overrides):
    return {**dict.fromkeys(ITEMS, value), **overrides}


class TestRatingForm:
    @pytest.fixture
    def session(self, client_of_therapist, instruments):
        return TherapySessionFactory(
            client=client_of_therapist,
            number=1,
            status=Status.SCHEDULED,
            starts_at=timezone.now() - dt.timedelta(minutes=50),
        )

    def test_the_form_shows_six_items_as_radio_fieldsets(self, therapist_client, session):
        response = therapist_client.get(reverse("rating_new", args=[session.pk]))
        html = response.content.decode()
        assert html.count('<fieldset class="item') == 6
        assert html.count("<legend>") == 6
        assert "My client seemed able to be open and honest with me." in html
        assert html.count('type="radio"') == 30
        assert html.count(" autofocus") == 1
        assert 'name="submission_id"' in html
        assert "js/measures/rating_form.js" in html

    def test_one_click_from_the_client_and_session_pages(
        self, therapist_client, session, client_of_therapist
    ):
        url = reverse("rating_new", args=[session.pk])
        assert url in therapist_client.get(client_of_therapist.get_absolute_url()).content.decode()
        assert url in therapist_client.get(session.get_absolute_url()).content.decode()

    def test_saving_records_the_rating_and_completes_the_session(
        self, therapist_client, session, client_of_therapist
    ):
        submission = str(uuid.uuid4())
        response = therapist_client.post(
            reverse("rating_new", args=[session.pk]),
            {**answers(goal_1="2"), "submission_id": submission},
        )
        assert response.url == client_of_therapist.get_absolute_url()
        rating = Rating.objects.get(session=session)
        assert str(rating.submission_id) == submission
        assert rating.rater == "therapist"
        assert rating.scores.get(scale="goal").score == 3
        session.refresh_from_db()
        assert session.status == Status.COMPLETED
        # The caseload shows it.
        caseload = therapist_client.get(reverse("caseload"))
        [row] = caseload.context["rows"]
        assert row.client.latest_therapist_total == pytest.approx((2 + 5 * 4) / 6)

    def test_a_double_submit_stores_one_rating(self, therapist_client, session):
        data = {**answers(), "submission_id": str(uuid.uuid4())}
        first = therapist_client.post(reverse("rating_new", args=[session.pk]), data)
        second = therapist_client.post(reverse("rating_new", args=[session.pk]), data)
        assert first.status_code == second.status_code == 302
        assert Rating.objects.filter(session=session).count() == 1

    def test_a_failed_form_keeps_every_answer(self, therapist_client, session):
        submission = str(uuid.uuid4())
        response = therapist_client.post(
            reverse("rating_new", args=[session.pk]),
            {"bond_1": "5", "goal_1": "2", "task_1": "3", "submission_id": submission},
        )
        assert response.status_code == 200
        assert set(response.context["form"].errors) == {"bond_2", "goal_2", "task_2"}
        html = response.content.decode()
        for name, value in [("bond_1", "5"), ("goal_1", "2"), ("task_1", "3")]:
            assert f'name="{name}" value="{value}" id="id_{name}_{int(value) - 1}" checked' in html
        assert f'value="{submission}"' in html
        assert "Choose an answer." in html
        assert not Rating.objects.exists()

    @pytest.mark.parametrize("bad", ["9", "0", "abc", "4.5", "-1"])
    def test_values_outside_the_scale_are_refused(self, therapist_client, session, bad):
        response = therapist_client.post(
            reverse("rating_new", args=[session.pk]), answers(task_2=bad)
        )
        assert response.status_code == 200
        assert "task_2" in response.context["form"].errors

    def test_a_mangled_submission_id_is_not_an_error(self, therapist_client, session):
        response = therapist_client.post(
            reverse("rating_new", args=[session.pk]), {**answers(), "submission_id": "nope"}
        )
        assert response.status_code == 302
        assert Rating.objects.count() == 1

    def test_an_already_rated_session_goes_to_the_correction(
        self, therapist_client, session, instruments
    ):
        rating_of(session, instruments["therapist"])
        response = therapist_client.get(reverse("rating_new", args=[session.pk]))
        assert response.url == reverse("rating_edit", args=[session.pk])

    def test_a_future_session_is_not_rated_yet(self, therapist_client, client_of_therapist):
        future = TherapySessionFactory(
            client=client_of_therapist,
            status=Status.SCHEDULED,
            starts_at=timezone.now() + dt.timedelta(days=1),
        )
        response = therapist_client.get(reverse("rating_new", args=[future.pk]), follow=True)
        assert "has not started yet" in response.content.decode()

    def test_without_an_instrument_the_page_explains(self, therapist_client, client_of_therapist):
        session = TherapySessionFactory(client=client_of_therapist)
        response = therapist_client.get(reverse("rating_new", args=[session.pk]), follow=True)
        assert "No therapist form is installed yet" in response.content.decode()

    def test_the_form_follows_the_users_language(self, therapist_client, session):
        therapist_client.cookies["django_language"] = "es"
        html = therapist_client.get(reverse("rating_new", args=[session.pk])).content.decode()
        assert "Siempre" in html


class TestRatingCorrection:
    @pytest.fixture
    def rating(self, client_of_therapist, instruments):
        session = TherapySessionFactory(client=client_of_therapist, number=1)
        return rating_of(session, instruments["therapist"], answers=answers("5"))

    def test_the_form_opens_with_the_stored_answers(self, therapist_client, rating):
        html = therapist_client.get(
            reverse("rating_edit", args=[rating.session.pk])
        ).content.decode()
        assert html.count(" checked") == 6
        assert 'name="revision" value="1"' in html
        assert 'value="5" id="id_bond_1_4" checked autofocus' in html

    def test_a_correction_is_saved_and_logged(self, therapist_client, rating, therapist):
        response = therapist_client.post(
            reverse("rating_edit", args=[rating.session.pk]),
            {**answers("5", bond_2="3"), "revision": "1"},
        )
        assert response.status_code == 302
        rating.refresh_from_db()
        assert rating.revision == 2
        change = RatingChange.objects.get(rating=rating)
        assert (change.old_answers["bond_2"], change.new_answers["bond_2"]) == (5, 3)
        assert change.changed_by == therapist
        page = therapist_client.get(rating.session.get_absolute_url()).content.decode()
        assert "Corrected once by the therapist." in page

    def test_a_stale_form_is_refused_and_keeps_the_answers(self, therapist_client, rating):
        therapist_client.post(
            reverse("rating_edit", args=[rating.session.pk]), {**answers("4"), "revision": "1"}
        )
        response = therapist_client.post(
            reverse("rating_edit", args=[rating.session.pk]),
            {**answers("2"), "revision": "1"},
        )
        assert response.status_code == 200
        html = response.content.decode()
        assert "changed after you opened it" in html
        assert 'value="2" id="id_bond_1_1" checked' in html
        assert 'name="revision" value="2"' in html  # saving again is now a deliberate choice
        rating.refresh_from_db()
        assert rating.scores.get(scale="total").score == 4

    def test_after_the_window_the_correction_is_closed(self, therapist_client, rating):
        later = timezone.now() + dt.timedelta(days=8)
        with time_machine.travel(later):
            # A week later the therapist logs in again (the first login has timed out).
            therapist_client.force_login(rating.submitted_by)
            response = therapist_client.post(
                reverse("rating_edit", args=[rating.session.pk]),
                {**answers("1"), "revision": "1"},
                follow=True,
            )
            assert "can no longer be changed" in response.content.decode()
            page = therapist_client.get(rating.session.get_absolute_url()).content.decode()
            assert reverse("rating_edit", args=[rating.session.pk]) not in page
        rating.refresh_from_db()
        assert rating.revision == 1

    def test_nobody_else_can_open_the_correction(self, client, rating, supervisor, clinic_admin):
        for user in (supervisor, clinic_admin):
            client.force_login(user)
            url = reverse("rating_edit", args=[rating.session.pk])
            assert client.get(url).status_code == 404
            assert client.post(url, {**answers("1"), "revision": "1"}).status_code == 404
        rating.refresh_from_db()
        assert rating.revision == 1
