"""One client's series (GET /api/v1/clients/{id}/series/), the caseload's totals and the
rupture engine read the same score when a session holds two ratings by one rater."""

import pytest

from alliance import dashboards
from alliance.clients import selectors as client_selectors
from alliance.flags import selectors as flag_selectors
from alliance.models import Client
from measures.models import Rater
from tests.api.conftest import api_client_for
from tests.factories import ClientFactory, TherapySessionFactory, rating_of

pytestmark = pytest.mark.django_db


def _answers(instrument, value):
    return {item["key"]: value for item in instrument.definition["items"]}


def test_two_client_forms_in_one_session_count_the_last_stored(
    therapist, instruments, second_client_form
):
    """A clinic that adds a second client instrument may have both filled in one session:
    the API's series, the caseload, the supervision ranking, the sparkline, the client page
    and the scores frame all take the rating stored last."""
    shipped = instruments[Rater.CLIENT]
    other = second_client_form
    client = ClientFactory(primary_therapist=therapist)
    session = TherapySessionFactory(client=client, number=1, therapist=therapist)
    first = rating_of(session, shipped, _answers(shipped, 5))
    last = rating_of(session, other, _answers(other, 2))
    assert first.pk < last.pk
    expected = last.scores.get(scale="total").score
    assert expected != first.scores.get(scale="total").score

    series = api_client_for(therapist).get(f"/api/v1/clients/{client.pk}/series/").json()
    assert series["sessions"][0][Rater.CLIENT]["total"] == pytest.approx(expected)

    frame = flag_selectors.scores_frame(Client.objects.filter(pk=client.pk)).scores
    [engine] = frame[(frame["rater"] == Rater.CLIENT) & (frame["scale"] == "total")]["score"]
    assert engine == pytest.approx(expected)

    [row] = dashboards.caseload_rows(therapist, therapist=therapist)
    assert row.client.latest_client_total == pytest.approx(expected)
    assert row.recent == [(1, pytest.approx(expected))]
    [ranked] = client_selectors.queue_ranking(therapist, [therapist.pk])
    assert ranked.latest_client_total == pytest.approx(expected)

    from sessions.selectors import client_rating_of, sessions_of_client

    [loaded] = sessions_of_client(client).sessions
    assert client_rating_of(loaded).pk == last.pk
