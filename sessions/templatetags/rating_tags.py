"""A rating's scale scores and item answers as HTML.

Built in Python, not in a template: the client page shows every session's ratings (a hundred
ratings and six hundred answers for a long course), and a template loop cost it ~10 ms of CPU
per page where this costs ~1 ms. The client page and the session page both use it.
"""

from html import escape  # what django.utils.html.escape does, without its lazy-string wrapper

from django import template
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _

from alliance.templatetags.alliance_tags import escaped_words, score

register = template.Library()


@escaped_words
def _words() -> dict[str, str]:
    """The answers block's fixed words (one set per language, not per rating)."""
    return {
        "not_answered": _("not answered"),
        "tension": _("Tension or misunderstanding today"),
        "yes": _("yes"),
        "no": _("no"),
        "addressed": _("how well addressed"),
    }


@register.simple_tag
def rating_answers(view) -> SafeString:
    """Scores, answers, the tension answer, the comment and the corrections of ``view``
    (a sessions.selectors.RatingView), every value escaped."""
    parts = ['<dl class="scores">']
    parts += [
        f"<div><dt>{escape(scale['name'])}</dt><dd>{score(scale['score'])}</dd></div>"
        for scale in view.scores
    ]
    parts.append('</dl>\n<ol class="answers">')
    words = _words(get_language())
    for answer in view.answers:
        if answer["value"]:
            shown = f"<strong>{escape(answer['value'])}</strong>"
            if answer["label"]:
                shown += f" {escape(answer['label'])}"
        else:
            shown = f'<span class="muted">{words["not_answered"]}</span>'
        parts.append(
            f'<li><span class="item-text">{escape(answer["text"])}</span> '
            f'<span class="answer">{shown}</span></li>'
        )
    parts.append("</ol>")
    rating = view.rating
    if rating.tension is not None:
        line = (
            f"<p>{words['tension']}: "
            f"<strong>{words['yes'] if rating.tension else words['no']}</strong>"
        )
        if view.tension_addressed:
            line += f" · {words['addressed']}: <strong>{escape(view.tension_addressed)}</strong>"
        parts.append(line + "</p>")
    if rating.comment:
        parts.append(f'<blockquote class="comment">{escape(rating.comment)}</blockquote>')
    if rating.revision > 1:
        corrections = rating.revision - 1
        text = ngettext(
            "Corrected once by the therapist.",
            "Corrected %(counter)s times by the therapist.",
            corrections,
        ) % {"counter": corrections}
        parts.append(f'<p class="muted small">{escape(text)}</p>')
    return mark_safe("\n".join(parts))
