"""The clinic's settings the dashboards read: the total score's range on its instruments and
the missing-forms rule's setting."""

from alliance.analytics import DEFAULTS, validate_config
from alliance.models import Clinic
from measures.selectors import instruments_for

DEFAULT_SCALE_RANGE = (1.0, 5.0)


def scale_range_for(clinic: Clinic) -> tuple[float, float]:
    """The range of the total score on the clinic's instruments (both raters: the widest),
    for the charts' fixed y axis; the shipped forms: 1-5. One query
    (``measures.selectors.instruments_for``); their stored (validated) definitions are read
    directly."""
    ranges = [total_range(i.definition) for i in instruments_for(clinic=clinic).values()]
    if not ranges:
        return DEFAULT_SCALE_RANGE
    return min(low for low, _high in ranges), max(high for _low, high in ranges)


def total_range(definition: dict) -> tuple[float, float]:
    """(min, max) of the total scale (else the first scale) of a validated definition: the
    response range of its items (a validated scale has one)."""
    keys = [scale["key"] for scale in definition["scales"]]
    key = "total" if "total" in keys else keys[0]
    item = next(item for item in definition["items"] if key in item.get("scales", []))
    response = item.get("response", definition["response"])
    return float(response["min"]), float(response["max"])


def missing_forms_after(clinic: Clinic | None) -> int:
    """The clinic's missing_forms rule setting: this many completed sessions without a
    client form mark a client as unmonitored (default 3, also without a clinic)."""
    given = ((clinic.rule_settings if clinic else None) or {}).get("missing_forms", {})
    try:
        return int(validate_config({"missing_forms": given})["missing_forms"]["sessions"])
    except (ValueError, TypeError):
        return DEFAULTS["missing_forms"]["sessions"]
