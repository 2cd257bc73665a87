"""Small display filters for alliance scores, and the fixed words of the tags that write
tables in Python."""

from collections.abc import Callable
from functools import lru_cache
from html import escape  # what django.utils.html.escape does, without its lazy-string wrapper

from django import template
from django.utils import translation

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


def escaped_words(texts: Callable[[], dict[str, str]]) -> Callable[[str], dict[str, str]]:
    """Decorate a function giving a tag's fixed words ({key: translated text}) so that it
    takes a language and gives them translated in it and escaped, once per language: the
    tags that write a table in Python ask for their words once a page, not once a row."""

    @lru_cache(maxsize=16)
    def words(language: str) -> dict[str, str]:
        with translation.override(language):
            return {key: escape(str(text)) for key, text in texts().items()}

    return words
