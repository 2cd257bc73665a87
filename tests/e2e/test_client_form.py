"""The client's session-end form in Chromium: the link on a phone, and the tablet hand-over."""

import pytest
from django.core.cache import cache

from measures.models import Rating
from tests.e2e.conftest import log_in
from tests.factories import ClientFactory, TherapistFactory, TherapySessionFactory
from tests.sessions.conftest import compile_translations

PASSWORD = "correct horse battery"
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


@pytest.fixture(autouse=True)
def _setup(settings, live_server):
    compile_translations()
    cache.clear()  # rate-limit counters
    settings.ALLIANCE_BASE_URL = live_server.url
    yield
    cache.clear()


@pytest.fixture
def therapy_session(instruments):
    therapist = TherapistFactory(username="e2e-therapist", first_name="Dana", last_name="Reyes")
    client = ClientFactory(primary_therapist=therapist, code="E2E-007")
    return TherapySessionFactory(client=client, number=3, note="Talked about work stress")


@pytest.fixture
def phone(browser, live_server):
    context = browser.new_context(base_url=live_server.url, **PHONE)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def answer(page, item: int, label: str) -> None:
    """Tap an answer of the item-th question (1-based), by its visible label."""
    page.locator("fieldset[data-item]").nth(item - 1).get_by_text(label, exact=True).click()


@pytest.mark.django_db(transaction=True)
def test_a_client_answers_on_their_phone(page, phone, therapy_session, screenshot):
    log_in(page, "e2e-therapist", PASSWORD)
    page.goto(f"/sessions/{therapy_session.pk}/")
    page.get_by_role("button", name="Get a link to send").click()
    page.get_by_role("heading", name="Client form link").wait_for()
    url = page.get_by_label("Link to send to the client").input_value()
    assert url.startswith(page.url.split("/sessions/")[0] + "/f/")
    assert page.locator("svg.qr-code").is_visible()
    screenshot(page, "link")

    phone.goto(url)
    assert phone.locator("html").get_attribute("lang") == "en"
    progress = phone.locator("#progress")
    assert progress.inner_text() == "0 of 6 answered"
    for text in ("E2E-007", "Talked about work stress", "Dana Reyes", "Caseload"):
        assert phone.get_by_text(text).count() == 0
    screenshot(phone, "form")

    for item, label in enumerate(["Often", "Always", "Sometimes", "Often", "Rarely"], start=1):
        answer(phone, item, label)
    assert progress.inner_text() == "5 of 6 answered"
    follow_up = phone.locator("#id_tension_addressed_group")
    assert follow_up.is_hidden()  # the script hides it until "yes"
    phone.locator("#id_tension_group").get_by_text("Yes", exact=True).click()
    assert follow_up.is_visible()
    follow_up.get_by_text("Well", exact=True).click()

    # Sent with one answer missing: everything comes back as it was.
    phone.get_by_role("button", name="Send my answers").click()
    phone.get_by_role("heading", name="Please check your answers").wait_for()
    assert phone.locator("#error-summary").evaluate("el => el === document.activeElement")
    assert phone.locator('input[name="bond_1"][value="4"]').is_checked()
    assert phone.locator('input[name="task_1"][value="3"]').is_checked()
    assert phone.locator('input[name="tension_addressed"][value="4"]').is_checked()
    screenshot(phone, "error")

    # Switching to Spanish keeps the answers and saves nothing.
    phone.get_by_role("button", name="Español").click()
    phone.get_by_role("button", name="Enviar mis respuestas").wait_for()
    assert phone.locator("html").get_attribute("lang") == "es"
    assert phone.locator("#progress").inner_text() == "5 de 6 respondidas"
    assert phone.locator('input[name="goal_2"][value="2"]').is_checked()
    assert not Rating.objects.exists()
    answer(phone, 6, "Muchas veces")
    assert phone.locator("#progress").inner_text() == "6 de 6 respondidas"
    phone.get_by_label("¿Hay algo más que le gustaría que su terapeuta supiera?").fill("Gracias.")
    screenshot(phone, "spanish")

    phone.get_by_role("button", name="Enviar mis respuestas").click()
    phone.get_by_role("heading", name="Gracias").wait_for()
    screenshot(phone, "thanks")
    rating = Rating.objects.get()
    assert (rating.language, rating.tension, rating.tension_addressed) == ("es", True, 4)
    assert rating.comment == "Gracias."

    # The same link again: gone, and it says so.
    response = phone.goto(url)
    assert response.status == 410
    phone.get_by_role("heading", name="Este cuestionario ya se ha enviado").wait_for()
    screenshot(phone, "used")


@pytest.mark.django_db(transaction=True)
def test_the_form_works_without_javascript(browser, live_server, therapy_session, screenshot):
    from sessions.formlinks import formlink_create

    _link, token = formlink_create(session=therapy_session, created_by=None)
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False, **PHONE)
    phone = context.new_page()
    try:
        phone.goto(f"/f/{token}/")
        assert phone.locator("#id_tension_addressed_group").is_visible()
        for item in range(1, 7):
            answer(phone, item, "Always")
        phone.get_by_role("button", name="Español").click()
        assert phone.locator('input[name="bond_1"][value="5"]').is_checked()
        screenshot(phone, "no-js")
        phone.get_by_role("button", name="Enviar mis respuestas").click()
        phone.get_by_role("heading", name="Gracias").wait_for()
    finally:
        context.close()
    assert Rating.objects.get().language == "es"


@pytest.mark.django_db(transaction=True)
def test_a_therapist_hands_the_tablet_over_and_back(page, therapy_session, screenshot):
    page.set_viewport_size({"width": 820, "height": 1180})
    log_in(page, "e2e-therapist", PASSWORD)
    session_url = f"/sessions/{therapy_session.pk}/"
    page.goto(session_url)
    page.get_by_role("button", name="Hand over this device").click()
    page.get_by_role("button", name="Send my answers").wait_for()
    assert page.get_by_role("link", name="Caseload").count() == 0
    assert page.get_by_text("E2E-007").count() == 0
    screenshot(page, "kiosk-form")

    for item in range(1, 7):
        answer(page, item, "Often")
    page.get_by_role("button", name="Send my answers").click()
    page.get_by_text("Please hand the device back to your therapist.").wait_for()
    screenshot(page, "kiosk-done")
    assert Rating.objects.get().session == therapy_session

    # The client cannot get back to the therapist's pages: not with Back, not by address.
    page.go_back()
    page.go_back()
    assert page.get_by_text("E2E-007").count() == 0
    page.goto("/caseload/")
    page.get_by_role("heading", name="This device is locked").wait_for()
    page.get_by_label("Therapist's password").fill("not the password")
    page.get_by_role("button", name="Unlock").click()
    page.get_by_text("That password is not right.").wait_for()
    screenshot(page, "hand-back")

    page.get_by_label("Therapist's password").fill(PASSWORD)
    page.get_by_role("button", name="Unlock").click()
    page.get_by_text("Welcome back. The client's answers were saved.").wait_for()
    assert page.url.endswith(session_url)
    page.goto("/caseload/")
    page.get_by_role("heading", name="Caseload").wait_for()
    screenshot(page, "unlocked")
