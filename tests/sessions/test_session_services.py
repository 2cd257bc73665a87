import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.utils import timezone

from sessions import services
from sessions.models import TherapySession
from tests.factories import TherapistFactory, TherapySessionFactory, rating_of

pytestmark = pytest.mark.django_db

Status = TherapySession.Status


def hours_ago(hours: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(hours=hours)


class TestNumbering:
    def test_sessions_are_numbered_from_one(self, client_of_therapist, therapist):
        first = services.session_schedule(
            client=client_of_therapist, therapist=therapist, starts_at=hours_ago(48)
        )
        second = services.session_schedule(
            client=client_of_therapist, therapist=therapist, starts_at=hours_ago(1)
        )
        assert (first.number, second.number) == (1, 2)

    def test_the_number_follows_the_highest_even_after_a_gap(self, client_of_therapist, therapist):
        TherapySessionFactory(client=client_of_therapist, number=7)
        session = services.session_schedule(
            client=client_of_therapist, therapist=therapist, starts_at=hours_ago(1)
        )
        assert session.number == 8

    def test_a_lost_race_retries_with_the_next_number(
        self, client_of_therapist, therapist, monkeypatch
    ):
        """Another request took number 1 after we read the highest number (none yet)."""
        TherapySessionFactory(client=client_of_therapist, number=1)
        real_next = services._next_number
        reads = []

        def stale_then_real(client):
            reads.append(client)
            return 1 if len(reads) == 1 else real_next(client)

        monkeypatch.setattr(services, "_next_number", stale_then_real)
        session = services.session_schedule(
            client=client_of_therapist, therapist=therapist, starts_at=hours_ago(1)
        )
        assert session.number == 2
        assert len(reads) == 2
        assert list(client_of_therapist.sessions.values_list("number", flat=True)) == [1, 2]

    def test_it_gives_up_with_a_message_when_it_keeps_losing(
        self, client_of_therapist, therapist, monkeypatch
    ):
        def always_taken(self, *args, **kwargs):
            raise IntegrityError("UNIQUE constraint failed")

        monkeypatch.setattr(TherapySession, "save", always_taken)
        with pytest.raises(ValidationError, match="try again"):
            services.session_schedule(
                client=client_of_therapist, therapist=therapist, starts_at=hours_ago(1)
            )


class TestScheduleRules:
    def test_a_future_session_cannot_be_completed(self, client_of_therapist, therapist):
        with pytest.raises(ValidationError) as excinfo:
            services.session_schedule(
                client=client_of_therapist,
                therapist=therapist,
                starts_at=timezone.now() + dt.timedelta(days=1),
                status=Status.COMPLETED,
            )
        assert "starts_at" in excinfo.value.message_dict

    def test_a_future_session_can_be_scheduled(self, client_of_therapist, therapist):
        session = services.session_schedule(
            client=client_of_therapist,
            therapist=therapist,
            starts_at=timezone.now() + dt.timedelta(days=1),
        )
        assert session.status == Status.SCHEDULED

    def test_the_therapist_must_work_in_the_clinic(self, client_of_therapist):
        from tests.factories import ClinicFactory

        outsider = TherapistFactory(clinic=ClinicFactory(name="Elsewhere"))
        with pytest.raises(ValidationError):
            services.session_schedule(
                client=client_of_therapist, therapist=outsider, starts_at=hours_ago(1)
            )

    def test_naive_datetimes_are_refused(self, client_of_therapist, therapist):
        with pytest.raises(ValidationError):
            services.session_schedule(
                client=client_of_therapist,
                therapist=therapist,
                starts_at=dt.datetime(2026, 1, 1, 10, 0),
            )


class TestStatus:
    def test_statuses_change(self, client_of_therapist):
        session = TherapySessionFactory(client=client_of_therapist, status=Status.SCHEDULED)
        for status in (Status.NO_SHOW, Status.CANCELLED, Status.COMPLETED, Status.SCHEDULED):
            session = services.session_set_status(session=session, status=status)
            session.refresh_from_db()
            assert session.status == status

    def test_a_rated_session_stays_completed(self, client_of_therapist, instruments):
        session = TherapySessionFactory(client=client_of_therapist)
        rating_of(session, instruments["client"])
        with pytest.raises(ValidationError, match="stays completed"):
            services.session_set_status(session=session, status=Status.CANCELLED)

    def test_a_future_session_can_be_cancelled_but_not_marked_no_show(self, client_of_therapist):
        session = TherapySessionFactory(
            client=client_of_therapist,
            status=Status.SCHEDULED,
            starts_at=timezone.now() + dt.timedelta(days=1),
        )
        with pytest.raises(ValidationError):
            services.session_set_status(session=session, status=Status.NO_SHOW)
        assert services.session_set_status(session=session, status=Status.CANCELLED).status == (
            Status.CANCELLED
        )

    def test_an_unknown_status_is_refused(self, client_of_therapist):
        session = TherapySessionFactory(client=client_of_therapist)
        with pytest.raises(ValidationError):
            services.session_set_status(session=session, status="vanished")


class TestTherapistRating:
    ANSWERS = dict.fromkeys(["bond_1", "goal_1", "task_1", "bond_2", "goal_2", "task_2"], "4")

    def test_rating_a_scheduled_session_marks_it_completed(
        self, client_of_therapist, therapist, instruments
    ):
        session = TherapySessionFactory(
            client=client_of_therapist, status=Status.SCHEDULED, starts_at=hours_ago(1)
        )
        rating, created = services.session_therapist_rating_record(
            session=session, user=therapist, answers=self.ANSWERS
        )
        assert created
        assert rating.submitted_by == therapist
        session.refresh_from_db()
        assert session.status == Status.COMPLETED

    @pytest.mark.parametrize("status", [Status.CANCELLED, Status.NO_SHOW])
    def test_sessions_that_did_not_happen_cannot_be_rated(
        self, client_of_therapist, therapist, instruments, status
    ):
        session = TherapySessionFactory(client=client_of_therapist, status=status)
        with pytest.raises(ValidationError, match="nothing to rate"):
            services.session_therapist_rating_record(
                session=session, user=therapist, answers=self.ANSWERS
            )

    def test_only_the_sessions_therapist_rates_it(
        self, client_of_therapist, other_therapist, instruments
    ):
        session = TherapySessionFactory(client=client_of_therapist)
        with pytest.raises(ValidationError, match="Only the therapist who held"):
            services.session_therapist_rating_record(
                session=session, user=other_therapist, answers=self.ANSWERS
            )

    def test_invalid_answers_leave_the_session_scheduled(
        self, client_of_therapist, therapist, instruments
    ):
        session = TherapySessionFactory(
            client=client_of_therapist, status=Status.SCHEDULED, starts_at=hours_ago(1)
        )
        with pytest.raises(ValidationError):
            services.session_therapist_rating_record(
                session=session, user=therapist, answers={**self.ANSWERS, "bond_1": "9"}
            )
        session.refresh_from_db()
        assert session.status == Status.SCHEDULED
