"""A therapist sees a rupture flagged on a client's page as one item in plain words,
acknowledges it once with what they did, and their supervisor comments on it."""

import io

import pytest
from django.core.management import call_command

from alliance.models import Episode, EpisodeComment, Flag
from measures.models import Instrument
from tests.e2e.conftest import log_in
from tests.factories import ClientFactory, SupervisionFactory, TherapistFactory
from tests.flags.helpers import course


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
    episode = drop.episode
    # Several rules found the drop at session 4: one item.
    assert episode.flags.count() >= 2
    assert Episode.objects.filter(client=client, session=drop.session).count() == 1

    log_in(page, "e2e-therapist", "correct horse battery")
    page.get_by_role("link", name="E2E-RUPT").click()
    page.get_by_role("heading", name="Flags", exact=True).wait_for()
    item = page.locator(f"#episode-{episode.pk}")
    assert item.get_by_text(
        "The client's rating of the alliance dropped from 4.5 to 2.5 of 5 at session 4"
    ).is_visible()
    assert page.locator("li.flag-row").count() == Episode.objects.filter(client=client).count()
    assert not page.get_by_text(drop.explanation).is_visible()  # one click away
    screenshot(page, "client")

    item.get_by_role("link", name="Acknowledge").click()
    page.get_by_text("How was this worked out?").click()
    assert page.get_by_text(drop.explanation).is_visible()
    page.get_by_label("What did you do, or what will you do?").fill(
        "Discussed the tension at the next session."
    )
    page.get_by_label("At which session").select_option(index=1)  # the latest session
    page.get_by_label("Rupture markers (Safran & Muran)").select_option("withdrawal")
    page.get_by_label("Repair strategy used").select_option("explore_together")
    screenshot(page, "acknowledge")
    page.get_by_role("button", name="Acknowledge").click()

    page.get_by_text("Flag acknowledged. What you did is recorded.").wait_for()
    assert page.get_by_text("Discussed the tension at the next session.").first.is_visible()
    screenshot(page, "acknowledged")
    episode.refresh_from_db()
    assert episode.status == Episode.Status.ACKNOWLEDGED
    assert episode.rupture_type == "withdrawal"

    page.get_by_role("button", name="Log out").click()
    log_in(page, "e2e-supervisor", "correct horse battery")
    page.goto(f"/clients/{client.pk}/")
    assert page.get_by_role("link", name="Acknowledge").count() == 0
    page.locator(f"#episode-{episode.pk}").get_by_role("link", name="Comment").click()
    page.get_by_role("textbox", name="Comment").fill("Good catch: bring it to supervision.")
    page.get_by_role("button", name="Add comment").click()
    page.get_by_text("Comment added.").wait_for()
    screenshot(page, "commented")
    comment = EpisodeComment.objects.get()
    assert comment.author == supervision.supervisor
