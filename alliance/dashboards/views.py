"""Dashboard pages: the supervisor's dashboard, supervision packets and the clinic overview.

Included at the root by alliance/urls.py. The numbers come from alliance.dashboards (scoped,
aggregate queries); each figure is serialised once and drawn by static/js/alliance/charts.js.
"""

from collections import defaultdict
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from alliance import charts, dashboards
from alliance.clients import selectors as client_selectors
from alliance.dashboards.forms import PeriodForm, SupervisionFilterForm
from alliance.interop import exports
from alliance.models import Episode, User
from alliance.pagination import DEFAULT_PAGE_SIZE, page_size
from alliance.people import selectors as people_selectors

# The clients to look at fit on one page of this many (as before pages); the full queue has
# pages of 25 (alliance.pagination). ``?page_size=`` changes either, up to 250.
QUEUE_LIMIT = 100
SUPERVISION_WEEKS = 12
# A4 and US Letter both fit a 680 px wide chart inside 15 mm margins.
PRINT_WIDTH = 680
PRINT_HEIGHT = 400


def _ignored(request: HttpRequest, form) -> None:
    for text in form.ignored():
        messages.warning(request, text)


@login_required
def supervision(request: HttpRequest) -> HttpResponse:
    """Every supervisee's clients ranked by risk, per-therapist figures and a weekly chart."""
    user = request.user
    if not user.is_supervisor:
        return redirect("home")
    supervisees = list(people_selectors.supervisees_of(user))
    today = dashboards.today_in(user.clinic)
    form = SupervisionFilterForm(
        request.GET,
        therapists=supervisees,
        today=today,
        default=dashboards.Period.weeks_to(today, SUPERVISION_WEEKS, user.clinic.tzinfo),
    )
    period = form.period()
    therapists = form.chosen_therapists()
    _ignored(request, form)
    show_all = request.GET.get("queue") == "all"

    queue = dashboards.risk_queue(
        user,
        therapists,
        every_client=show_all,
        limit=page_size(request, default=DEFAULT_PAGE_SIZE if show_all else QUEUE_LIMIT),
        page=request.GET.get("page"),
    )
    figures = dashboards.therapist_figures(user, therapists, period=period, queue=queue)
    chart = None
    if therapists:
        chart = dashboards.supervision_chart(
            dashboards.weekly_client_totals(figures, period=period),
            scale_range=queue.scale_range,
            chart_id="chart-therapists",
        )
    return render(
        request,
        "alliance/dashboards/supervision.html",
        {
            "form": form,
            "period": period,
            "supervisees": supervisees,
            "therapists": therapists,
            "filtered": len(therapists) != len(supervisees),
            "figures": figures,
            # The shared per-therapist summaries (as the API's), for the page's tests.
            "summaries": [f.summary for f in figures],
            "queue": queue.rows,
            "queue_total": queue.total,
            "queue_page": queue.page,
            "attention_count": queue.attention,
            "client_count": queue.clients,
            "show_all": show_all,
            "chart": chart,
            "charts_on_page": chart is not None,
        },
    )


def _packet_period(request: HttpRequest, clinic) -> tuple[PeriodForm, dashboards.Period]:
    today = dashboards.today_in(clinic)
    form = PeriodForm(
        request.GET,
        today=today,
        default=dashboards.Period.weeks_to(today, SUPERVISION_WEEKS, clinic.tzinfo),
    )
    return form, form.period()


def _packet_therapist(request: HttpRequest, therapist_id: int) -> User:
    """Yourself (a therapist), a supervisee, or anyone in the clinic for a clinic admin."""
    user = request.user
    if therapist_id == user.pk and user.is_therapist:
        return user
    return people_selectors.supervisee_get(user, therapist_id)


@dataclass
class PacketPage:
    row: dashboards.CaseloadRow
    chart: dashboards.Chart
    episodes: list[dict]  # not yet resolved, the latest first; each with its flags
    subscale_flags: int = 0  # on bond, goal or task: counted, listed on the client's page


def _packet_pages(packet: dashboards.Packet) -> list[PacketPage]:
    """One page per client: the chart sized for paper and the episodes not yet resolved,
    one item each, with their flags on the totals and the signals as evidence."""
    repair = dict(Episode.RepairStatus.choices)
    lifecycle = dict(Episode.Status.choices)
    text = dashboards.chart_text()
    pages = []
    for caseload_row in packet.rows:
        client = caseload_row.client
        series = packet.series[client.pk]
        by_episode: dict[int, list[dict]] = defaultdict(list)
        for row in charts.frame_records(series.flags):
            if row["status"] != Episode.Status.RESOLVED:
                by_episode[int(row["episode"])].append(row)
        episodes, subscale_flags = [], 0
        for flags in by_episode.values():
            shown = sorted(
                (row for row in flags if row["scale"] not in dashboards.SUBSCALES),
                key=lambda row: (int(row["session"]), row["rater"], row["rule"]),
            )
            subscale_flags += len(flags) - len(shown)
            first = min(flags, key=lambda row: int(row["session"]))
            episodes.append(
                {
                    "session": int(first["session"]),
                    "label": ", ".join(dict.fromkeys(str(row["label"]) for row in flags)),
                    "repair_status": first["episode_repair_status"],
                    "repair": repair.get(first["episode_repair_status"], ""),
                    "status_label": lifecycle.get(first["status"], first["status"]),
                    "flags": [
                        {
                            "label": text.series(row["rater"], row["scale"]),
                            "explanation": row["explanation"],
                        }
                        for row in shown
                    ],
                }
            )
        episodes.sort(key=lambda episode: -episode["session"])
        pages.append(
            PacketPage(
                row=caseload_row,
                chart=dashboards.client_chart(
                    series,
                    scale_range=packet.scale_range,
                    chart_id=f"chart-client-{client.pk}",
                    width=PRINT_WIDTH,
                    height=PRINT_HEIGHT,
                ),
                episodes=episodes,
                subscale_flags=subscale_flags,
            )
        )
    return pages


def _packet_page(request, packet, form, *, title: str, downloads: dict) -> HttpResponse:
    _ignored(request, form)
    pages = _packet_pages(packet)
    return render(
        request,
        "alliance/dashboards/packet.html",
        {
            "title": title,
            "packet": packet,
            "pages": pages,
            "form": form,
            "downloads": downloads,
            "printed_at": timezone.localtime(timezone.now(), packet.period.tz),
            "attention_only": request.GET.get("clients") == "attention",
            "charts_on_page": bool(pages),
        },
    )


def _therapist_packet(request: HttpRequest, therapist_id: int):
    therapist = _packet_therapist(request, therapist_id)
    form, period = _packet_period(request, request.user.clinic)
    packet = dashboards.packet_for_therapist(
        request.user,
        therapist,
        period=period,
        attention_only=request.GET.get("clients") == "attention",
    )
    return therapist, form, packet


def _client_packet(request: HttpRequest, client_id: int):
    client = client_selectors.client_get(request.user, client_id)
    form, period = _packet_period(request, client.clinic)
    return client, form, dashboards.packet_for_client(request.user, client, period=period)


def _downloads(prefix: str, pk: int) -> dict:
    """URL names and argument of a packet's downloads, for the page's links."""
    return {kind: (f"{prefix}_{kind}", pk) for kind in ("xlsx", "clients_csv", "sessions_csv")}


@login_required
def therapist_packet(request: HttpRequest, therapist_id: int) -> HttpResponse:
    """A printable supervision packet for one therapist's caseload."""
    therapist, form, packet = _therapist_packet(request, therapist_id)
    title = _("Supervision packet: %(name)s") % {"name": therapist}
    downloads = _downloads("therapist_packet", therapist.pk)
    return _packet_page(request, packet, form, title=title, downloads=downloads)


@login_required
def client_packet(request: HttpRequest, client_id: int) -> HttpResponse:
    """A printable packet for one client."""
    client, form, packet = _client_packet(request, client_id)
    title = _("Supervision packet: client %(code)s") % {"code": client.code}
    downloads = _downloads("client_packet", client.pk)
    return _packet_page(request, packet, form, title=title, downloads=downloads)


def _packet_download(packet: dashboards.Packet, slug: str, table: str | None) -> HttpResponse:
    """Excel with every table (table None), or one table as CSV (the writers of
    alliance.interop.exports)."""
    frames = dashboards.packet_frames(packet)
    stamp = timezone.localdate().isoformat()
    if table is None:
        return exports.attachment(
            exports.to_xlsx(frames), exports.XLSX_TYPE, f"alliance-packet-{slug}-{stamp}.xlsx"
        )
    return exports.attachment(
        exports.to_csv(frames[table.title()]),
        "text/csv; charset=utf-8",
        f"alliance-packet-{slug}-{table}-{stamp}.csv",
    )


@login_required
def therapist_packet_download(
    request: HttpRequest, therapist_id: int, table: str | None = None
) -> HttpResponse:
    therapist, _form, packet = _therapist_packet(request, therapist_id)
    return _packet_download(packet, slugify(therapist.username), table)


@login_required
def client_packet_download(
    request: HttpRequest, client_id: int, table: str | None = None
) -> HttpResponse:
    client, _form, packet = _client_packet(request, client_id)
    return _packet_download(packet, f"client-{slugify(client.code)}", table)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def clinic_overview(request: HttpRequest) -> HttpResponse:
    """The clinic admin's overview: distribution, completion, flags per rule, monthly trends,
    shown from a snapshot at most minutes old (``dashboards.clinic_overview_kept``), else
    computed and kept; a POST recomputes it ("Refresh now") and comes back to the same
    period."""
    admin = request.user
    if not (admin.is_clinic_admin and admin.clinic_id):
        raise Http404("The clinic overview is for clinic admins.")
    form = PeriodForm(
        request.GET,
        today=dashboards.today_in(admin.clinic),
        default=dashboards.overview_default_period(admin.clinic),
    )
    period = form.period()
    if request.method == "POST":
        dashboards.clinic_overview_refresh(admin=admin, period=period)
        return redirect(request.get_full_path())
    _ignored(request, form)
    overview = dashboards.clinic_overview_kept(
        admin, period=period
    ) or dashboards.clinic_overview_refresh(admin=admin, period=period)
    scale_range = dashboards.scale_range_for(admin.clinic)
    text = dashboards.chart_text()
    figures = {
        "histogram": charts.histogram_figure(
            overview.latest_totals, scale_range=scale_range, text=text
        ),
        "flags": charts.flags_per_rule_figure(overview.flags_per_rule, text=text),
        "monthly": charts.monthly_trend_figure(
            overview.monthly, scale_range=scale_range, text=text
        ),
    }
    return render(
        request,
        "alliance/dashboards/clinic_overview.html",
        {
            "form": form,
            "period": period,
            "overview": overview,
            "charts": {name: dashboards.figure_json(fig) for name, fig in figures.items()},
            "histogram_rows": dashboards.histogram_rows(overview.latest_totals, scale_range),
            "monthly_rows": dashboards.monthly_rows(overview.monthly),
            "charts_on_page": True,
        },
    )


urlpatterns = [
    path("supervision/", supervision, name="supervision"),
    path(
        "supervision/therapists/<int:therapist_id>/packet/",
        therapist_packet,
        name="therapist_packet",
    ),
    path(
        "supervision/therapists/<int:therapist_id>/packet.xlsx",
        therapist_packet_download,
        name="therapist_packet_xlsx",
    ),
    path(
        "supervision/therapists/<int:therapist_id>/packet-clients.csv",
        therapist_packet_download,
        {"table": "clients"},
        name="therapist_packet_clients_csv",
    ),
    path(
        "supervision/therapists/<int:therapist_id>/packet-sessions.csv",
        therapist_packet_download,
        {"table": "sessions"},
        name="therapist_packet_sessions_csv",
    ),
    path("clients/<int:client_id>/packet/", client_packet, name="client_packet"),
    path("clients/<int:client_id>/packet.xlsx", client_packet_download, name="client_packet_xlsx"),
    path(
        "clients/<int:client_id>/packet-clients.csv",
        client_packet_download,
        {"table": "clients"},
        name="client_packet_clients_csv",
    ),
    path(
        "clients/<int:client_id>/packet-sessions.csv",
        client_packet_download,
        {"table": "sessions"},
        name="client_packet_sessions_csv",
    ),
    path("clinic/overview/", clinic_overview, name="clinic_overview"),
]
