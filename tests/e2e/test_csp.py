"""The Content-Security-Policy in Chromium: the main pages load with no violation (and no
script error) in the console. The policy is on in development too, so this runs as is."""

import datetime as dt

import pytest
from django.utils import timezone

from sessions.formlinks import formlink_create
from tests.e2e.conftest import log_in
from tests.factories import ClientFactory, TherapistFactory, TherapySessionFactory, rating_of

PASSWORD = "correct horse battery"


def watch(page) -> list[str]:
    """Console errors and page errors, as they come (CSP violations are console errors)."""
    problems: list[str] = []
    page.on(
        "console",
        lambda m: (
            problems.append(f"{m.text} ({m.location.get('url')})") if m.type == "error" else None
        ),
    )
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "response",
        lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None,
    )
    return problems


@pytest.mark.django_db(transaction=True)
def test_the_main_pages_break_no_content_security_policy_rule(page, instruments, screenshot):
    therapist = TherapistFactory(username="csp-therapist")
    client = ClientFactory(primary_therapist=therapist, code="CSP-1")
    now = timezone.now()
    for number, answer in enumerate([5, 4, 4, 2, 3], start=1):
        session = TherapySessionFactory(
            client=client, number=number, starts_at=now - dt.timedelta(days=7 * (6 - number))
        )
        answers = dict.fromkeys(
            [f"{s}_{n}" for s in ("bond", "goal", "task") for n in (1, 2)], answer
        )
        rating_of(session, instruments["client"], answers=answers)
        rating_of(session, instruments["therapist"])
    unrated = TherapySessionFactory(client=client, number=6, starts_at=now - dt.timedelta(hours=1))
    _link, token = formlink_create(session=unrated, created_by=therapist)

    problems = watch(page)
    visited = []

    def visit(path: str, name: str) -> None:
        page.goto(path)
        page.wait_for_load_state("networkidle")
        visited.append(path)
        screenshot(page, name)

    visit("/login/", "login")
    log_in(page, "csp-therapist", PASSWORD)
    page.get_by_role("heading", name="Caseload").wait_for()
    visit("/caseload/", "caseload")
    visit(client.get_absolute_url(), "client-with-chart")
    assert page.locator(".chart-drawn, .js-plotly-plot").count() >= 1  # plotly drew the chart
    visit("/api/docs/", "api-docs")
    page.locator(".swagger-ui").first.wait_for()
    visit(f"/f/{token}/", "client-form")
    page.get_by_role("radio").first.wait_for()
    # Last: a new QR code replaces the link above.
    visit(unrated.get_absolute_url(), "session")
    page.get_by_role("button", name="Show a QR code").click()
    page.locator("svg.qr-code").wait_for()
    page.wait_for_load_state("networkidle")
    screenshot(page, "session-qr")

    assert problems == [], f"console errors on {visited}: {problems}"
    assert not [p for p in problems if "Content Security Policy" in p]
