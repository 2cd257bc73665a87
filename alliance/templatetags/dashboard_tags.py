"""Display filters for the dashboards."""

from django import template
from django.utils.translation import gettext as _

register = template.Library()

DASH = "\N{EM DASH}"


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
