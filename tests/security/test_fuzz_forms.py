"""Generated input to the HTML forms: never a server error, and a rejected request writes
nothing (row counts before and after). Fixed budgets, derandomized: the same examples run
every time, in a few seconds each. (Scoring has its own property tests in tests/measures;
the API's are in test_fuzz_api.py.)"""

import datetime as dt

import pytest
from django.test import Client as BrowserClient
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alliance.models import Client, Flag
from measures.models import ItemAnswer, Rating, ScaleScore
from sessions.formlinks import formlink_create
from sessions.models import FormLink, TherapySession
from tests.factories import TherapySessionFactory

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ITEMS = [f"{scale}_{n}" for scale in ("bond", "goal", "task") for n in (1, 2)]

# Any text a browser (or a person with curl) could send, including the awkward.
junk = st.one_of(
    st.text(max_size=40),
    st.text(min_size=300, max_size=2000),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(
        ["", " ", "\x00", "0", "-1", "1e309", "NaN", "\uff12", "\u0663", "<script>", "'; --"]
    ),
)


def form_data(valid: dict) -> st.SearchStrategy[dict]:
    """A submission: each field one of the values a form would send (a list, or a strategy),
    then up to four fields replaced by junk or left out, and sometimes a field the form does
    not have."""
    base = st.fixed_dictionaries(
        {
            name: values if isinstance(values, st.SearchStrategy) else st.sampled_from(values)
            for name, values in valid.items()
        }
    )
    damage = st.dictionaries(
        st.sampled_from([*valid, "unexpected"]), st.one_of(junk, st.none()), max_size=4
    )
    return st.tuples(base, damage).map(
        lambda pair: {k: v for k, v in {**pair[0], **pair[1]}.items() if v is not None}
    )


def snapshot() -> dict[str, int]:
    return {
        "clients": Client.objects.count(),
        "sessions": TherapySession.objects.count(),
        "session_rows": hash(
            tuple(TherapySession.objects.values_list("status", "note", "starts_at"))
        ),
        "ratings": Rating.objects.count(),
        "answers": ItemAnswer.objects.count(),
        "scores": ScaleScore.objects.count(),
        "used_links": FormLink.objects.filter(used_at__isnull=False).count(),
        "flags": Flag.objects.count(),
    }


def post_and_check(browser, url, data) -> int:
    before = snapshot()
    response = browser.post(url, data)
    assert response.status_code < 500, (url, data)
    if response.status_code != 302:  # rejected (or re-shown): nothing written
        assert snapshot() == before, (url, data, response.status_code)
    return response.status_code


ANSWER = [str(n) for n in range(1, 6)]
CLIENT_FORM = form_data(
    {
        **dict.fromkeys(ITEMS, ANSWER),
        "tension": ["yes", "no", ""],
        "tension_addressed": ANSWER,
        "comment": ["Fine today.", ""],
        "submission_id": [""],  # the page makes a fresh one
        "form_language": ["en", "es"],
    }
)


@FUZZ
@given(data=CLIENT_FORM)
def test_the_clients_form(data, therapist, client_of_therapist, instruments, settings):
    settings.ALLIANCE_FORM_ADDRESS_RATE_LIMIT = 10_000  # every example comes from one address
    session = TherapySessionFactory(client=client_of_therapist, number=_next(client_of_therapist))
    _link, token = formlink_create(session=session, created_by=therapist)
    browser = BrowserClient()
    post_and_check(browser, reverse("client_form", args=[token]), data)


def _next(client) -> int:
    return (client.sessions.order_by("-number").values_list("number", flat=True).first() or 0) + 1


RATING_FORM = form_data(
    {
        **dict.fromkeys(ITEMS, ANSWER),
        "submission_id": ["", "not-a-uuid"],  # either way: a fresh one
        "next": ["/caseload/", "https://elsewhere.example/"],
    }
)


@FUZZ
@given(data=RATING_FORM)
def test_the_therapists_rating_form(data, therapist, client_of_therapist, instruments):
    session = TherapySessionFactory(client=client_of_therapist, number=_next(client_of_therapist))
    browser = BrowserClient()
    browser.force_login(therapist)
    post_and_check(browser, reverse("rating_new", args=[session.pk]), data)


def client_create(therapist_id: int):
    return form_data(
        {
            "code": st.one_of(
                st.from_regex(r"[A-Z]{1,3}-[0-9]{1,5}", fullmatch=True),
                st.sampled_from(["r-0001", "R 1", "-x", ""]),  # taken, or not a code
            ),
            "display_name": ["", "J.D."],
            "language": ["en", "es"],
            "show_scores_to_client": ["on", ""],
            "primary_therapist": [str(therapist_id), "999999"],
        }
    )


@FUZZ
@given(draw=st.data())
def test_adding_a_client(draw, therapist, clinic_admin, client_of_therapist):
    data = draw.draw(client_create(therapist.pk))
    for user in (therapist, clinic_admin):
        browser = BrowserClient()
        browser.force_login(user)
        post_and_check(browser, reverse("client_create"), data)


def _local(minutes: int) -> str:
    moment = timezone.localtime(timezone.now() + dt.timedelta(minutes=minutes))
    return moment.strftime("%Y-%m-%dT%H:%M")


SESSION_SCHEDULE = form_data(
    {
        "starts_at": [_local(-90), _local(60 * 24), "2024-02-30T10:00", "1900-01-01T00:00"],
        "status": ["completed", "scheduled", "cancelled"],
        "note": ["", "online"],
        "and_rate": ["1", ""],
    }
)


@FUZZ
@given(data=SESSION_SCHEDULE)
def test_scheduling_a_session(data, therapist, client_of_therapist):
    browser = BrowserClient()
    browser.force_login(therapist)
    post_and_check(browser, reverse("session_new", args=[client_of_therapist.pk]), data)
