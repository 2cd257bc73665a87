"""A therapist's first day in Chromium: add a client, record a session, log the 30-second
rating with the keyboard, and see it on the caseload. At desktop and tablet sizes."""

import pytest

from alliance.models import Client
from measures.models import Rating
from sessions.models import TherapySession
from tests.e2e.conftest import log_in
from tests.factories import TherapistFactory

PASSWORD = "correct horse battery"
TABLET = {"width": 820, "height": 1180}


@pytest.mark.django_db(transaction=True)
def test_a_therapist_adds_a_client_records_a_session_and_rates_it(page, instruments, screenshot):
    TherapistFactory(username="e2e-therapist", first_name="Dana", last_name="Reyes")
    log_in(page, "e2e-therapist", PASSWORD)

    page.get_by_role("heading", name="Caseload").wait_for()
    assert page.get_by_text("No clients yet — add your first client.").is_visible()
    screenshot(page, "empty-caseload")
    page.get_by_role("link", name="Add your first client").click()

    code = page.get_by_label("Client code")
    assert code.input_value() == "C-0001"  # suggested from the clinic's name
    page.get_by_label("Initials (optional)").fill("J.D.")
    page.get_by_role("button", name="Add client").click()
    page.get_by_role("heading", name="Client C-0001").wait_for()
    assert page.get_by_text("Client C-0001 added.").is_visible()

    page.get_by_role("link", name="Record the first session").click()
    screenshot(page, "new-session")
    page.get_by_role("button", name="Save and log my rating").click()

    page.get_by_role("heading", name="My rating of this session").wait_for()
    first = page.locator("fieldset[data-item] input[type=radio]").first
    assert first.evaluate("element => element === document.activeElement")  # autofocus
    screenshot(page, "rating-form")
    for key in "454345":  # one key per item: answers and moves on
        page.keyboard.press(key)
    page.keyboard.press("Enter")  # focus is on the save button after the last item

    page.get_by_text("Your rating of session 1 with C-0001 is saved.").wait_for()
    rating = Rating.objects.get()
    assert sorted(a.value for a in rating.answers.all()) == [3, 4, 4, 4, 5, 5]
    assert TherapySession.objects.get().status == "completed"
    screenshot(page, "client-after-rating")

    page.get_by_role("button", name="Answers").first.click()  # fetched on the press
    page.get_by_text("My client seemed able to be open and honest with me.").wait_for()

    page.get_by_role("link", name="Caseload").click()
    row = page.get_by_role("row", name="C-0001")
    assert "4.17" in row.inner_text()  # the therapist's total, (4+5+4+3+4+5)/6
    screenshot(page, "caseload")
    assert Client.objects.get().display_name == "J.D."


@pytest.mark.django_db(transaction=True)
def test_the_rating_form_works_on_a_tablet(browser, live_server, instruments, screenshot):
    from django.utils import timezone

    from tests.factories import ClientFactory, TherapySessionFactory

    therapist = TherapistFactory(username="e2e-tablet")
    client = ClientFactory(primary_therapist=therapist, code="T-0001")
    session = TherapySessionFactory(
        client=client, number=1, status="scheduled", starts_at=timezone.now()
    )
    context = browser.new_context(
        viewport=TABLET, base_url=live_server.url, has_touch=True, is_mobile=True
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        log_in(page, "e2e-tablet", PASSWORD)
        page.goto(f"/sessions/{session.pk}/rating/")
        items = page.locator("fieldset[data-item]")
        assert items.count() == 6
        for index in range(5):  # leave the last one out
            items.nth(index).get_by_role("radio", name="4 Often").tap()
        page.get_by_role("button", name="Save my rating").tap()
        page.get_by_text("Please correct the answers marked below.").wait_for()
        assert items.nth(0).locator("input:checked").get_attribute("value") == "4"
        screenshot(page, "tablet-rating-error")
        for choice in items.nth(5).locator("label.choice").all():  # touch targets
            assert choice.bounding_box()["height"] >= 44
        items.nth(5).get_by_role("radio", name="5 Always").tap()
        page.get_by_role("button", name="Save my rating").tap()
        page.get_by_text("Your rating of session 1 with T-0001 is saved.").wait_for()
        screenshot(page, "tablet-client")
    finally:
        context.close()
