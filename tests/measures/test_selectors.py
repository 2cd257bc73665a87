"""Which instruments a clinic uses: one rater at a time (instrument_for) or both in one
query (instruments_for), chosen the same way."""

import contextlib

import pytest

from measures.models import Instrument, Rater
from measures.selectors import instrument_for, instruments_for

pytestmark = pytest.mark.django_db


def _version(instrument, version, **fields):
    return Instrument.objects.create(
        key=instrument.key,
        version=version,
        name=instrument.name,
        rater=instrument.rater,
        definition=instrument.definition,
        **fields,
    )


def _both_ways(clinic):
    one_by_one = {}
    for rater in Rater.values:
        with contextlib.suppress(Instrument.DoesNotExist):
            one_by_one[rater] = instrument_for(clinic=clinic, rater=rater)
    return instruments_for(clinic=clinic), one_by_one


def test_the_shipped_forms_newest_active_version(clinic, instruments, django_assert_num_queries):
    newest = _version(instruments[Rater.CLIENT], 2)
    _version(instruments[Rater.CLIENT], 3, is_active=False)
    with django_assert_num_queries(1):
        instruments_for(clinic=clinic)
    found, one_by_one = _both_ways(clinic)
    assert found == one_by_one == {"client": newest, "therapist": instruments[Rater.THERAPIST]}
    assert list(found) == ["client", "therapist"]


def test_the_clinics_own_choice_even_if_no_longer_active(clinic, instruments):
    chosen = _version(instruments[Rater.THERAPIST], 7, is_active=False)
    clinic.therapist_instrument = chosen
    clinic.save()
    found, one_by_one = _both_ways(clinic)
    assert found == one_by_one == {"client": instruments[Rater.CLIENT], "therapist": chosen}


def test_a_rater_without_a_loaded_form_is_left_out(clinic, instruments):
    Instrument.objects.filter(rater=Rater.THERAPIST).update(is_active=False)
    found, one_by_one = _both_ways(clinic)
    assert found == one_by_one == {"client": instruments[Rater.CLIENT]}
