import io
import json

import pytest
from django.core.management import CommandError, call_command

from measures.definitions import builtin_definition_paths
from measures.models import Instrument
from tests.factories import TherapySessionFactory, rating_of

pytestmark = pytest.mark.django_db


def load(*paths) -> str:
    out = io.StringIO()
    call_command("load_instruments", *map(str, paths), stdout=out)
    return out.getvalue()


def shipped(key: str) -> dict:
    path = next(p for p in builtin_definition_paths() if p.name.startswith(key))
    return json.loads(path.read_text())


def test_loads_the_shipped_instruments_once():
    first = load()
    second = load()
    assert Instrument.objects.count() == 2
    assert first.count("created") == 2
    assert second.count("unchanged") == 2
    assert set(Instrument.objects.values_list("rater", flat=True)) == {"client", "therapist"}


def test_a_malformed_file_names_the_file_and_the_problem(tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text('{"key": "x",, }')
    with pytest.raises(CommandError, match=r"broken\.json.*line 1 column"):
        load(bad)
    assert not Instrument.objects.exists()


def test_an_invalid_definition_names_the_item(tmp_path):
    data = shipped("alliance-client")
    data["items"][1]["scales"] = ["bond", "nonexistent"]
    path = tmp_path / "client.json"
    path.write_text(json.dumps(data))
    with pytest.raises(CommandError, match=r"client\.json.*goal_1.*nonexistent"):
        load(path)


def test_nothing_is_loaded_when_any_file_is_bad(tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(shipped("alliance-client")))
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    with pytest.raises(CommandError, match=r"bad\.json"):
        load(good, bad)
    assert not Instrument.objects.exists()


def test_a_version_without_ratings_may_be_corrected(tmp_path):
    load()
    data = shipped("alliance-client")
    data["items"][0]["text"]["en"] = "A corrected wording."
    path = tmp_path / "client.json"
    path.write_text(json.dumps(data))
    assert "updated" in load(path)
    instrument = Instrument.objects.get(key="alliance-client")
    assert instrument.definition["items"][0]["text"]["en"] == "A corrected wording."


def test_a_version_with_ratings_is_never_changed(tmp_path, instruments):
    rating_of(TherapySessionFactory(number=1), instruments["client"])
    data = shipped("alliance-client")
    data["items"][0]["text"]["en"] = "A changed wording."
    path = tmp_path / "client.json"
    path.write_text(json.dumps(data))
    with pytest.raises(CommandError, match=r"already has ratings.*new version"):
        load(path)
    assert (
        instruments["client"].definition == Instrument.objects.get(key="alliance-client").definition
    )


def test_a_new_version_loads_beside_the_old_one(tmp_path, instruments):
    rating_of(TherapySessionFactory(number=1), instruments["client"])
    data = shipped("alliance-client")
    data["version"] = 2
    path = tmp_path / "client-v2.json"
    path.write_text(json.dumps(data))
    assert "created" in load(path)
    assert list(
        Instrument.objects.filter(key="alliance-client").values_list("version", flat=True)
    ) == [2, 1]
