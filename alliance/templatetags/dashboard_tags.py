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


# The tier's mark and label, then the first reason and the others (format_html strings).
_TIER = (
    '<span class="risk-tier risk-{}"><span class="risk-mark" aria-hidden="true"></span>{}</span>'
)
_REASON = '\n<span class="risk-reason">{}</span>'
_MORE = '\n<span class="risk-more muted small">{}</span>'


@register.simple_tag
def risk_reason(risk) -> SafeString:
    """A client's risk tier and why (``dashboards.Risk``): the first reason links to the
    episode behind it, the others follow."""
    if not risk.reasons:
        return format_html(_TIER, risk.css, risk.label)
    reason = risk.reason
    if risk.episode_id:
        url = reverse("episode_detail", args=[risk.episode_id])
        reason = format_html('<a href="{}">{}</a>', url, reason)
    if len(risk.reasons) > 1:
        more = "; ".join(risk.reasons[1:])
        return format_html(_TIER + _REASON + _MORE, risk.css, risk.label, reason, more)
    return format_html(_TIER + _REASON, risk.css, risk.label, reason)
