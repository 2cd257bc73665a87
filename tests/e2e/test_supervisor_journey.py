"""A supervisor in Chromium: the supervisees' summary, a search for a supervisee's client,
and that client's answers, read-only."""

import datetime as dt

import pytest
from django.utils import timezone

from tests.e2e.conftest import log_in
from tests.factories import (
    ClientFactory,
    FlagFactory,
    SupervisionFactory,
    TherapistFactory,
    TherapySessionFactory,
    rating_of,
)

PASSWORD = "correct horse battery"


@pytest.mark.django_db(transaction=True)
def test_a_supervisor_finds_a_supervisees_client(page, instruments, screenshot):
    link = SupervisionFactory(
        supervisor__username="e2e-supervisor",
        therapist__first_name="Sam",
        therapist__last_name="Okafor",
    )
    therapist = link.therapist
    stranger = TherapistFactory(clinic=therapist.clinic)
    mine = ClientFactory(primary_therapist=therapist, code="S-0042")
    ClientFactory(primary_therapist=therapist, code="S-0043")
    ClientFactory(primary_therapist=stranger, code="S-0044")  # not a supervisee's
    session = TherapySessionFactory(
        client=mine, number=1, starts_at=timezone.now() - dt.timedelta(days=2)
    )
    rating_of(session, instruments["client"], refresh_flags=False)
    rating_of(session, instruments["therapist"], refresh_flags=False)
    FlagFactory(session=session, explanation="Client-rated total fell from 4.5 to 3.0.")

    log_in(page, "e2e-supervisor", PASSWORD)
    page.get_by_role("heading", name="Supervision").wait_for()
    summary = page.get_by_role("row").filter(has=page.get_by_role("link", name="Sam Okafor"))
    summary = summary.first
    assert "2" in summary.inner_text()  # active clients
    assert page.get_by_role("link", name="S-0042").is_visible()  # open flags list
    screenshot(page, "supervision")

    page.get_by_label("Find a supervisee's client").fill("004")
    page.get_by_role("button", name="Find").click()
    page.get_by_role("heading", name="All clients").wait_for()
    assert page.get_by_role("link", name="S-0042").is_visible()
    assert page.get_by_role("link", name="S-0043").is_visible()
    assert page.get_by_role("link", name="S-0044").count() == 0
    screenshot(page, "search")

    page.get_by_role("link", name="S-0042").click()
    page.get_by_role("heading", name="Client S-0042").wait_for()
    assert page.get_by_text("Read-only").is_visible()
    assert page.get_by_role("link", name="Possible rupture").is_visible()  # one item
    assert page.get_by_role("link", name="New session").count() == 0
    assert page.get_by_role("link", name="Edit client").count() == 0
    page.get_by_role("button", name="Answers").first.click()  # fetched on the press
    page.get_by_text("I felt I could be open and honest with my therapist.").wait_for()
    screenshot(page, "client")

    page.get_by_role("link", name="Supervision").click()
    page.get_by_role("link", name="Sam Okafor", exact=True).click()  # not "Packet — Sam Okafor"
    page.get_by_role("heading", name="Caseload of Sam Okafor").wait_for()
    assert page.get_by_role("link", name="S-0043").is_visible()
    assert page.get_by_role("link", name="Add a client").count() == 0
