import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from alliance import dashboards
from alliance.clients import selectors as client_selectors
from alliance.models import Client
from tests.dashboards.helpers import flag
from tests.factories import (
    ClientFactory,
    FlagFactory,
    SupervisionFactory,
    TherapistFactory,
    TherapySessionFactory,
    rating_of,
)

pytestmark = pytest.mark.django_db

ITEMS = ["bond_1", "goal_1", "task_1", "bond_2", "goal_2", "task_2"]
# These tests place flags themselves: the rupture engine stays out of the way.
QUIET = {"refresh_flags": False}


def rated_course(client, instruments, client_totals, therapist_totals=None, *, start=None):
    """Completed weekly sessions; each rated by the client (and therapist) at the given
    totals (every item the same value); None leaves that side unrated for the session.
    Flags are not computed: the tests that need flags place them."""
    start = start or timezone.now() - dt.timedelta(days=7 * len(client_totals))
    therapist_totals = therapist_totals or [None] * len(client_totals)
    sessions = []
    for number, (mine, theirs) in enumerate(zip(client_totals, therapist_totals, strict=True), 1):
        session = TherapySessionFactory(
            client=client, number=number, starts_at=start + dt.timedelta(days=7 * (number - 1))
        )
        if mine is not None:
            rating_of(session, instruments["client"], answers=dict.fromkeys(ITEMS, mine), **QUIET)
        if theirs is not None:
            rating_of(
                session, instruments["therapist"], answers=dict.fromkeys(ITEMS, theirs), **QUIET
            )
        sessions.append(session)
    return sessions


def test_caseload_columns(therapist, instruments):
    client = ClientFactory(primary_therapist=therapist, code="R-0001")
    sessions = rated_course(client, instruments, [5, 4, None, None], [4, 4, 3, None])
    FlagFactory(session=sessions[1])
    FlagFactory(session=sessions[1], rule="below_baseline")  # the same episode
    flag(sessions[1], "ceiling", status="acknowledged")
    flag(sessions[0], "low_alliance", retired_at=timezone.now())
    flag(sessions[2], "client_reported_tension", scale="tension")
    upcoming = TherapySessionFactory(
        client=client, number=5, status="scheduled", starts_at=timezone.now() + dt.timedelta(days=2)
    )
    [row] = client_selectors.caseload_for(therapist, therapist=therapist)
    assert row.latest_client_total == 4
    assert row.latest_therapist_total == 3
    assert row.open_episodes == 2  # one per episode; acknowledged and retired ones are not open
    assert row.sessions_since_client_form == 2
    assert row.last_session_at == sessions[3].starts_at
    assert row.next_session_at == upcoming.starts_at
    # The changes: the latest total minus the one before it, on the page's row.
    [caseload_row] = dashboards.caseload_rows(therapist, therapist=therapist)
    assert caseload_row.client == row
    assert caseload_row.client_change == -1
    assert caseload_row.therapist_change == -1


def test_a_client_never_rated_has_empty_columns(therapist):
    ClientFactory(primary_therapist=therapist)
    [row] = dashboards.caseload_rows(therapist, therapist=therapist)
    assert row.client.latest_client_total is None
    assert row.client_change is None and row.therapist_change is None
    row = row.client
    assert row.open_episodes == 0
    assert row.sessions_since_client_form == 0
    assert row.next_session_at is None


@pytest.fixture
def three_clients(therapist, instruments):
    low = ClientFactory(primary_therapist=therapist, code="R-0003")
    rated_course(low, instruments, [4, 2], [3, 3])
    high = ClientFactory(primary_therapist=therapist, code="R-0001")
    rated_course(high, instruments, [4, 5], [5, 4])
    flagged = ClientFactory(primary_therapist=therapist, code="R-0002")
    first, _unrated = rated_course(flagged, instruments, [3, None])
    FlagFactory(session=first)
    return {"low": low, "high": high, "flagged": flagged}


@pytest.mark.parametrize(
    ("sort", "order"),
    [
        ("", ["flagged", "low", "high"]),  # default: open flags first, then lowest alliance
        ("code", ["high", "flagged", "low"]),
        ("-code", ["low", "flagged", "high"]),
        ("client_alliance", ["low", "flagged", "high"]),
        ("-client_alliance", ["high", "flagged", "low"]),
        ("client_change", ["low", "high", "flagged"]),  # no change yet sorts last
        ("therapist_alliance", ["low", "high", "flagged"]),
        ("-open_episodes", ["flagged", "low", "high"]),
        ("open_episodes", ["high", "low", "flagged"]),
        ("-since_form", ["flagged", "high", "low"]),
        ("nonsense", ["flagged", "low", "high"]),  # unknown sorts are ignored
        ("-", ["flagged", "low", "high"]),
    ],
)
def test_caseload_sorts(client, therapist, three_clients, sort, order):
    client.force_login(therapist)
    response = client.get(reverse("caseload"), {"sort": sort})
    assert response.status_code == 200
    codes = [row.client.code for row in response.context["rows"]]
    assert codes == [three_clients[name].code for name in order]


def test_sort_links_reverse_the_current_column(client, therapist, three_clients):
    client.force_login(therapist)
    response = client.get(reverse("caseload"), {"sort": "client_alliance", "q": "R-"})
    columns = {c["key"]: c for c in response.context["columns"]}
    assert columns["client_alliance"]["next_sort"] == "-client_alliance"
    assert columns["client_alliance"]["aria_sort"] == "ascending"
    assert columns["open_episodes"]["next_sort"] == "-open_episodes"
    html = response.content.decode()
    assert "?sort=-client_alliance&amp;q=R-" in html  # the search is kept


@pytest.mark.parametrize(
    "params",
    [
        {"q": "x" * 500},
        {"q": "\x00"},
        {"sort": "__class__"},
        {"sort": "primary_therapist__password"},
        {"discharged": "maybe"},
        {"q": ["a", "b"]},
    ],
)
def test_bad_query_parameters_never_fail(client, therapist, three_clients, params):
    client.force_login(therapist)
    assert client.get(reverse("caseload"), params).status_code == 200


def test_search_by_code_is_case_insensitive(client, therapist, three_clients):
    client.force_login(therapist)
    response = client.get(reverse("caseload"), {"q": "r-0002"})
    assert [row.client.code for row in response.context["rows"]] == ["R-0002"]


def test_discharged_clients_are_hidden_unless_asked_for(client, therapist):
    ClientFactory(primary_therapist=therapist, code="R-0001")
    ClientFactory(
        primary_therapist=therapist,
        code="R-0002",
        status=Client.Status.DISCHARGED,
        discharged_at=timezone.now(),
    )
    client.force_login(therapist)
    shown = client.get(reverse("caseload")).context["rows"]
    assert [row.client.code for row in shown] == ["R-0001"]
    shown = client.get(reverse("caseload"), {"discharged": "1"}).context["rows"]
    assert [row.client.code for row in shown] == ["R-0001", "R-0002"]


def test_a_new_clinic_is_invited_to_add_its_first_client(client, therapist):
    client.force_login(therapist)
    html = client.get(reverse("caseload")).content.decode()
    assert "No clients yet — add your first client." in html
    assert reverse("client_create") in html


def test_a_search_without_results_says_so(client, therapist, three_clients):
    client.force_login(therapist)
    html = client.get(reverse("caseload"), {"q": "ZZZ"}).content.decode()
    assert "No clients match “ZZZ”." in html
    assert "add your first client" not in html


def test_a_supervisee_caseload_is_read_only(client, supervisor, therapist, three_clients):
    client.force_login(supervisor)
    html = client.get(reverse("therapist_caseload", args=[therapist.pk])).content.decode()
    assert "R-0001" in html
    assert "Read-only" in html
    assert reverse("client_create") not in html


def test_home_sends_each_role_to_its_page(client, clinic, therapist, supervisor, clinic_admin):
    from tests.factories import UserFactory

    expectations = [
        (therapist, reverse("caseload")),
        (supervisor, reverse("supervision")),
        (clinic_admin, reverse("clinic")),
    ]
    for user, target in expectations:
        client.force_login(user)
        assert client.get(reverse("home")).url == target
    client.force_login(UserFactory(clinic=clinic))
    assert "no role yet" in client.get(reverse("home")).content.decode()


def test_navigation_fits_the_roles(client, clinic):
    from tests.factories import UserFactory

    both = UserFactory(clinic=clinic, is_therapist=True, is_supervisor=True)
    client.force_login(both)
    html = client.get(reverse("caseload")).content.decode()
    assert f'href="{reverse("caseload")}"' in html
    assert f'href="{reverse("supervision")}"' in html
    assert f'href="{reverse("clinic")}"' not in html


# --- constant number of queries ----------------------------------------------------------


def build_caseload(therapist, instruments, n_clients):
    for i in range(n_clients):
        client = ClientFactory(primary_therapist=therapist, code=f"Q{therapist.pk}-{i:04d}")
        sessions = rated_course(client, instruments, [4, 3, None], [4, 4, 3])
        FlagFactory(session=sessions[1])
        TherapySessionFactory(
            client=client,
            number=4,
            status="scheduled",
            starts_at=timezone.now() + dt.timedelta(days=3),
        )


def queries_for(client, url, params=None) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, params or {})
    assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("url_name", ["caseload", "client_list"])
def test_caseload_pages_use_a_constant_number_of_queries(
    client, therapist, instruments, django_assert_max_num_queries, url_name
):
    client.force_login(therapist)
    build_caseload(therapist, instruments, 3)
    small = queries_for(client, reverse(url_name), {"sort": "-client_change"})
    build_caseload_more = [f"Q-{i:04d}" for i in range(3, 15)]
    for code in build_caseload_more:
        c = ClientFactory(primary_therapist=therapist, code=code)
        sessions = rated_course(c, instruments, [4, 3, None], [4, 4, 3])
        FlagFactory(session=sessions[1])
    large = queries_for(client, reverse(url_name), {"sort": "-client_change"})
    assert len(client.get(reverse(url_name)).context["rows"]) == 15
    assert small == large
    # 5, the audit log's event, and the risk column's flags, recent totals and scale range.
    with django_assert_max_num_queries(8):
        client.get(reverse(url_name))


def test_the_caseload_selector_is_one_query(therapist, instruments, django_assert_num_queries):
    build_caseload(therapist, instruments, 4)
    with django_assert_num_queries(1):
        rows = list(
            client_selectors.caseload_for(therapist, therapist=therapist, sort="-since_form")
        )
        [row.primary_therapist.username for row in rows]
    assert len(rows) == 4


def test_the_supervision_page_uses_a_constant_number_of_queries(
    client, clinic, supervisor, instruments, django_assert_max_num_queries
):
    supervisees = [TherapistFactory(clinic=clinic) for _ in range(3)]
    for therapist in supervisees:
        SupervisionFactory(supervisor=supervisor, therapist=therapist)
    client.force_login(supervisor)
    for therapist in supervisees:
        build_caseload(therapist, instruments, 1)
    small = queries_for(client, reverse("supervision"))
    for therapist in supervisees:
        for i in range(4):
            c = ClientFactory(primary_therapist=therapist, code=f"{therapist.pk}-{i}")
            rated_course(c, instruments, [4, 3], [4, 4])
    large = queries_for(client, reverse("supervision"))
    assert small == large
    # The dashboard (alliance/dashboards/): the risk queue, per-therapist figures and the
    # weekly chart, each a fixed number of aggregate queries; and the audit log's event.
    with django_assert_max_num_queries(17):
        client.get(reverse("supervision"))


def test_the_clinic_page_uses_a_constant_number_of_queries(client, clinic_admin, instruments):
    client.force_login(clinic_admin)
    therapists = [TherapistFactory(clinic=clinic_admin.clinic) for _ in range(2)]
    for therapist in therapists:
        build_caseload(therapist, instruments, 1)
    small = queries_for(client, reverse("clinic"))
    for therapist in [TherapistFactory(clinic=clinic_admin.clinic) for _ in range(4)]:
        build_caseload(therapist, instruments, 2)
    assert queries_for(client, reverse("clinic")) == small


# --- supervision figures -----------------------------------------------------------------


def test_supervisee_summary_figures(client, supervisor, therapist, instruments):
    now = timezone.now()
    a = ClientFactory(primary_therapist=therapist, code="R-0001")
    b = ClientFactory(primary_therapist=therapist, code="R-0002")
    ClientFactory(  # discharged: not counted
        primary_therapist=therapist,
        code="R-0003",
        status=Client.Status.DISCHARGED,
        discharged_at=now,
    )
    # a: three sessions in the last 30 days, two with a client form; latest client total 3.
    sessions_a = rated_course(a, instruments, [5, None, 3], start=now - dt.timedelta(days=20))
    # b: one old session (outside the 30 days) with a client form at 5; one recent without.
    rated_course(b, instruments, [5], start=now - dt.timedelta(days=60))
    TherapySessionFactory(client=b, number=2, starts_at=now - dt.timedelta(days=3))
    # Cancelled and future sessions do not count.
    TherapySessionFactory(
        client=b, number=3, status="cancelled", starts_at=now - dt.timedelta(days=2)
    )
    TherapySessionFactory(
        client=b, number=4, status="scheduled", starts_at=now + dt.timedelta(days=2)
    )
    FlagFactory(session=sessions_a[2])

    client.force_login(supervisor)
    [summary] = client.get(reverse("supervision")).context["summaries"]
    assert summary.active_clients == 2
    assert summary.mean_client_alliance == pytest.approx((3 + 5) / 2)
    assert (summary.with_client_form_30d, summary.completed_30d) == (2, 4)
    assert summary.client_form_rate == pytest.approx(0.5)
    assert summary.open_episodes == 1


def test_a_supervisor_without_supervisees_is_told_how_links_are_made(client, clinic):
    from tests.factories import SupervisorFactory

    client.force_login(SupervisorFactory(clinic=clinic))
    html = client.get(reverse("supervision")).content.decode()
    assert "No supervisees yet" in html


def test_the_supervisor_finds_a_supervisees_client_by_code(client, supervisor, therapist):
    ClientFactory(primary_therapist=therapist, code="R-0042")
    client.force_login(supervisor)
    response = client.get(reverse("client_list"), {"q": "0042"})
    [found] = [row.client for row in response.context["rows"]]
    assert found.code == "R-0042"
    assert client.get(found.get_absolute_url()).status_code == 200


def test_a_covering_therapist_finds_the_covered_client_under_all_clients(
    client, therapist, other_therapist
):
    covered = ClientFactory(primary_therapist=other_therapist, code="R-0077")
    TherapySessionFactory(client=covered, therapist=therapist, number=1)
    client.force_login(therapist)
    assert not client.get(reverse("caseload")).context["rows"]
    [found] = [row.client for row in client.get(reverse("client_list")).context["rows"]]
    assert found == covered
    html = client.get(reverse("caseload")).content.decode()
    assert f'href="{reverse("client_list")}"' in html  # in the navigation


def test_caseload_rows_show_each_column_escaped_in_the_clinics_time(
    client, clinic, supervisor, therapist, instruments
):
    """The caseload's rows (templates/alliance/caseload.html): names escaped, dates in
    the clinic's timezone (New York), the therapist's column on the list of every client
    (the supervisor fixture supervises the therapist)."""
    named = ClientFactory(primary_therapist=therapist, code="C<1>", display_name='J & "K"')
    last = dt.datetime(2026, 3, 2, 3, 30, tzinfo=dt.UTC)  # 1 Mar, 22:30 in New York
    rated_course(named, instruments, [4, 3], [3, 4], start=last - dt.timedelta(days=7))
    TherapySessionFactory(
        client=named,
        number=3,
        status="scheduled",
        starts_at=timezone.now() + dt.timedelta(days=30),
    )
    quiet = ClientFactory(
        primary_therapist=therapist,
        code="Q",
        status=Client.Status.DISCHARGED,
        discharged_at=timezone.now(),
    )
    for number in (1, 2, 3):
        TherapySessionFactory(client=quiet, number=number)  # three sessions, no form

    client.force_login(therapist)
    html = client.get(reverse("caseload"), {"discharged": "1", "sort": "code"}).content.decode()
    row = html[html.index("C&lt;1&gt;") - 100 : html.index("</tr>", html.index("C&lt;1&gt;"))]
    assert '<span class="muted">(J &amp; &quot;K&quot;)</span>' in row
    assert 'data-label="Change (client)">\N{MINUS SIGN}1.00</td>' in row and "change down" in row
    assert 'class="num change up" data-label="Change (therapist)">+1.00</td>' in row
    assert 'data-label="Last session">1 Mar 2026</td>' in row
    next_at = timezone.localtime(named.sessions.get(number=3).starts_at, clinic.tzinfo).strftime(
        "%a %-d %b, %H:%M"
    )
    assert f'data-label="Next session">{next_at}</td>' in row
    assert 'data-label="Therapist"' not in row  # their own caseload
    gone = html[html.index(">Q</a>") : html.index("</tr>", html.index(">Q</a>"))]
    assert '<span class="badge">Discharged</span>' in gone
    assert 'class="num warn" data-label="Sessions since client form">3</td>' in gone
    assert 'data-label="Next session">—</td>' in gone

    client.force_login(supervisor)
    every = client.get(reverse("client_list"), {"discharged": "1"}).content.decode()
    assert f'<td data-label="Therapist">{therapist}</td>' in every


def test_the_since_client_form_warning_follows_the_clinics_missing_forms_setting(
    client, clinic, therapist
):
    """The caseload marks sessions since the last client form from the clinic's setting,
    as the risk ranking does: at 5, three sessions without a form are not yet marked."""
    clinic.rule_settings = {"missing_forms": {"sessions": 5}}
    clinic.save(update_fields=["rule_settings"])
    for code, sessions in (("THREE", 3), ("FIVE", 5)):
        patient = ClientFactory(primary_therapist=therapist, code=code)
        for number in range(1, sessions + 1):
            TherapySessionFactory(client=patient, number=number)
    client.force_login(therapist)
    html = client.get(reverse("caseload")).content.decode()

    def cell(code):
        row = html[html.index(f">{code}</a>") : html.index("</tr>", html.index(f">{code}</a>"))]
        return row[row.index('data-label="Sessions since client form"') - 20 :]

    assert 'class="num" data-label="Sessions since client form">3</td>' in cell("THREE")
    assert 'class="num warn" data-label="Sessions since client form">5</td>' in cell("FIVE")
