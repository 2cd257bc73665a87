"""Reads for instruments and ratings."""

from measures.models import Instrument, Rater

# The project's own forms, used when a clinic has not chosen another instrument.
BUILTIN_KEYS = {Rater.CLIENT: "alliance-client", Rater.THERAPIST: "alliance-therapist"}


def instrument_for(*, clinic, rater: str) -> Instrument:
    """The instrument a clinic uses for one rater: its own choice, else the shipped form."""
    chosen = clinic.client_instrument if rater == Rater.CLIENT else clinic.therapist_instrument
    if chosen is not None:
        return chosen
    instrument = (
        Instrument.objects.filter(key=BUILTIN_KEYS[rater], is_active=True)
        .order_by("-version")
        .first()
    )
    if instrument is None:
        raise Instrument.DoesNotExist(
            f"No {rater} instrument is loaded: run `manage.py load_instruments`."
        )
    return instrument
