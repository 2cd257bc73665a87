"""The rating answers block and the session rows (sessions/templatetags/rating_tags.py) on
the client page: the words and values the template used to write, every value escaped."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from measures.models import Rating
from tests.factories import ClientFactory, TherapistFactory, TherapySessionFactory, rating_of

pytestmark = pytest.mark.django_db


def test_the_client_page_shows_each_ratings_answers_escaped(client, therapist, instruments):
    client.force_login(therapist)
    patient = ClientFactory(primary_therapist=therapist)
    session = TherapySessionFactory(client=patient, number=1, therapist=therapist)
    rating = rating_of(session, instruments["client"], refresh_flags=False)
    Rating.objects.filter(pk=rating.pk).update(
        comment="<b>tense</b> & quiet", tension=True, tension_addressed=4, revision=3
    )
    page = client.get(reverse("client_detail", args=[patient.pk])).content.decode()
    assert '<blockquote class="comment">&lt;b&gt;tense&lt;/b&gt; &amp; quiet</blockquote>' in page
    assert "Tension or misunderstanding today: <strong>yes</strong>" in page
    assert "how well addressed: <strong>4</strong>" in page
    assert "Corrected 2 times by the therapist." in page
    assert page.count('<dl class="scores">') == 1
    assert page.count('<li><span class="item-text">') == 6


def test_the_fixed_words_follow_the_language_of_each_page(client, therapist, instruments):
    """The block's words are translated once per language (cached): a Spanish page, then an
    English one, each in its own language."""
    client.force_login(therapist)
    patient = ClientFactory(primary_therapist=therapist)
    session = TherapySessionFactory(client=patient, number=1, therapist=therapist)
    rating = rating_of(session, instruments["client"], refresh_flags=False)
    Rating.objects.filter(pk=rating.pk).update(tension=True)
    url = reverse("client_detail", args=[patient.pk])
    spanish = client.get(url, HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "<strong>sí</strong>" in spanish
    assert "Tension or misunderstanding today" not in spanish
    client.cookies.pop("django_language", None)
    english = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Tension or misunderstanding today: <strong>yes</strong>" in english


def test_the_client_pages_session_rows_newest_first_with_their_actions(
    client, clinic, therapist, instruments
):
    """The session rows are built by a template tag (client_session_rows): newest first,
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
    assert f'id="answers-{first.pk}"' in body and f'id="answers-{second.pk}"' not in body
    answers = body[body.index(f'id="answers-{first.pk}"') :]
    assert '<h3>Client, session 1</h3>\n<p class="muted">No client form.</p>' in answers
    assert "<h3>Therapist, session 1</h3>" in answers
