"""The rating answers block (templates/sessions/includes/rating_answers.html) in a
session's answers (fetched by the client page) and on the session page: the words and
values, every value escaped."""

import pytest
from django.urls import reverse

from measures.models import Rating
from tests.factories import ClientFactory, TherapySessionFactory, rating_of

pytestmark = pytest.mark.django_db


def test_a_sessions_answers_show_each_ratings_answers_escaped(client, therapist, instruments):
    client.force_login(therapist)
    patient = ClientFactory(primary_therapist=therapist)
    session = TherapySessionFactory(client=patient, number=1, therapist=therapist)
    rating = rating_of(session, instruments["client"], refresh_flags=False)
    Rating.objects.filter(pk=rating.pk).update(
        comment="<b>tense</b> & quiet", tension=True, tension_addressed=4, revision=3
    )
    page = client.get(reverse("session_answers", args=[session.pk])).content.decode()
    assert '<blockquote class="comment">&lt;b&gt;tense&lt;/b&gt; &amp; quiet</blockquote>' in page
    assert "Tension or misunderstanding today: <strong>yes</strong>" in page
    assert "how well addressed: <strong>Well</strong>" in page
    assert "Corrected 2 times by the therapist." in page
    assert page.count('<dl class="scores">') == 1
    assert page.count('<li><span class="item-text">') == 6


def test_the_fixed_words_follow_the_language_of_each_page(client, therapist, instruments):
    """A Spanish page, then an English one, each in its own language."""
    client.force_login(therapist)
    patient = ClientFactory(primary_therapist=therapist)
    session = TherapySessionFactory(client=patient, number=1, therapist=therapist)
    rating = rating_of(session, instruments["client"], refresh_flags=False)
    Rating.objects.filter(pk=rating.pk).update(tension=True)
    url = reverse("session_answers", args=[session.pk])
    spanish = client.get(url, HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "<strong>sí</strong>" in spanish
    assert "Tension or misunderstanding today" not in spanish
    client.cookies.pop("django_language", None)
    english = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Tension or misunderstanding today: <strong>yes</strong>" in english


def test_the_session_page_names_how_well_a_tension_was_addressed(client, therapist, instruments):
    """The answer's label from the instrument's scale, in the page's language, not its number."""
    client.force_login(therapist)
    patient = ClientFactory(primary_therapist=therapist)
    session = TherapySessionFactory(client=patient, number=1, therapist=therapist)
    rating = rating_of(session, instruments["client"], refresh_flags=False)
    Rating.objects.filter(pk=rating.pk).update(tension=True, tension_addressed=3)
    url = reverse("session_detail", args=[session.pk])
    spanish = client.get(url, HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "<strong>Regular</strong>" in spanish
    client.cookies.pop("django_language", None)
    english = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "how well addressed: <strong>Okay</strong>" in english
