"""Rule settings: documented defaults and validation of a clinic's configuration."""

import copy
import math
from numbers import Integral, Real
from typing import Any

from alliance.analytics.registry import PARAMETER_BOUNDS, RULES, Bound

RATERS = ("client", "therapist")

# The client form's yes/no "tension or misunderstanding today?" item (1 = yes, 0 = no).
TENSION_SCALE = "tension"

# Derived from the registry: each rule's parameters with their defaults, every parameter's
# range by name, and the rules in order.
DEFAULTS: dict[str, dict[str, Any]] = {rule.key: rule.defaults for rule in RULES}
BOUNDS: dict[str, Bound] = PARAMETER_BOUNDS
RULE_NAMES = tuple(DEFAULTS)

# Keys the Django layer adds next to the rules: data about the instruments, not rule settings.
DATA_KEYS = ("norms", "scale_range", "cutoffs")

_DIRECTIONS = ("therapist_higher", "both")
_NORM_KEYS = ("sd", "reliability", "source")


def validate_config(config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Check a rule configuration and fill in the defaults.

    Input: ``config``, a dict keyed by rule name (each a dict of that rule's parameters,
    including ``enabled``) plus the optional data keys ``norms``, ``scale_range`` and
    ``cutoffs`` (shapes documented in docs/ruptures.md); None means all defaults.
    Output: a new dict with every rule of ``DEFAULTS`` (omitted parameters take their default)
    and the three data keys (empty dicts when absent). Raises ``ValueError`` naming the
    offending key for unknown rules or parameters and for out-of-range values.
    """
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise ValueError(f"config must be a dict, got {type(config).__name__}")
    unknown = sorted(str(key) for key in config if key not in DEFAULTS and key not in DATA_KEYS)
    if unknown:
        raise ValueError(
            f"unknown rule(s) {', '.join(unknown)}; known rules are {', '.join(RULE_NAMES)} "
            f"and data keys {', '.join(DATA_KEYS)}"
        )
    merged: dict[str, Any] = {}
    for rule, defaults in DEFAULTS.items():
        given = config.get(rule, {})
        if not isinstance(given, dict):
            raise ValueError(f"{rule}: settings must be a dict, got {type(given).__name__}")
        extra = sorted(str(key) for key in given if key not in defaults)
        if extra:
            raise ValueError(
                f"{rule}: unknown parameter(s) {', '.join(extra)}; "
                f"known parameters are {', '.join(defaults)}"
            )
        params = copy.deepcopy(defaults)
        params.update(copy.deepcopy(given))
        _check_rule(rule, params)
        merged[rule] = params
    merged["norms"] = _check_norms(config.get("norms", {}))
    merged["scale_range"] = _check_scale_range(config.get("scale_range", {}))
    merged["cutoffs"] = _check_cutoffs(config.get("cutoffs", {}), "cutoffs")
    return merged


def _check_rule(rule: str, params: dict[str, Any]) -> None:
    if not isinstance(params["enabled"], bool):
        raise ValueError(f"{rule}.enabled must be true or false, got {params['enabled']!r}")
    if "scales" in params:
        _scales(params, rule)
    for key in params:
        if key in BOUNDS and key != "cutoffs" and not (key == "cutoff" and params[key] is None):
            _bounded(params, rule, key)
    if rule == "low_alliance":
        params["cutoffs"] = _check_cutoffs(params["cutoffs"], "low_alliance.cutoffs")
    elif rule == "rater_discrepancy" and params["direction"] not in _DIRECTIONS:
        raise ValueError(
            f"rater_discrepancy.direction must be one of {', '.join(_DIRECTIONS)}, "
            f"got {params['direction']!r}"
        )


def _scales(params: dict[str, Any], rule: str) -> None:
    scales = params["scales"]
    if isinstance(scales, str) or not all(isinstance(scale, str) for scale in scales):
        raise ValueError(f"{rule}.scales must be a list of scale names: {scales!r}")
    if TENSION_SCALE in scales:
        raise ValueError(f"{rule}.scales: the tension item is not a rating scale")
    params["scales"] = list(scales)


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def _bounded(params: dict[str, Any], rule: str, key: str) -> None:
    """Check ``params[key]`` against its ``BOUNDS`` entry; store it as an int or a float."""
    bound, value = BOUNDS[key], params[key]
    if bound.whole:
        ok = isinstance(value, Integral) and not isinstance(value, bool)
        kind = "a whole number"
    else:
        ok = _is_number(value)
        kind = "a number"
    ok = ok and (value > bound.low if bound.low_open else value >= bound.low)
    if not (ok and value <= bound.high):
        raise ValueError(f"{rule}.{key} must be {kind} {_range(bound)}, got {value!r}")
    params[key] = int(value) if bound.whole else float(value)


def _range(bound: Bound) -> str:
    """ "from 1 to 20", "above 0 and at most 5": the range as the error message says it."""
    show = (lambda x: str(int(x))) if bound.whole else (lambda x: f"{x:g}")
    if bound.low_open:
        return f"above {show(bound.low)} and at most {show(bound.high)}"
    return f"from {show(bound.low)} to {show(bound.high)}"


def _check_rater(rater: Any, where: str) -> None:
    if rater not in RATERS:
        raise ValueError(f"{where}: unknown rater {rater!r}; raters are {', '.join(RATERS)}")


def _check_norms(norms: Any) -> dict[str, dict[str, dict[str, Any]]]:
    if not isinstance(norms, dict):
        raise ValueError("norms must be a dict {rater: {scale: {sd, reliability, source}}}")
    checked: dict[str, dict[str, dict[str, Any]]] = {}
    for rater, scales in norms.items():
        _check_rater(rater, "norms")
        if not isinstance(scales, dict):
            raise ValueError(f"norms[{rater!r}] must be a dict keyed by scale")
        checked[rater] = {}
        for scale, entry in scales.items():
            where = f"norms[{rater!r}][{scale!r}]"
            if not isinstance(entry, dict):
                raise ValueError(f"{where} must be a dict with sd, reliability and source")
            if not entry:
                # An empty entry means "no norms": rules that need them skip the series.
                continue
            if set(entry) != set(_NORM_KEYS):
                raise ValueError(f"{where} needs exactly the keys sd, reliability and source")
            sd, reliability, source = entry["sd"], entry["reliability"], entry["source"]
            if not _is_number(sd) or sd <= 0:
                raise ValueError(f"{where}.sd must be a positive number, got {sd!r}")
            if not _is_number(reliability) or not 0 <= reliability < 1:
                raise ValueError(f"{where}.reliability must be in [0, 1), got {reliability!r}")
            if not isinstance(source, str) or not source:
                raise ValueError(f"{where}.source must name where the norms come from")
            checked[rater][scale] = {
                "sd": float(sd),
                "reliability": float(reliability),
                "source": source,
            }
    return checked


def _check_scale_range(scale_range: Any) -> dict[str, dict[str, float]]:
    if not isinstance(scale_range, dict):
        raise ValueError("scale_range must be a dict {rater: {min, max}}")
    checked: dict[str, dict[str, float]] = {}
    for rater, bounds in scale_range.items():
        _check_rater(rater, "scale_range")
        if not isinstance(bounds, dict) or set(bounds) != {"min", "max"}:
            raise ValueError(f"scale_range[{rater!r}] needs exactly the keys min and max")
        low, high = bounds["min"], bounds["max"]
        if not (_is_number(low) and _is_number(high) and low < high):
            raise ValueError(f"scale_range[{rater!r}] needs numbers min < max, got {bounds!r}")
        checked[rater] = {"min": float(low), "max": float(high)}
    return checked


def _check_cutoffs(cutoffs: Any, where: str) -> dict[str, dict[str, float]]:
    if not isinstance(cutoffs, dict):
        raise ValueError(f"{where} must be a dict {{rater: {{scale: cutoff}}}}")
    checked: dict[str, dict[str, float]] = {}
    for rater, scales in cutoffs.items():
        _check_rater(rater, where)
        if not isinstance(scales, dict):
            raise ValueError(f"{where}[{rater!r}] must be a dict keyed by scale")
        checked[rater] = {}
        for scale, value in scales.items():
            bound = BOUNDS["cutoffs"]
            if not (_is_number(value) and bound.low <= value <= bound.high):
                raise ValueError(
                    f"{where}[{rater!r}][{scale!r}] must be a number {_range(bound)}, got {value!r}"
                )
            checked[rater][scale] = float(value)
    return checked
