"""Display filters and tags for the dashboards."""

from html import escape  # what django.utils.html.escape does, without its lazy-string wrapper

from django import template
from django.urls import reverse
from django.utils import formats
from django.utils.safestring import SafeData, SafeString, mark_safe
from django.utils.timezone import template_localtime
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from alliance.dashboards import RiskTier
from alliance.models import Client
from alliance.templatetags.alliance_tags import DASH, escaped_words, score, signed

register = template.Library()


@register.filter
def wait(hours) -> str:
    """A waiting time given in hours: "40 min", "5 h" or "2.5 days"."""
    if hours is None:
        return DASH
    hours = float(hours)
    if hours < 1:
        return _("%(minutes)d min") % {"minutes": round(hours * 60)}
    if hours < 48:
        return _("%(hours)s h") % {"hours": f"{hours:.0f}" if hours >= 10 else f"{hours:.1f}"}
    return _("%(days)s days") % {"days": f"{hours / 24:.1f}"}


# --- the risk queue and the caseload table ----------------------------------------------
# Built in Python, not in a template: a supervisor's queue shows a hundred clients and a
# list of every client a thousand, and the template's ~40 variable lookups a row cost the
# supervision dashboard ~60 ms of CPU at scale M where this costs a few (the same markup;
# every value escaped).


@escaped_words
def _labels() -> dict[str, str]:
    """The queue's and the caseload's column labels."""
    return {
        "client": _("Client"),
        "therapist": _("Therapist"),
        "why": _("Why"),
        "trend": _("Trend"),
        "discharged": _("Discharged"),
        "client_alliance": _("Client alliance"),
        "change": _("Change"),
        "client_change": _("Change (client)"),
        "therapist_alliance": _("Therapist alliance"),
        "therapist_change": _("Change (therapist)"),
        "open_episodes": _("Open flags"),
        "since_form": _("Sessions since client form"),
        "last": _("Last session"),
        "next": _("Next session"),
    }


@register.simple_tag
def risk_reason(risk) -> SafeString:
    """A client's risk tier and why (``dashboards.Risk``): the first reason links to the
    episode behind it, the others follow."""
    html = (
        f'<span class="risk-tier risk-{risk.css}"><span class="risk-mark" aria-hidden="true">'
        f"</span>{escape(risk.label)}</span>"
    )
    if risk.reasons:
        reason = escape(risk.reason)
        if risk.episode_id:
            url = reverse("episode_detail", args=[risk.episode_id])
            reason = f'<a href="{url}">{reason}</a>'
        html += f'\n<span class="risk-reason">{reason}</span>'
        if len(risk.reasons) > 1:
            rest = escape("; ".join(risk.reasons[1:]))
            html += f'\n<span class="risk-more muted small">{rest}</span>'
    return mark_safe(html)


def _change_class(change) -> str:
    if change is None:
        return ""
    return " down" if change < 0 else " up" if change > 0 else ""


def _discharged(client, words) -> str:
    if client.status == Client.Status.DISCHARGED:
        return f' <span class="badge">{words["discharged"]}</span>'
    return ""


def _therapist_cell(client, words) -> str:
    return (
        f'<td class="nowrap" data-label="{words["therapist"]}">'
        f"{escape(str(client.primary_therapist))}</td>"
    )


def _alliance_cells(client, words, *, change_label: str) -> str:
    """Why, trend, the client's alliance and its change, the therapist's alliance."""
    return (
        f'<td class="why" data-label="{words["why"]}">{risk_reason(client.risk)}</td>'
        f'<td class="trend" data-label="{words["trend"]}">{client.sparkline() or DASH}</td>'
        f'<td class="num" data-label="{words["client_alliance"]}">'
        f"{score(client.latest_client_total)}</td>"
        f'<td class="num change{_change_class(client.client_change)}" '
        f'data-label="{words[change_label]}">{signed(client.client_change)}</td>'
        f'<td class="num" data-label="{words["therapist_alliance"]}">'
        f"{score(client.latest_therapist_total)}</td>"
    )


def _open_episodes(client) -> str:
    flags = client.open_episodes
    return f'<span class="badge flag">{flags}</span>' if flags else "0"


def _date(value, format: str) -> str:
    """As the template filter ``date``: in the current timezone, else a dash."""
    return formats.date_format(template_localtime(value), format) if value else DASH


@register.simple_tag
def risk_rows(clients, show_therapist: bool) -> SafeString:
    """The rows of a risk queue (``dashboards.risk_queue`` or ``caseload_rows`` clients),
    ranked as given; ``show_therapist`` adds the primary therapist's column."""
    words = _labels(get_language())
    rows = []
    for rank, client in enumerate(clients, start=1):
        therapist = _therapist_cell(client, words) if show_therapist else ""
        since = client.sessions_since_client_form
        warn = " warn" if client.risk.tier == RiskTier.MISSING_FORMS else ""
        rows.append(
            f'<tr class="risk-{client.risk.css}">'
            f'<td class="num rank" data-label="#">{rank}</td>'
            f'<th scope="row" data-label="{words["client"]}"><a href="'
            f'{client.get_absolute_url()}">{escape(client.code)}</a>'
            f"{_discharged(client, words)}</th>"
            f"{therapist}"
            f"{_alliance_cells(client, words, change_label='change')}"
            f'<td class="num" data-label="{words["open_episodes"]}">{_open_episodes(client)}</td>'
            f'<td class="num{warn}" data-label="{words["since_form"]}">{since}</td>'
            "</tr>"
        )
    return mark_safe("\n".join(rows))


@register.simple_tag
def caseload_table_rows(clients, show_therapist: bool, missing_forms_after: int) -> SafeString:
    """The rows of a caseload table (``dashboards.caseload_rows`` clients), in the order
    given; ``show_therapist`` adds the primary therapist's column (every client's list).
    Sessions since the last client form are marked from the clinic's missing_forms setting
    (``dashboards.missing_forms_after``), as the risk ranking counts them."""
    words = _labels(get_language())
    rows = []
    for client in clients:
        name = ""
        if client.display_name:
            name = f' <span class="muted">({escape(client.display_name)})</span>'
        therapist = ""
        if show_therapist:
            therapist = (
                f'<td data-label="{words["therapist"]}">'
                f"{escape(str(client.primary_therapist))}</td>"
            )
        since = client.sessions_since_client_form
        warn = " warn" if since >= missing_forms_after else ""
        rows.append(
            "<tr>"
            f'<th scope="row" data-label="{words["client"]}"><a href="'
            f'{client.get_absolute_url()}">{escape(client.code)}</a>{name}'
            f"{_discharged(client, words)}</th>"
            f"{therapist}"
            f"{_alliance_cells(client, words, change_label='client_change')}"
            f'<td class="num change{_change_class(client.therapist_change)}" '
            f'data-label="{words["therapist_change"]}">{signed(client.therapist_change)}</td>'
            f'<td class="num" data-label="{words["open_episodes"]}">{_open_episodes(client)}</td>'
            f'<td class="num{warn}" data-label="{words["since_form"]}">{since}</td>'
            f'<td class="num" data-label="{words["last"]}">'
            f"{_date(client.last_session_at, 'j M Y')}</td>"
            f'<td class="num" data-label="{words["next"]}">'
            f"{_date(client.next_session_at, 'D j M, H:i')}</td>"
            "</tr>"
        )
    return mark_safe("\n".join(rows))


# --- a chart's table ----------------------------------------------------------------------


def _chart_cell(value) -> str:
    """As the template writes ``{{ value }}``: localized, escaped unless marked safe."""
    if isinstance(value, SafeData):
        return str(value)
    return escape(value if isinstance(value, str) else str(formats.localize(value)))


@register.simple_tag
def chart_table_rows(rows) -> SafeString:
    """The body of a chart's table (``dashboards.Chart.table_rows``), each row's first cell
    its heading. Built in Python: a supervision packet's hundred charts have three thousand
    rows, which the template's loops took ~75 ms to write at scale M."""
    lines = []
    for head, *cells in rows:
        lines.append(
            f'<tr><th scope="row">{_chart_cell(head)}</th>'
            + "".join(f"<td>{_chart_cell(cell)}</td>" for cell in cells)
            + "</tr>"
        )
    return mark_safe("\n".join(lines))
