"""Display filters and tags for the dashboards."""

from django import template
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from alliance.templatetags.alliance_tags import DASH

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


@register.simple_tag
def risk_reason(risk) -> SafeString:
    """A client's risk tier and why (``dashboards.Risk``): the first reason links to the
    episode behind it, the others follow."""
    tier = format_html(
        '<span class="risk-tier risk-{}"><span class="risk-mark" aria-hidden="true"></span>'
        "{}</span>",
        risk.css,
        risk.label,
    )
    if not risk.reasons:
        return tier
    reason = risk.reason
    if risk.episode_id:
        url = reverse("episode_detail", args=[risk.episode_id])
        reason = format_html('<a href="{}">{}</a>', url, reason)
    more = ""
    if len(risk.reasons) > 1:
        more = format_html(
            '\n<span class="risk-more muted small">{}</span>', "; ".join(risk.reasons[1:])
        )
    return format_html('{}\n<span class="risk-reason">{}</span>{}', tier, reason, more)
