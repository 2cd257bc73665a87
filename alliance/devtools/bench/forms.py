"""The client form in the benchmark: fresh one-time links, as a therapist hands them out.

Each link gets a new session of the busiest client (the longest series: the flag refresh
after the form is at its most expensive there). Making the link is set-up, not timed.
"""

import datetime as dt
import uuid

from django.urls import reverse
from django.utils import timezone

from alliance.devtools.bench.synthetic import BenchClinic
from measures.definitions import format_number
from measures.models import Rater
from measures.selectors import instrument_definition, instrument_for
from sessions import formlinks
from sessions.services import session_schedule


def new_link(bench: BenchClinic) -> str:
    """A token for the client form of a new session that ended a moment ago."""
    client = bench.busiest_client()
    session = session_schedule(
        client=client,
        therapist=client.primary_therapist,
        starts_at=timezone.now() - dt.timedelta(hours=1),
    )
    _link, token = formlinks.formlink_create(session=session, created_by=client.primary_therapist)
    return token


def form_url(bench: BenchClinic) -> str:
    return reverse("client_form", args=[new_link(bench)])


def form_post(bench: BenchClinic) -> tuple[str, dict]:
    """A fresh link and a complete form for it: every item answered, in English."""
    definition = instrument_definition(instrument_for(clinic=bench.clinic, rater=Rater.CLIENT))
    answers = {
        item.key: format_number(item.response.values[-2 if len(item.response.values) > 1 else 0])
        for item in definition.items
    }
    data = {**answers, "submission_id": str(uuid.uuid4()), "form_language": "en"}
    return form_url(bench), data
