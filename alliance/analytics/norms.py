"""Norms (SD and reliability) estimated from a clinic's own scores."""

import numpy as np
import pandas as pd

from alliance.analytics.config import RATERS, TENSION_SCALE


def clinic_norms(scores: pd.DataFrame, min_clients: int = 30) -> dict[str, dict[str, dict]]:
    """SD and test-retest reliability per rater and scale from the clinic's own data.

    Input: a scores frame as for ``detect`` (the tension item is skipped) and the minimum
    number of clients. For each (rater, scale), each client's first and second present scores
    (by position) are taken. SD = standard deviation (ddof=1) of the first scores over
    all clients that have one; reliability = Pearson correlation across clients between first
    and second scores (test-retest reliability, which Jacobson & Truax 1991 accept for the
    reliable change index). Output: ``{rater: {scale: {"sd", "reliability", "source"}}}`` with
    source "clinic data (N clients)", N = clients with two scores; the entry is an empty dict
    when fewer than ``min_clients`` clients have two scores, or when the SD is 0 or the
    correlation is not in (0, 1) (no usable reliable-change threshold then).
    """
    present = scores.loc[
        scores["score"].notna() & (scores["scale"] != TENSION_SCALE),
        ["rater", "scale", "client", "session", "score"],
    ]
    present = present.sort_values(["rater", "scale", "client", "session"], kind="stable")
    order = present.groupby(["rater", "scale", "client"], sort=False).cumcount()
    first = present[order.to_numpy() == 0].set_index(["rater", "scale", "client"])["score"]
    second = present[order.to_numpy() == 1].set_index(["rater", "scale", "client"])["score"]
    pairs = pd.DataFrame({"first": first, "second": second}).dropna()
    sd = first.groupby(level=["rater", "scale"]).std(ddof=1)
    # Pearson r from centred cross-products, for all (rater, scale) groups at once.
    centred = pairs - pairs.groupby(level=["rater", "scale"]).transform("mean")
    products = pd.DataFrame(
        {
            "cross": centred["first"] * centred["second"],
            "first": centred["first"] ** 2,
            "second": centred["second"] ** 2,
        }
    ).groupby(level=["rater", "scale"])
    sums = products.sum()
    count = products.size()
    reliability = sums["cross"] / np.sqrt(sums["first"] * sums["second"])
    norms: dict[str, dict[str, dict]] = {}
    for rater, scale in sd.index:
        n = int(count.get((rater, scale), 0))
        r = float(reliability.get((rater, scale), np.nan))
        spread = float(sd[(rater, scale)])
        usable = n >= min_clients and spread > 0 and 0 < r < 1
        norms.setdefault(rater, {})[scale] = (
            {"sd": spread, "reliability": r, "source": f"clinic data ({n} clients)"}
            if usable
            else {}
        )
    return {rater: norms[rater] for rater in RATERS if rater in norms}
