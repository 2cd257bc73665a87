"""The Spanish catalogue: complete, and every translation keeps its msgid's placeholders.

A msgstr that renames, drops or retypes a placeholder either raises at runtime (KeyError,
TypeError in `%` formatting) or silently shows the wrong value, so the catalogue is checked
entry by entry, and the checker itself is tested on known-bad pairs.
"""

import gettext
import re
from collections import Counter
from pathlib import Path

import polib
import pytest
from django.conf import settings

CATALOGUES = sorted(
    path
    for locale_dir in settings.LOCALE_PATHS
    for path in Path(locale_dir).glob("*/LC_MESSAGES/*.po")
)
SPANISH = Path(settings.BASE_DIR) / "locale" / "es" / "LC_MESSAGES" / "django.po"

# printf-style: %(name)s, %s, %d, %.1f ... A space flag is left out on purpose, so the
# literal "25% of" is not read as the conversion "% o".
PERCENT = re.compile(
    r"%(?:\((?P<name>\w+)\))?[#0+-]*(?:\d+|\*)?(?:\.\d+)?(?P<type>[diouxXeEfFgGcrsa])"
)
BRACE = re.compile(r"\{(?:[A-Za-z_]\w*|\d*)(?:![rsa])?(?::[^{}]*)?\}")
TAG = re.compile(r"<(/?)([A-Za-z][\w-]*)[^>]*>")


def _placeholders(text: str) -> dict[str, Counter | list]:
    text = text.replace("%%", "").replace("{{", "").replace("}}", "")
    named: Counter = Counter()
    positional: list[str] = []
    for match in PERCENT.finditer(text):
        if match["name"]:
            named[(match["name"], match["type"])] += 1
        else:
            positional.append(match["type"])
    return {
        # A named placeholder may move or repeat, but must keep its name and type.
        "named": set(named),
        # Positional ones are filled in order: order and types must match.
        "positional": positional,
        "brace": set(BRACE.findall(text)),
        "tags": Counter((closing, name.lower()) for closing, name in TAG.findall(text)),
    }


def _edges(text: str) -> tuple[str, str]:
    """The leading and trailing whitespace (spaces, newlines) a translation must keep."""
    return text[: len(text) - len(text.lstrip())], text[len(text.rstrip()) :]


def mismatches(source: str, translation: str) -> list[str]:
    """What `translation` fails to keep of `source`; empty when it keeps everything."""
    problems = []
    want, got = _placeholders(source), _placeholders(translation)
    for kind in want:
        if want[kind] != got[kind]:
            problems.append(
                f"{kind}: msgid has {sorted(want[kind])}, msgstr has {sorted(got[kind])}"
            )
    if _edges(source) != _edges(translation):
        problems.append(
            f"leading/trailing whitespace: {_edges(source)!r} != {_edges(translation)!r}"
        )
    return problems


def entry_mismatches(entry: polib.POEntry) -> list[str]:
    if entry.msgid_plural:
        # Index 0 is the singular form (n == 1 in Spanish), the others the plural.
        pairs = [
            (entry.msgid if index == 0 else entry.msgid_plural, text)
            for index, text in sorted(entry.msgstr_plural.items())
        ]
    else:
        pairs = [(entry.msgid, entry.msgstr)]
    return [
        f"{entry.msgid!r}: {problem}"
        for source, translation in pairs
        if translation
        for problem in mismatches(source, translation)
    ]


@pytest.mark.parametrize("po_path", CATALOGUES, ids=lambda p: str(p.parent.parent.name))
def test_every_translation_keeps_the_placeholders_of_its_msgid(po_path):
    catalogue = polib.pofile(str(po_path))
    problems = [p for entry in catalogue.translated_entries() for p in entry_mismatches(entry)]
    assert problems == []


def test_the_spanish_catalogue_has_no_untranslated_or_fuzzy_entries():
    catalogue = polib.pofile(str(SPANISH))
    untranslated = [e.msgid for e in catalogue.untranslated_entries()]
    fuzzy = [e.msgid for e in catalogue.fuzzy_entries()]
    assert untranslated == []
    assert fuzzy == []
    plurals_missing = [
        e.msgid
        for e in catalogue
        if e.msgid_plural and not all(e.msgstr_plural.get(i) for i in (0, 1))
    ]
    assert plurals_missing == []


@pytest.mark.parametrize(
    ("source", "translation"),
    [
        ("Session %(number)d saved.", "Sesión %(numero)d guardada."),  # renamed
        ("Session %(number)d saved.", "Sesión guardada."),  # dropped
        ("Session %(number)d saved.", "Sesión %(number)s guardada."),  # retyped
        ("%(a)s and %(b)s", "%(a)s y %(a)s"),  # one lost, one doubled
        ("%s of %d", "%d de %s"),  # positional ones swapped
        ("Hello {name}", "Hola {nombre}"),
        ("With <strong>%(name)s</strong>.", "Con %(name)s."),
        ("With <strong>%(name)s</strong>.", "Con <strong>%(name)s."),
        ("Line\n", "Línea"),
        (" padded", "con relleno"),
    ],
)
def test_the_checker_catches_a_broken_translation(source, translation):
    assert mismatches(source, translation)


@pytest.mark.parametrize(
    ("source", "translation"),
    [
        ("%(a)s fell to %(b)s", "%(b)s, antes %(a)s"),  # named ones may move
        ("at least 25% of it", "al menos el 25 % de ella"),  # a literal percent sign
        ("100%% sure, %(name)s", "%(name)s, seguro al 100%%"),
        ("<strong>%(s)s</strong> supervises", '<strong class="x">%(s)s</strong> supervisa'),
        ("Line\n", "Línea\n"),
    ],
)
def test_the_checker_accepts_a_faithful_translation(source, translation):
    assert mismatches(source, translation) == []


def test_the_checker_reads_plural_forms_against_singular_and_plural():
    entry = polib.POEntry(
        msgid="%(count)s flag",
        msgid_plural="%(count)s flags",
        msgstr_plural={0: "%(count)s alerta", 1: "alertas"},
    )
    assert entry_mismatches(entry) == [
        "'%(count)s flag': named: msgid has [('count', 's')], msgstr has []"
    ]


def test_the_compiled_spanish_catalogue_translates_and_pluralises(tmp_path):
    mo_path = tmp_path / "django.mo"
    polib.pofile(str(SPANISH)).save_as_mofile(str(mo_path))
    with mo_path.open("rb") as mo:
        spanish = gettext.GNUTranslations(mo)
    assert spanish.gettext("Open flags") == "Alertas abiertas"
    assert spanish.gettext("Client") == "Paciente"
    assert (
        spanish.ngettext("%(count)s resolved flag", "%(count)s resolved flags", 1) % {"count": 1}
        == "1 alerta resuelta"
    )
    assert (
        spanish.ngettext("%(count)s resolved flag", "%(count)s resolved flags", 3) % {"count": 3}
        == "3 alertas resueltas"
    )
    # Every translated string formats with the values its msgid takes.
    for entry in polib.pofile(str(SPANISH)).translated_entries():
        if "python-format" not in entry.flags:
            continue
        names = {
            m["name"]
            for m in PERCENT.finditer(entry.msgid + (entry.msgid_plural or ""))
            if m["name"]
        }
        if not names:
            continue
        values = dict.fromkeys(names, 1)
        texts = list(entry.msgstr_plural.values()) if entry.msgid_plural else [entry.msgstr]
        for text in texts:
            text % values  # raises KeyError/TypeError/ValueError on a broken placeholder
