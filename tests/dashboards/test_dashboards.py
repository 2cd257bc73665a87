"""Dashboards: the risk ranking, the figures behind them, query counts, scoping and filters."""

import datetime as dt
import itertools
import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from alliance import dashboards
from alliance.models import Client, ClinicOverviewSnapshot, Episode, Flag
from alliance.people import selectors as people_selectors
from measures.services import rating_record
from tests.dashboards.helpers import flag, queries_for, weekly_course
from tests.factories import (
    ClientFactory,
    ClinicAdminFactory,
    ClinicFactory,
    SupervisionFactory,
    SupervisorFactory,
    TherapistFactory,
    TherapySessionFactory,
)
from tests.flags.helpers import answers_for

pytestmark = pytest.mark.django_db


# --- the risk ranking ------------------------------------------------------------------------


@pytest.fixture
def ranked(therapist, instruments):
    """One client per risk tier (and noise that must not rank), by code."""

    def make(code, client_totals, therapist_totals=()):
        client = ClientFactory(primary_therapist=therapist, code=code)
        return client, weekly_course(client, instruments, client_totals, therapist_totals)

    _, a = make("A-unrepaired", [4, 4, 4, 2, 2, 2])
    flag(a[4], repair_status="unrepaired")
    _, j = make("J-acknowledged", [4, 4, 2])
    flag(j[3], "sudden_loss", repair_status="unrepaired", status="acknowledged")
    _, b = make("B-pending", [4, 4, 2])
    flag(b[3], "below_baseline", repair_status="pending")
    _, c = make("C-low", [3, 2])
    flag(c[2], "low_alliance")
    make("D-declining", [5, 4, 3])
    _, e = make("E-tension", [4, 4])
    flag(e[2], "client_reported_tension", scale="tension")
    make("F-missing", [4, None, None, None])
    _, g = make("G-repaired", [4, 2, 4])
    flag(g[2], repair_status="repaired")  # repaired, not yet acknowledged: a signal
    _, k = make("K-repaired-ack", [4, 2, 4])
    flag(k[2], repair_status="repaired", status="acknowledged")  # handled: no look
    ClientFactory(primary_therapist=therapist, code="H-new")
    _, l_ = make("L-therapist", [4, 4, 4], [4, 4, 3])
    flag(l_[3], rater="therapist", repair_status="unrepaired")  # either rater counts
    flag(l_[3], scale="goal", repair_status="unrepaired")  # the same episode
    _, i = make("I-noise", [4, 4, 4], [4, 4, 3])
    flag(i[2], repair_status="unrepaired", status="resolved")  # closed by the therapist
    flag(i[1], "sudden_loss", repair_status="unrepaired", retired_at=timezone.now())  # gone
    flag(i[3], "client_reported_tension", scale="tension", status="acknowledged")
    return therapist


ORDER = [
    "A-unrepaired",
    "J-acknowledged",
    "L-therapist",
    "B-pending",
    "C-low",
    "E-tension",
    "G-repaired",
    "F-missing",
    "D-declining",
    "I-noise",
    "K-repaired-ack",
    "H-new",
]


def test_the_ranking_puts_each_tier_in_order(ranked):
    rows = dashboards.caseload_rows(ranked, therapist=ranked)
    assert [c.client.code for c in rows] == ORDER
    tiers = [c.risk.tier for c in rows]
    fine = dashboards.RiskTier.FINE
    assert tiers == [0, 0, 0, 1, 2, 3, 3, 4, fine, fine, fine, fine]
    reasons = {c.client.code: c.risk.reason for c in rows}
    assert reasons["A-unrepaired"] == "Unrepaired drop at session 4"
    assert reasons["J-acknowledged"] == "Unrepaired drop at session 3 (acknowledged)"
    assert reasons["L-therapist"] == "Unrepaired drop at session 3"
    assert reasons["B-pending"] == "Drop at session 3, repair pending"
    assert reasons["C-low"] == "Low alliance at session 2"
    assert reasons["E-tension"] == "Client reported tension at session 2"
    assert reasons["G-repaired"] == "Repaired drop at session 2"
    assert reasons["F-missing"] == "No client form for the last 3 sessions"
    # Falling two sessions running is no rule: no look without an episode.
    assert reasons["D-declining"] == ""
    assert reasons["K-repaired-ack"] == "Repaired drop at session 2"
    assert reasons["I-noise"] == reasons["H-new"] == ""


def test_no_concerns_never_stands_beside_an_open_flag(ranked):
    for row in dashboards.caseload_rows(ranked, therapist=ranked):
        assert row.client.open_episodes == 0 or row.risk.tier != dashboards.RiskTier.FINE, (
            row.client.code
        )


def test_the_supervision_queue_ranks_as_the_caseload(supervisor, ranked):
    """risk_queue ranks on its own lean reads; its order, tiers and reasons are the
    caseload's, and only its first ``limit`` rows carry the caseload columns."""
    caseload = dashboards.caseload_rows(supervisor, therapist=ranked)
    queue = dashboards.risk_queue(supervisor, [ranked], every_client=True, limit=100)
    assert [c.client.code for c in queue.rows] == ORDER
    assert [(c.risk.tier, c.risk.reasons, c.risk.episode_id) for c in queue.rows] == [
        (c.risk.tier, c.risk.reasons, c.risk.episode_id) for c in caseload
    ]
    assert [c.recent for c in queue.rows] == [c.recent for c in caseload]
    assert [c.client.latest_client_total for c in queue.rows] == [
        c.client.latest_client_total for c in caseload
    ]
    assert (queue.total, queue.attention, queue.clients) == (12, 8, 12)

    needing_a_look = dashboards.risk_queue(supervisor, [ranked], limit=3)
    assert [c.client.code for c in needing_a_look.rows] == ORDER[:3]
    assert (needing_a_look.total, needing_a_look.attention) == (8, 8)
    assert dashboards.risk_queue(supervisor, [], limit=3).rows == []


def test_the_caseload_page_ranks_by_risk_and_shows_why(client, ranked):
    client.force_login(ranked)
    response = client.get(reverse("caseload"))
    assert [c.client.code for c in response.context["rows"]] == ORDER
    html = response.content.decode()
    assert html.index("A-unrepaired") < html.index("B-pending") < html.index("H-new")
    assert "Unrepaired drop at session 4" in html
    assert '<svg class="sparkline"' in html
    # The other sorts stay; -risk reverses the ranking.
    codes = [
        c.client.code for c in client.get(reverse("caseload"), {"sort": "code"}).context["rows"]
    ]
    assert codes == sorted(ORDER)
    reverse_risk = client.get(reverse("caseload"), {"sort": "-risk"}).context["rows"]
    assert [c.client.code for c in reverse_risk] == ORDER[::-1]


def test_the_supervision_queue_rows_show_rank_reason_and_columns(client, supervisor, ranked):
    """The queue's rows (alliance/dashboards/risk_table.html): ranked, each with its tier,
    its reason linked to the flag behind it, the caseload columns, every name escaped."""
    ranked.first_name, ranked.last_name = "<b>Ann</b>", "O'Hara & Co"
    ranked.save(update_fields=["first_name", "last_name"])
    client.force_login(supervisor)
    html = client.get(reverse("supervision"), {"queue": "all"}).content.decode()
    rows = re.findall(r'<tr class="risk-(\w+)">(.*?)</tr>', html, flags=re.S)
    assert [re.search(r">([A-L]-[a-z-]+)</a>", row).group(1) for _css, row in rows] == ORDER
    assert [css for css, _row in rows][:4] == ["unrepaired", "unrepaired", "unrepaired", "pending"]
    first = rows[0][1]
    assert '<td class="num rank" data-label="#">1</td>' in first
    unrepaired = Flag.objects.get(client__code="A-unrepaired")
    assert (
        f'<a href="{reverse("episode_detail", args=[unrepaired.episode_id])}">'
        "Unrepaired drop at session 4</a>" in first
    )
    assert "&lt;b&gt;Ann&lt;/b&gt; O&#x27;Hara &amp; Co" in first
    assert "<b>Ann</b>" not in html
    assert '<svg class="sparkline"' in first
    assert '<td class="num" data-label="Client alliance">2.00</td>' in first
    by_code = {re.search(r">([A-L]-[a-z-]+)</a>", row).group(1): row for _css, row in rows}
    since_form = '<td class="num warn" data-label="Sessions since client form">3</td>'
    assert since_form in by_code["F-missing"]
    assert '<td class="trend" data-label="Trend">—</td>' in by_code["H-new"]


def test_a_flag_link_leads_to_the_reason(client, ranked):
    client.force_login(ranked)
    html = client.get(reverse("caseload")).content.decode()
    unrepaired = Flag.objects.get(client__code="A-unrepaired")
    assert f'href="{reverse("episode_detail", args=[unrepaired.episode_id])}"' in html


def test_an_open_signal_is_new_while_it_reaches_into_the_last_held_sessions(therapist, instruments):
    # Five held sessions: the last three (3, 4, 5) are recent.
    old = weekly_course(
        ClientFactory(primary_therapist=therapist, code="old"), instruments, [4] * 5
    )
    flag(old[2], "client_reported_tension", scale="tension")
    new = weekly_course(
        ClientFactory(primary_therapist=therapist, code="new"), instruments, [4] * 5
    )
    flag(new[3], "client_reported_tension", scale="tension")
    ceiling = weekly_course(
        ClientFactory(primary_therapist=therapist, code="ceiling"), instruments, [4] * 5
    )
    flag(ceiling[1], "ceiling")
    # An unrepaired rupture is never too old to need a look.
    rupture = weekly_course(
        ClientFactory(primary_therapist=therapist, code="rupture"), instruments, [4] * 5
    )
    flag(rupture[1], repair_status="unrepaired", status="acknowledged")
    rows = dashboards.caseload_rows(therapist)
    tiers = {row.client.code: row.risk.tier for row in rows}
    assert {row.client.code for row in rows if dashboards.needs_a_look(row.risk)} == {
        "new",
        "ceiling",
        "rupture",
    }
    assert tiers == {
        "old": dashboards.RiskTier.OLDER,  # off the list, but not "No concerns"
        "new": dashboards.RiskTier.SIGNAL,
        "ceiling": dashboards.RiskTier.SIGNAL,
        "rupture": dashboards.RiskTier.UNREPAIRED,
    }


def test_the_clinics_missing_forms_setting_counts(therapist, instruments):
    clinic = therapist.clinic
    clinic.rule_settings = {"missing_forms": {"sessions": 2}}
    clinic.save()
    client = ClientFactory(primary_therapist=therapist, code="two-missing")
    weekly_course(client, instruments, [4, None, None])
    [row] = dashboards.caseload_rows(therapist, therapist=therapist)
    assert row.risk.tier == dashboards.RiskTier.MISSING_FORMS


def test_sparkline_points_are_the_last_ten_completed_sessions(therapist, instruments):
    client = ClientFactory(primary_therapist=therapist)
    weekly_course(client, instruments, [4] * 9 + [None, 3, 2])
    [row] = dashboards.caseload_rows(therapist, therapist=therapist)
    assert [n for n, _ in row.recent] == list(range(3, 13))
    assert row.recent[-3:] == [(10, None), (11, 3.0), (12, 2.0)]
    assert row.sparkline.count("<polyline") == 2  # broken at session 10


# The SVG charts.sparkline_svg wrote before the shape and its markup were separated.
SPARKLINE_SVG = (
    '<svg class="sparkline" xmlns="http://www.w3.org/2000/svg" width="96" height="28" '
    'viewBox="0 0 96 28" role="img" aria-label="Client-rated total, last 6 sessions: 4.00, '
    '4.50, 3.00, 2.00, 2.50" focusable="false"><title>Client-rated total, last 6 sessions: '
    '4.00, 4.50, 3.00, 2.00, 2.50</title><line x1="0" x2="96" y1="25" y2="25" class="base"/>'
    '<polyline points="3.0,8.5 18.0,5.8" class="line"/>'
    '<circle cx="48.0" cy="14.0" r="1.6" class="point"/>'
    '<polyline points="78.0,19.5 93.0,16.8" class="line"/>'
    '<circle cx="93.0" cy="16.8" r="2.6" class="last"/></svg>'
)


def test_the_sparkline_svg_is_the_markup_it_was():
    points = [(3, 4.0), (4, 4.5), (5, None), (6, 3.0), (8, 2.0), (9, 2.5)]
    with translation.override("en"):
        assert dashboards.sparkline_for(points, (1.0, 5.0)) == SPARKLINE_SVG
    assert dashboards.sparkline_for([(1, None)], (1.0, 5.0)) == ""


def test_the_sparkline_label_is_escaped(monkeypatch):
    monkeypatch.setattr(dashboards.queue, "_", lambda text: "<b>" + text + ' & "x"</b>')
    svg = dashboards.sparkline_for([(1, 4.0)], (1.0, 5.0))
    assert 'aria-label="&lt;b&gt;Client-rated' in svg and "&amp; &quot;x&quot;&lt;/b&gt;" in svg
    assert "<b>" not in svg


# --- per-therapist figures -------------------------------------------------------------------

NOW = dt.datetime(2026, 3, 2, 17, 0, tzinfo=dt.UTC)


def rated_session(client, number, when, client_total=None, therapist_total=None, *, instruments):
    session = TherapySessionFactory(client=client, number=number, starts_at=when)
    for rater, total in (("client", client_total), ("therapist", therapist_total)):
        if total is not None:
            extra = {"submitted_by": session.therapist} if rater == "therapist" else {}
            rating_record(
                session=session,
                instrument=instruments[rater],
                answers=answers_for(total),
                submitted_at=when,
                **extra,
            )
    return session


@pytest.fixture
def figures_world(clinic, therapist, instruments):
    """Two clients of one therapist with hand-countable figures (see the test)."""
    tz = clinic.tzinfo
    period = dashboards.Period(start=dt.date(2026, 1, 1), end=dt.date(2026, 3, 1), tz=tz)
    end = period.end_at

    def weeks_before(n):
        return end - dt.timedelta(weeks=n)

    p = ClientFactory(primary_therapist=therapist, code="P")
    rated_session(p, 1, weeks_before(30), 3, instruments=instruments)
    p2 = rated_session(p, 2, weeks_before(20), 3, instruments=instruments)
    rated_session(p, 3, weeks_before(10), 5, instruments=instruments)
    p4 = rated_session(p, 4, weeks_before(2), 4, 4, instruments=instruments)
    q = ClientFactory(primary_therapist=therapist, code="Q")
    rated_session(q, 1, weeks_before(5), None, 3, instruments=instruments)  # no client form
    q2 = rated_session(q, 2, weeks_before(1), 2, instruments=instruments)
    # Not counted in the mean: a discharged client (their session is outside the windows).
    gone = ClientFactory(
        primary_therapist=therapist,
        code="gone",
        status=Client.Status.DISCHARGED,
        discharged_at=end,
    )
    rated_session(gone, 1, weeks_before(40), 1, instruments=instruments)

    # Ruptures: P unrepaired (one episode of two flags), Q pending.
    flag(p4, repair_status="unrepaired")
    flag(p4, "below_baseline", repair_status="unrepaired")
    flag(q2, "sudden_loss", repair_status="pending")
    # Acknowledged after 2 h, 10 h and 30 h within 90 days; 1 h long before; one waiting.
    for hours, ago in ((2, 5), (10, 40), (30, 80), (1, 200)):
        acknowledged = end - dt.timedelta(days=ago)
        made = flag(p2, f"rule-{hours}", status="acknowledged")
        Episode.objects.filter(pk=made.episode_id).update(
            created_at=acknowledged - dt.timedelta(hours=hours), acknowledged_at=acknowledged
        )
    flag(p2, "waiting")
    return period


@pytest.mark.parametrize("from_queue", [False, True], ids=["own reads", "the queue's reads"])
def test_therapist_figures_match_hand_computed_values(
    supervisor, therapist, figures_world, from_queue
):
    # The dashboard passes its queue: the figures count from what the ranking read.
    queue = dashboards.risk_queue(supervisor, [therapist], limit=1) if from_queue else None
    [row] = dashboards.therapist_figures(supervisor, [therapist], period=figures_world, queue=queue)
    assert row.summary.active_clients == 2
    assert row.summary.mean_client_alliance == pytest.approx((4 + 2) / 2)
    # Sessions in 1 Jan - 1 Mar: P4 (form), Q1 (no form), Q2 (form).
    assert (row.with_client_form, row.completed) == (2, 3)
    assert row.completion_rate == pytest.approx(2 / 3)
    # The summary's last 30 days up to the period end: P4 and Q2, both with a form.
    assert (row.summary.with_client_form_30d, row.summary.completed_30d) == (2, 2)
    # Last 12 weeks: 5, 4, 2; the 12 before: 3.
    assert row.mean_recent == pytest.approx(11 / 3)
    assert row.mean_previous == pytest.approx(3.0)
    assert row.trend == pytest.approx(11 / 3 - 3)
    assert (row.unrepaired, row.pending) == (1, 1)
    assert row.acknowledged == 3
    assert row.median_acknowledge_hours == pytest.approx(10)


def test_rupture_counts_from_the_queue_are_the_counts_of_the_query(
    supervisor, therapist, clinic, instruments
):
    """Clients (not flags or episodes) with an unrepaired or a pending rupture episode (a
    drop of either rater, on any scale), counted from the queue's reads as the query counts
    them."""
    other = TherapistFactory(clinic=clinic)
    SupervisionFactory(supervisor=supervisor, therapist=other)

    def session_of(therapist_, code, **fields):
        return TherapySessionFactory(
            client=ClientFactory(primary_therapist=therapist_, code=code, **fields), number=1
        )

    both = session_of(therapist, "both")
    flag(both, repair_status="unrepaired")
    flag(both, "below_baseline", repair_status="unrepaired")  # one client, twice
    flag(both, "sudden_loss", repair_status="pending")  # the same episode: unrepaired
    flag(session_of(therapist, "u"), repair_status="unrepaired", status="acknowledged")
    flag(session_of(therapist, "t"), rater="therapist", repair_status="unrepaired")
    for code in ("p1", "p2", "p3"):
        flag(session_of(therapist, code), repair_status="pending")
    flag(session_of(therapist, "s"), scale="bond", repair_status="pending")
    flag(session_of(other, "other"), repair_status="unrepaired")
    # Not counted: resolved, a signal, a discharged client.
    flag(session_of(therapist, "r"), repair_status="unrepaired", status="resolved")
    flag(session_of(therapist, "x"), "client_reported_tension")
    gone = session_of(
        therapist, "gone", status=Client.Status.DISCHARGED, discharged_at=timezone.now()
    )
    flag(gone, repair_status="unrepaired")

    therapists = [therapist, other]
    period = dashboards.Period.weeks_to(dt.date.today(), 4, dt.UTC)

    def counts(queue=None):
        figures = dashboards.therapist_figures(supervisor, therapists, period=period, queue=queue)
        return {f.therapist.pk: (f.unrepaired, f.pending) for f in figures}

    counted = counts()
    from_queue = counts(dashboards.risk_queue(supervisor, therapists, limit=1))
    assert counted == from_queue == {therapist.pk: (3, 4), other.pk: (1, 0)}


def test_weekly_totals_have_every_week_and_gaps(supervisor, therapist, figures_world):
    figures = dashboards.therapist_figures(supervisor, [therapist], period=figures_world)
    weekly = dashboards.weekly_client_totals(figures, period=figures_world)
    weeks = list(weekly["week"])
    assert weeks[0] == dt.date(2025, 12, 29)  # the Monday of the week of 1 Jan
    assert all((b - a).days == 7 for a, b in itertools.pairwise(weeks))
    counted = weekly[weekly["n"] > 0]
    assert list(counted["mean"]) == [4.0, 2.0]  # P4 two weeks before, Q2 one week before
    assert weekly["mean"].isna().sum() == len(weekly) - 2


def test_the_supervision_chart_summary_weights_weeks_by_their_ratings(
    supervisor, therapist, figures_world
):
    figures = dashboards.therapist_figures(supervisor, [therapist], period=figures_world)
    # Three forms in one week at 5 and one form in another at 1: (3 x 5 + 1) / 4 = 4.00.
    weekly = dashboards.weekly_client_totals(figures, period=figures_world)
    weekly["n"], weekly["mean"] = 0, float("nan")
    weekly.loc[0, ["mean", "n"]] = [5.0, 3]
    weekly.loc[2, ["mean", "n"]] = [1.0, 1]
    chart = dashboards.supervision_chart(weekly, scale_range=(1, 5), chart_id="c")
    assert chart.summary == f"{therapist}: mean client-rated total 4.00 over the period."
    assert chart.table_rows[0][1] == "5.00 (n=3)" and chart.table_rows[1][1] == "—"
    nobody = weekly.assign(n=0, mean=float("nan"))
    empty = dashboards.supervision_chart(nobody, scale_range=(1, 5), chart_id="c")
    assert empty.summary == f"{therapist}: mean client-rated total — over the period."


def test_the_supervision_page_shows_the_figures(client, supervisor, therapist, figures_world):
    client.force_login(supervisor)
    with_period = {"from": "2026-01-01", "to": "2026-03-01"}
    response = client.get(reverse("supervision"), with_period)
    [row] = response.context["figures"]
    assert row.completed == 3
    html = response.content.decode()
    assert "67%" in html and "(2/3)" in html
    assert "10 h" in html  # the median time to acknowledge
    assert 'id="chart-therapists-data"' in html


def test_the_api_summaries_count_from_the_queue_as_their_own_reads(
    supervisor, therapist, figures_world
):
    """/api/v1/supervision/ passes its queue's ranking to therapist_summaries."""
    from tests.api.conftest import api_client_for

    [own] = people_selectors.therapist_summaries(supervisor, [therapist])
    [served] = api_client_for(supervisor).get("/api/v1/supervision/").json()["therapists"]
    assert (served["active_clients"], served["mean_client_alliance"]) == (2, pytest.approx(3.0))
    assert (served["active_clients"], served["mean_client_alliance"]) == (
        own.active_clients,
        pytest.approx(own.mean_client_alliance),
    )


# --- the supervision dashboard ---------------------------------------------------------------


def test_the_queue_puts_unrepaired_first_across_supervisees(
    client, clinic, supervisor, instruments
):
    other = TherapistFactory(clinic=clinic, username="second")
    SupervisionFactory(supervisor=supervisor, therapist=other)
    therapist = supervisor.supervisions.first().therapist
    fine = ClientFactory(primary_therapist=therapist, code="fine")
    weekly_course(fine, instruments, [4, 4])
    pending = ClientFactory(primary_therapist=therapist, code="pending")
    flag(weekly_course(pending, instruments, [4, 2])[2], repair_status="pending")
    broken = ClientFactory(primary_therapist=other, code="broken")
    flag(weekly_course(broken, instruments, [4, 2])[2], repair_status="unrepaired")
    stranger = ClientFactory(primary_therapist=TherapistFactory(clinic=clinic), code="stranger")
    flag(weekly_course(stranger, instruments, [4, 1])[2], repair_status="unrepaired")

    client.force_login(supervisor)
    response = client.get(reverse("supervision"))
    assert [c.client.code for c in response.context["queue"]] == ["broken", "pending"]
    html = response.content.decode()
    assert "stranger" not in html
    assert "Unrepaired drop at session 2" in html
    everyone = client.get(reverse("supervision"), {"queue": "all"}).context["queue"]
    assert [c.client.code for c in everyone] == ["broken", "pending", "fine"]
    # One therapist only.
    only = client.get(reverse("supervision"), {"therapist": therapist.pk, "queue": "all"})
    assert [c.client.code for c in only.context["queue"]] == ["pending", "fine"]
    assert [f.therapist for f in only.context["figures"]] == [therapist]


@pytest.mark.parametrize(
    "params",
    [
        {"from": "yesterday"},
        {"to": "2026-13-45"},
        {"from": "2026-03-01", "to": "2026-01-01"},
        {"from": "1900-01-01"},
        {"to": "9999-12-31"},
        {"therapist": "abc"},
        {"therapist": "999999"},
        {"therapist": ["1", "2"], "from": ["x", "y"]},
        {"queue": "<script>"},
        {"from": "2026-01-01\x00"},
    ],
)
def test_bad_filters_are_ignored_with_a_message(client, supervisor, params):
    client.force_login(supervisor)
    response = client.get(reverse("supervision"), params)
    assert response.status_code == 200
    period = response.context["period"]
    assert period.start <= period.end
    if set(params) - {"queue"}:
        assert "ignored" in response.content.decode()


def test_a_therapist_outside_the_supervision_is_not_a_filter(client, clinic, supervisor):
    stranger = TherapistFactory(clinic=clinic)
    client.force_login(supervisor)
    response = client.get(reverse("supervision"), {"therapist": stranger.pk})
    assert response.status_code == 200
    assert stranger not in [f.therapist for f in response.context["figures"]]


def test_only_supervisors_have_the_dashboard(client, therapist):
    client.force_login(therapist)
    assert client.get(reverse("supervision")).status_code == 302


# --- the clinic overview ---------------------------------------------------------------------


def test_the_clinic_overview_counts_the_clinic(client, clinic_admin, therapist, instruments):
    today = timezone.now()
    a = ClientFactory(primary_therapist=therapist, code="a")
    sessions = weekly_course(
        a, instruments, [4, None, 2], [4, 4, 3], start=today - dt.timedelta(weeks=3)
    )
    flag(sessions[3], repair_status="unrepaired")
    flag(sessions[3], "client_reported_tension", scale="tension")
    b = ClientFactory(primary_therapist=therapist, code="b")
    weekly_course(b, instruments, [5], start=today - dt.timedelta(weeks=1))
    elsewhere = ClientFactory(primary_therapist=TherapistFactory(clinic=ClinicFactory()))
    weekly_course(elsewhere, instruments, [1, 1], start=today - dt.timedelta(weeks=2))

    client.force_login(clinic_admin)
    response = client.get(reverse("clinic_overview"))
    overview = response.context["overview"]
    assert sorted(overview.latest_totals) == [2.0, 5.0]
    [(who, completed, with_form)] = [row for row in overview.completion if row[1]]
    assert (who, completed, with_form) == (therapist, 4, 3)
    assert overview.completion_rate == pytest.approx(3 / 4)
    per_rule = overview.flags_per_rule.set_index("rule")
    assert per_rule.loc["reliable_drop", "unrepaired"] == 1
    assert per_rule.loc["client_reported_tension", "n"] == 1
    client_months = overview.monthly[overview.monthly["rater"] == "client"]
    assert client_months["n"].sum() == 3
    assert len(client_months) == 12 or len(client_months) == 13
    html = response.content.decode()
    for name in ("histogram", "flags", "monthly"):
        assert f'id="chart-{name}-data"' in html
    assert "75%" in html


def test_the_clinic_overview_is_for_clinic_admins(client, therapist, supervisor):
    for user in (therapist, supervisor):
        client.force_login(user)
        assert client.get(reverse("clinic_overview")).status_code == 404


# --- the client chart on the client page -----------------------------------------------------


def test_the_client_page_carries_the_figure_and_its_text(client, therapist, instruments):
    patient = ClientFactory(primary_therapist=therapist, code="R-0100")
    sessions = weekly_course(patient, instruments, [4, 4, 4, None, 2], [4, 4, 4, 4, 4])
    flag(sessions[5], repair_status="unrepaired")
    client.force_login(therapist)
    html = client.get(reverse("client_detail", args=[patient.pk])).content.decode()
    block = re.search(
        r'<script type="application/json" id="chart-client-data">(.*?)</script>', html, re.S
    )
    figure = json.loads(block.group(1))
    names = [trace.get("name") for trace in figure["data"]]
    assert "Client-rated total" in names and "Unrepaired" in names
    total = next(t for t in figure["data"] if t.get("name") == "Client-rated total")
    assert total["y"] == [4.0, 4.0, 4.0, None, 2.0]
    assert "Unrepaired drop in the client-rated total at session 5." in html
    assert "1 of 5 completed sessions has no client-rated total" in html
    assert "vendor/plotly/plotly.min.js" in html and "js/alliance/charts.js" in html
    assert "cdn" not in html.lower()


def test_figure_json_cannot_close_its_script_block():
    class Figure:
        def to_json(self):
            return '{"name": "</script><script>alert(1)</script>&"}'

    text = dashboards.figure_json(Figure())
    assert "</script>" not in text and "<" not in text and "&" not in text
    assert json.loads(text) == {"name": "</script><script>alert(1)</script>&"}


# --- query counts ----------------------------------------------------------------------------


def grow(therapist, instruments, count, prefix):
    for i in range(count):
        patient = ClientFactory(primary_therapist=therapist, code=f"{prefix}-{i}")
        sessions = weekly_course(patient, instruments, [4, 3, None], [4, 4, 4])
        flag(sessions[2], repair_status="unrepaired" if i % 2 else "pending")
        flag(sessions[2], "client_reported_tension", scale="tension")


def test_the_caseload_takes_the_same_queries_for_3_and_15_clients(
    client, therapist, instruments, django_assert_max_num_queries
):
    client.force_login(therapist)
    grow(therapist, instruments, 3, "S")
    client.get(reverse("caseload"))  # warm the instrument-definition cache
    small = queries_for(client, reverse("caseload"))
    grow(therapist, instruments, 12, "L")
    assert queries_for(client, reverse("caseload")) == small
    with django_assert_max_num_queries(9):
        client.get(reverse("caseload"))


def test_the_supervision_dashboard_takes_the_same_queries_at_two_sizes(
    client, clinic, supervisor, instruments, django_assert_max_num_queries
):
    supervisees = [supervisor.supervisions.first().therapist]
    supervisees += [TherapistFactory(clinic=clinic) for _ in range(2)]
    for therapist in supervisees[1:]:
        SupervisionFactory(supervisor=supervisor, therapist=therapist)
    for therapist in supervisees:
        grow(therapist, instruments, 1, f"S{therapist.pk}")
    client.force_login(supervisor)
    client.get(reverse("supervision"))
    small = queries_for(client, reverse("supervision"))
    for therapist in supervisees:
        grow(therapist, instruments, 4, f"L{therapist.pk}")
    assert queries_for(client, reverse("supervision")) == small
    assert queries_for(client, reverse("supervision"), {"queue": "all"}) == small
    with django_assert_max_num_queries(14):
        client.get(reverse("supervision"))


def test_the_clinic_overview_takes_the_same_queries_at_two_sizes(
    client, clinic_admin, instruments, django_assert_max_num_queries
):
    therapists = [TherapistFactory(clinic=clinic_admin.clinic) for _ in range(2)]
    for therapist in therapists:
        grow(therapist, instruments, 1, f"S{therapist.pk}")
    client.force_login(clinic_admin)

    def computed_then_kept() -> tuple[int, int]:
        ClinicOverviewSnapshot.objects.all().delete()
        url = reverse("clinic_overview")
        return queries_for(client, url), queries_for(client, url)

    small = computed_then_kept()
    for therapist in [*therapists, TherapistFactory(clinic=clinic_admin.clinic)]:
        grow(therapist, instruments, 3, f"L{therapist.pk}")
    assert computed_then_kept() == small
    assert small[1] < small[0]  # the snapshot: one query for it, one for the therapists
    ClinicOverviewSnapshot.objects.all().delete()
    with django_assert_max_num_queries(17):
        client.get(reverse("clinic_overview"))


def test_a_supervisor_of_another_clinic_sees_nothing_here(client, therapist, instruments):
    patient = ClientFactory(primary_therapist=therapist, code="R-0200")
    weekly_course(patient, instruments, [4])
    elsewhere = SupervisorFactory(clinic=ClinicFactory(name="Elsewhere"))
    admin = ClinicAdminFactory(clinic=elsewhere.clinic)
    client.force_login(elsewhere)
    assert "R-0200" not in client.get(reverse("supervision")).content.decode()
    client.force_login(admin)
    overview = client.get(reverse("clinic_overview")).context["overview"]
    assert len(overview.latest_totals) == 0


# --- the API reads the same rows -------------------------------------------------------------


def test_the_api_ranks_as_the_pages_do(ranked, supervisor):
    from tests.api.conftest import api_client_for

    api = api_client_for(ranked)
    rows = api.get("/api/v1/caseload/", {"sort": "risk", "page_size": 50}).json()["results"]
    assert [row["code"] for row in rows] == ORDER
    assert rows[0]["risk"] == {
        "tier": 0,
        "label": "Unrepaired rupture",
        "reasons": ["Unrepaired drop at session 4"],
    }
    default = api.get("/api/v1/caseload/", {"page_size": 50}).json()["results"]
    assert default[0]["risk"]["tier"] in range(6)  # every row carries its risk

    attention = api_client_for(supervisor).get("/api/v1/supervision/").json()["attention"]
    assert [row["code"] for row in attention] == ORDER[:8]  # tiers 0-4, as on the dashboard


# --- a supervisor's pages read their own team's rows only ------------------------------------


def rows_returned_by(client, url, params=None) -> list[int]:
    """The number of rows each SELECT of one request returns, in order: each statement as
    it was sent, counted again in the database."""
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url, params or {}).status_code == 200
    selects = [q["sql"] for q in ctx.captured_queries if q["sql"].lstrip().startswith("SELECT")]
    with connection.cursor() as cursor:
        counts = []
        for sql in selects:
            cursor.execute(f"SELECT count(*) FROM ({sql}) AS returned")
            counts.append(cursor.fetchone()[0])
    return counts


@pytest.mark.parametrize("params", [{}, {"queue": "all"}])
def test_a_supervisors_dashboard_reads_no_rows_of_other_teams(
    client, clinic, supervisor, therapist, instruments, params
):
    """Another team of the same clinic grows fourfold, with sessions, ratings, flags and
    episodes: every statement of the dashboard returns what it returned before. (That it
    also reads only its scope is shown by the plans at L in docs/deployment.md.)"""
    elsewhere = TherapistFactory(clinic=clinic)
    SupervisionFactory(supervisor=SupervisorFactory(clinic=clinic), therapist=elsewhere)
    grow(therapist, instruments, 2, "OWN")
    grow(elsewhere, instruments, 2, "OTHER")
    client.force_login(supervisor)
    client.get(reverse("supervision"), params)  # warm the instrument-definition cache
    before = rows_returned_by(client, reverse("supervision"), params)
    grow(elsewhere, instruments, 6, "MORE")
    assert rows_returned_by(client, reverse("supervision"), params) == before
    grow(therapist, instruments, 1, "OWN-MORE")
    assert rows_returned_by(client, reverse("supervision"), params) != before  # it can see
