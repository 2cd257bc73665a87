"""The client page's session rows as HTML.

Built in Python, not in a template: a long course has fifty sessions or more, each row ~25
template lookups and two ``blocktranslate``, ~10 ms at scale M where the tag takes ~2 (the
same markup; every value escaped). Each rated session's answers come from ``rating_answers``.
"""

from html import escape  # what django.utils.html.escape does, without its lazy-string wrapper
from urllib.parse import quote

from django import template
from django.urls import reverse
from django.utils import formats
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import template_localtime
from django.utils.translation import get_language, pgettext
from django.utils.translation import gettext as _

from alliance.templatetags.alliance_tags import escaped_words, score
from sessions.templatetags.rating_tags import rating_answers

register = template.Library()


@escaped_words
def _row_words() -> dict[str, str]:
    """The session rows' fixed words."""
    return {
        "date": _("Date"),
        "status": _("Status"),
        "therapist": _("Therapist"),
        "client_alliance": _("Client alliance"),
        "therapist_alliance": _("Therapist alliance"),
        "rate": _("Rate"),
        "answers": _("Answers"),
        "open": pgettext("link to a session", "Open"),
        "no_client_form": _("No client form."),
        "no_therapist_rating": _("No therapist rating."),
    }


def _total(view) -> str:
    return score(view.total if view else None)


def _rating_cell(view, heading: str, missing: str) -> str:
    body = rating_answers(view) if view else f'<p class="muted">{missing}</p>'
    return f"<div>\n<h3>{escape(heading)}</h3>\n{body}\n</div>"


@register.simple_tag
def client_session_rows(rows, next_path: str) -> SafeString:
    """The client page's session table body, newest session first: for each session
    (``sessions.selectors.SessionRow``) a row with its totals and actions, then, if it has
    a rating, a row with both raters' answers. ``next_path`` is where rating brings the
    therapist back to."""
    words = _row_words(get_language())
    back = "?next=" + quote(next_path, safe="/")
    parts = []
    for row in reversed(rows):
        session = row.session
        url = session.get_absolute_url()
        rated = row.client_rating or row.therapist_rating
        actions = []
        if row.may_rate:
            rate_url = reverse("rating_new", args=[session.pk]) + back
            actions.append(
                f'<a class="button small primary" href="{escape(rate_url)}">{words["rate"]}</a>'
            )
        if rated:
            actions.append(
                f'<button type="button" class="button small" data-answers-toggle '
                f'aria-controls="answers-{session.pk}" aria-expanded="true">'
                f"{words['answers']}</button>"
            )
        actions.append(f'<a class="button small" href="{url}">{words["open"]}</a>')
        starts_at = formats.date_format(template_localtime(session.starts_at), "j M Y, H:i")
        parts.append(
            "<tr>"
            f'<th scope="row" class="num" data-label="#"><a href="{url}">{session.number}</a></th>'
            f'<td class="nowrap" data-label="{words["date"]}">{escape(starts_at)}</td>'
            f'<td data-label="{words["status"]}"><span class="status status-'
            f'{escape(session.status)}">{escape(str(session.get_status_display()))}</span></td>'
            f'<td data-label="{words["therapist"]}">{escape(str(session.therapist))}</td>'
            f'<td class="num" data-label="{words["client_alliance"]}">'
            f"{_total(row.client_rating)}</td>"
            f'<td class="num" data-label="{words["therapist_alliance"]}">'
            f"{_total(row.therapist_rating)}</td>"
            f'<td class="row-actions">{" ".join(actions)}</td>'
            "</tr>"
        )
        if rated:
            number = {"number": session.number}
            client = _rating_cell(
                row.client_rating, _("Client, session %(number)s") % number, words["no_client_form"]
            )
            therapist = _rating_cell(
                row.therapist_rating,
                _("Therapist, session %(number)s") % number,
                words["no_therapist_rating"],
            )
            parts.append(
                f'<tr class="answers-row" id="answers-{session.pk}"><td colspan="7">'
                f'<div class="rating-pair">{client}{therapist}</div></td></tr>'
            )
    return mark_safe("\n".join(parts))
