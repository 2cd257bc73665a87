"""A therapist sees a rupture flagged on a client's page, acknowledges it with what they did,
and their supervisor comments on it."""

import io

import pytest
from django.core.management import call_command

from alliance.models import Flag, FlagComment
from measures.models import Instrument
from tests.alliance.flag_helpers import course
from tests.e2e.conftest import log_in
from tests.factories import ClientFactory, SupervisionFactory, TherapistFactory


@pytest.mark.django_db(transaction=True)
def test_a_therapist_acknowledges_a_flag_and_the_supervisor_comments(page, screenshot):
    call_command("load_instruments", stdout=io.StringIO())
    instruments = {instrument.rater: instrument for instrument in Instrument.objects.all()}
    therapist = TherapistFactory(username="e2e-therapist", first_name="Dana", last_name="Reyes")
    supervision = SupervisionFactory(
        therapist=therapist,
        supervisor__clinic=therapist.clinic,
        supervisor__username="e2e-supervisor",
    )
    client = ClientFactory(primary_therapist=therapist, code="E2E-RUPT")
    course(
        client,
        instruments,
        client_totals=[4.5, 4.5, 4.5, 2.5, 3.0],
        therapist_totals=[4, 4, 4, 4, 4],
        tension=[4],
        refresh=True,
    )
    drop = Flag.objects.get(client=client, rule="reliable_drop", rater="client", scale="total")

    log_in(page, "e2e-therapist", "correct horse battery")
    page.get_by_role("link", name="E2E-RUPT").click()
    page.get_by_role("heading", name="Flags", exact=True).wait_for()
    assert page.get_by_text(drop.explanation).is_visible()
    screenshot(page, "client")

    session4 = page.get_by_role("article").filter(has_text="Session 4")
    session4.get_by_role("link", name="Acknowledge").click()
    page.get_by_label("What did you do, or what will you do?").fill(
        "Discussed the tension at the next session."
    )
    page.get_by_label("At which session").select_option(index=1)  # the latest session
    page.get_by_label("Rupture markers (Safran & Muran)").select_option("withdrawal")
    page.get_by_label("Repair strategy used").select_option("explore_together")
    screenshot(page, "acknowledge")
    page.get_by_role("button", name="Acknowledge").click()

    page.get_by_text("flags acknowledged. What you did is recorded.").wait_for()
    assert page.get_by_text("Discussed the tension at the next session.").first.is_visible()
    screenshot(page, "acknowledged")
    drop.refresh_from_db()
    assert drop.status == Flag.Status.ACKNOWLEDGED
    assert drop.rupture_type == "withdrawal"
    assert not Flag.objects.filter(client=client, session=drop.session, status="open").exists()

    page.get_by_role("button", name="Log out").click()
    log_in(page, "e2e-supervisor", "correct horse battery")
    page.goto(f"/clients/{client.pk}/")
    assert page.get_by_role("link", name="Acknowledge").count() == 0
    session4 = page.get_by_role("article").filter(has_text="Session 4")
    session4.get_by_role("link", name="Comment").click()
    page.get_by_role("textbox", name="Comment").fill("Good catch: bring it to supervision.")
    page.get_by_role("button", name="Add comment").click()
    page.get_by_text("Comment added.").wait_for()
    screenshot(page, "commented")
    comment = FlagComment.objects.get()
    assert comment.author == supervision.supervisor
