"""Small display filters for alliance scores."""

from django import template

register = template.Library()

DASH = "\N{EM DASH}"
MINUS = "\N{MINUS SIGN}"  # a true minus: as wide as the plus, easy to read in a column


@register.filter
def score(value) -> str:
    """A scale score with two decimals, or a dash when there is none."""
    if value is None or value == "":
        return DASH
    return f"{float(value):.2f}"


@register.filter
def signed(value) -> str:
    """A change with its sign (+0.50, or a true minus for a drop), or a dash."""
    if value is None or value == "":
        return DASH
    value = round(float(value), 2)
    if value == 0:
        return "0.00"
    return f"+{value:.2f}" if value > 0 else f"{MINUS}{abs(value):.2f}"


@register.filter
def percent(value) -> str:
    if value is None:
        return DASH
    return f"{round(value * 100)}%"
