"""The client page's session rows (templates/alliance/client_detail.html): the words and
values, every value escaped, in the page's language."""

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import ClientFactory, TherapistFactory, TherapySessionFactory, rating_of

pytestmark = pytest.mark.django_db


def test_the_client_pages_session_rows_newest_first_with_their_actions(
    client, clinic, therapist, instruments
):
    """The session rows: newest first,
    dates in the clinic's timezone, names escaped; a held session the therapist has not
    rated offers Rate (and comes back to the page); only a rated session has an answers row."""
    client.force_login(therapist)
    patient = ClientFactory(primary_therapist=therapist)
    colleague = TherapistFactory(clinic=clinic, first_name="<Ann>", last_name="& Bo")
    held = dt.datetime(2026, 3, 2, 3, 30, tzinfo=dt.UTC)
    first = TherapySessionFactory(client=patient, number=1, therapist=colleague, starts_at=held)
    rating_of(first, instruments["therapist"], submitted_by=colleague, refresh_flags=False)
    second = TherapySessionFactory(
        client=patient, number=2, therapist=therapist, starts_at=held + dt.timedelta(days=7)
    )
    url = reverse("client_detail", args=[patient.pk])
    page = client.get(url).content.decode()
    body = page[page.index('<table class="table sessions">') :]
    assert body.index(f'href="{second.get_absolute_url()}">2</a>') < body.index(
        f'href="{first.get_absolute_url()}">1</a>'
    )
    local = timezone.localtime(held, clinic.tzinfo).strftime("%-d %b %Y, %H:%M")
    assert f'data-label="Date">{local}</td>' in body
    assert '<td data-label="Therapist">&lt;Ann&gt; &amp; Bo</td>' in body
    rate = reverse("rating_new", args=[second.pk])
    assert f'href="{rate}?next={url}">Rate</a>' in body
    assert body.count(">Rate</a>") == 1  # the colleague's session is not this user's to rate
    assert f'id="answers-{first.pk}" hidden>' in body
    assert f'id="answers-{second.pk}"' not in body
    # "Answers" opens the session page, or unfolds the session's answers, fetched on a press.
    fetch = reverse("session_answers", args=[first.pk])
    assert (
        f'href="{first.get_absolute_url()}" data-answers-toggle data-answers-url="{fetch}"' in body
    )
    assert "<h3>Therapist, session 1</h3>" not in body
    answers = client.get(fetch).content.decode()
    assert re.search(r'<h3>Client, session 1</h3>\s*<p class="muted">No client form.</p>', answers)
    assert "<h3>Therapist, session 1</h3>" in answers


def test_the_session_rows_speak_the_pages_language(client, therapist, instruments):
    """The rows' words follow the page's language: a Spanish page, then an English one,
    each in its own language ("Open" as a link to a session: "Abrir")."""
    client.force_login(therapist)
    patient = ClientFactory(primary_therapist=therapist)
    session = TherapySessionFactory(client=patient, number=1, therapist=therapist)
    rating_of(session, instruments["therapist"], refresh_flags=False)
    url = reverse("client_detail", args=[patient.pk])
    spanish = client.get(url, HTTP_ACCEPT_LANGUAGE="es").content.decode()
    body = spanish[spanish.index('<table class="table sessions">') :]
    assert ">Abrir</a>" in body and ">Respuestas</a>" in body and 'data-label="Fecha"' in body
    answers = reverse("session_answers", args=[session.pk])
    spanish = client.get(answers, HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "<h3>Paciente, sesión 1</h3>" in spanish
    client.cookies.pop("django_language", None)
    english = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    body = english[english.index('<table class="table sessions">') :]
    assert ">Open</a>" in body and ">Answers</a>" in body
    client.cookies.pop("django_language", None)
    english = client.get(answers, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "<h3>Client, session 1</h3>" in english
