import io
import re

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.management import call_command
from django.test import override_settings

from measures.definitions import INSTRUMENTS_DIR, load_definition_file
from sessions.formlinks import formlink_create
from sessions.models import FormLink
from tests.factories import TherapySessionFactory

CLIENT_ANSWERS = {
    "bond_1": "5",
    "goal_1": "4",
    "task_1": "4",
    "bond_2": "5",
    "goal_2": "3",
    "task_2": "4",
}


def item_text(key: str, language: str) -> str:
    """An item's wording in the shipped client instrument."""
    path = INSTRUMENTS_DIR / "alliance-client.v1.json"
    return load_definition_file(path).item(key).text[language]


def compile_translations() -> None:
    """Compile the .po catalogues (as `make install` does) and make Django reload them."""
    call_command("compile_translations", stdout=io.StringIO())
    # Entering and leaving an override sends setting_changed, which empties Django's
    # translation caches, so a catalogue loaded before compiling is read again.
    with override_settings(LOCALE_PATHS=list(settings.LOCALE_PATHS)):
        pass


@pytest.fixture(scope="session", autouse=True)
def _spanish_compiled():
    compile_translations()


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Rate-limit counters live in the cache: every test starts with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def therapy_session(client_of_therapist, instruments):
    return TherapySessionFactory(client=client_of_therapist, number=1)


@pytest.fixture
def form_link(therapy_session, therapist) -> tuple[FormLink, str]:
    """(link, token) for the session's client form."""
    return formlink_create(session=therapy_session, created_by=therapist)


def form_post(submission_id, answers=None, **extra) -> dict[str, str]:
    """What the client form posts."""
    return {
        "submission_id": str(submission_id),
        "form_language": "en",
        **(CLIENT_ANSWERS if answers is None else answers),
        **extra,
    }


def checked(page: str, name: str) -> set[str]:
    """The values of the checked radio buttons called ``name`` on a page."""
    return {
        re.search(r'value="([^"]*)"', tag).group(1)
        for tag in re.findall(r"<input[^>]*>", page)
        if f'name="{name}"' in tag and " checked" in tag
    }
