"""The alert burden of a small clinic, counted by hand."""

import pytest
from django.utils import timezone

from alliance.devtools.burden import alert_burden
from tests.dashboards.helpers import flag, weekly_course
from tests.factories import ClientFactory, TherapistFactory

pytestmark = pytest.mark.django_db


def test_the_burden_of_a_small_clinic(therapist, clinic, instruments):
    other = TherapistFactory(clinic=clinic)
    a = weekly_course(ClientFactory(primary_therapist=therapist), instruments, [4, 4, 2, 2])
    flag(a[3], repair_status="unrepaired", status="acknowledged")  # on the list
    flag(a[3], "below_baseline", repair_status="unrepaired")  # the same episode
    flag(a[3], "client_reported_tension", scale="tension")  # the same episode
    flag(a[1], "client_reported_tension", scale="tension", status="acknowledged")  # handled
    b = weekly_course(ClientFactory(primary_therapist=therapist), instruments, [4, 2, 4])
    flag(b[2], repair_status="repaired")  # open: on the list until acknowledged
    flag(b[1], "sudden_loss", repair_status="unrepaired", retired_at=timezone.now())  # gone
    c = weekly_course(ClientFactory(primary_therapist=other), instruments, [4, None, None, None])
    flag(c[4], "missing_forms")  # on the list
    weekly_course(ClientFactory(primary_therapist=other), instruments, [4, 4, 4])  # fine

    burden = alert_burden(clinic)
    assert burden.held_sessions == 4 + 3 + 4 + 3
    assert (burden.flags, burden.episodes, burden.open_episodes) == (6, 4, 2)
    assert burden.flags_per_episode == pytest.approx(6 / 4)
    assert burden.episodes_per_100_sessions == pytest.approx(100 * 4 / 14)
    assert (burden.listed_clients, burden.active_clients) == (3, 4)
    assert burden.listed_share == pytest.approx(0.75)
    assert sorted(burden.actionable.values()) == [1, 2]  # a: unrepaired; b: open. c: open
    assert burden.actionable_range == (1, 2, 1.5)

    untouched = alert_burden(clinic, as_if_unacknowledged=True)
    assert untouched.open_episodes == 4
    assert sorted(untouched.actionable.values()) == [1, 2]  # a's old tension report is not new
