"""A chart's table body (includes/chart.html) writes each value localized and escaped unless
marked safe, the first cell a row heading: what the template's loop wrote before the rows
were built by a tag, and what that tag wrote."""

import re
from types import SimpleNamespace

import pytest
from django.template import Context, Template
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy

# The loop includes/chart.html used before the tag.
LOOP = Template(
    "{% for row in rows %}<tr>{% for cell in row %}{% if forloop.first %}"
    '<th scope="row">{{ cell }}</th>{% else %}<td>{{ cell }}</td>{% endif %}{% endfor %}</tr>'
    "{% endfor %}"
)
ROWS = [
    ["Tue 3 Mar 2026", 12, 3.5, None, "<b>R&D</b>", mark_safe("<i>safe</i>")],
    [7, "—", 1234.25, gettext_lazy("Client"), 'say "hi"', ""],
]


def table_body(rows) -> str:
    chart = SimpleNamespace(
        id="chart-x", css="", title="T", summary="S", json="{}", table_head=["a"], table_rows=rows
    )
    html = render_to_string("includes/chart.html", {"chart": chart})
    body = re.search(r"<tbody>(.*)</tbody>", html, flags=re.S).group(1)
    return re.sub(r">\s+<", "><", body.strip())


@pytest.mark.parametrize("language", ["en", "es"])
def test_the_template_writes_what_the_loop_wrote(language):
    with translation.override(language):
        assert table_body(ROWS) == LOOP.render(Context({"rows": ROWS}))


def test_values_are_escaped_and_localized():
    with translation.override("es"):
        html = table_body(ROWS)
    assert '<th scope="row">Tue 3 Mar 2026</th><td>12</td><td>3,5</td>' in html
    assert "<td>&lt;b&gt;R&amp;D&lt;/b&gt;</td><td><i>safe</i></td>" in html
    assert "<td>Paciente</td><td>say &quot;hi&quot;</td>" in html
