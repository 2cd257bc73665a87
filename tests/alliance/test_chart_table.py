"""A chart's table body (dashboard_tags.chart_table_rows) writes what the template's loop
wrote: each value localized and escaped unless marked safe, the first cell a row heading."""

import pytest
from django.template import Context, Template
from django.utils import translation
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy

from alliance.templatetags.dashboard_tags import chart_table_rows

# The loop includes/chart.html used before the tag.
LOOP = Template(
    "{% for row in rows %}<tr>{% for cell in row %}{% if forloop.first %}"
    '<th scope="row">{{ cell }}</th>{% else %}<td>{{ cell }}</td>{% endif %}{% endfor %}</tr>'
    "{% if not forloop.last %}\n{% endif %}{% endfor %}"
)
ROWS = [
    ["Tue 3 Mar 2026", 12, 3.5, None, "<b>R&D</b>", mark_safe("<i>safe</i>")],
    [7, "—", 1234.25, gettext_lazy("Client"), 'say "hi"', ""],
]


@pytest.mark.parametrize("language", ["en", "es"])
def test_the_tag_writes_what_the_templates_loop_wrote(language):
    with translation.override(language):
        assert chart_table_rows(ROWS) == LOOP.render(Context({"rows": ROWS}))


def test_values_are_escaped_and_localized():
    with translation.override("es"):
        html = chart_table_rows(ROWS)
    assert '<th scope="row">Tue 3 Mar 2026</th><td>12</td><td>3,5</td>' in html
    assert "<td>&lt;b&gt;R&amp;D&lt;/b&gt;</td><td><i>safe</i></td>" in html
    assert "<td>Paciente</td><td>say &quot;hi&quot;</td>" in html
