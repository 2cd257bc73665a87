"""The rupture and signal rules, one function per rule, each returning that rule's flags.

Every function takes the shared ``RuleContext`` and the rule's validated parameters and
returns that rule's flags as ``frames.flags_part`` columns (internal codes;
``frames.assemble`` translates). All work is array-wise over the session grid of every
series at once.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from alliance.analytics import text
from alliance.analytics.config import RATERS, TENSION_SCALE
from alliance.analytics.frames import TOTAL_SCALE, FlagsPart, Grid, flags_part, scale_table
from alliance.analytics.repair import classify_repair
from alliance.analytics.stats import EPS, reliable_change, t_critical

CLIENT, THERAPIST = 0, 1


@dataclass(frozen=True)
class RuleContext:
    """The grid plus the instrument data from the config, as (rater, scale code) tables.

    ``sd`` and ``reliability`` are NaN where no norms were given; ``source`` holds the norms'
    source text ("instrument norms", "clinic data (N clients)") for explanations.
    """

    grid: Grid
    sd: np.ndarray
    reliability: np.ndarray
    source: np.ndarray
    scale_range: dict[str, dict[str, float]]
    cutoffs: dict[str, dict[str, float]]

    @classmethod
    def build(cls, grid: Grid, config: dict[str, Any]) -> "RuleContext":
        """Read norms, scale ranges and cutoffs from a validated config."""
        norms = config["norms"]
        source = np.full((len(RATERS), grid.scale_names.size), "", dtype=object)
        for rater_code, rater in enumerate(RATERS):
            for scale, entry in norms.get(rater, {}).items():
                code = grid.scale_code(scale)
                if code >= 0:
                    source[rater_code, code] = entry["source"]
        return cls(
            grid=grid,
            sd=scale_table(grid, _field(norms, "sd")),
            reliability=scale_table(grid, _field(norms, "reliability")),
            source=text.table(source),
            scale_range=config["scale_range"],
            cutoffs=config["cutoffs"],
        )

    def per_series(self, table: np.ndarray) -> np.ndarray:
        """A (rater, scale code) table looked up for every series."""
        return table[self.grid.series_rater, self.grid.series_scale]

    def series_in(self, scales: list[str]) -> np.ndarray:
        """Whether each series is on one of ``scales`` (names not in the data match nothing)."""
        codes = [self.grid.scale_code(scale) for scale in scales]
        return np.isin(self.grid.series_scale, [code for code in codes if code >= 0])

    def source_of(self, series: np.ndarray) -> np.ndarray:
        """Norms source text of each of ``series``."""
        return self.source[self.grid.series_rater[series], self.grid.series_scale[series]]


def _field(norms: dict[str, Any], key: str) -> dict[str, dict[str, float]]:
    return {
        rater: {scale: entry[key] for scale, entry in scales.items()}
        for rater, scales in norms.items()
    }


def _labels(grid: Grid, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Series id, rater label ('Client-rated') and scale name of each cell, for explanations."""
    series = grid.series[cells]
    return (
        series,
        text.rater_label(grid.series_rater[series]),
        text.table(grid.scale_names)[grid.series_scale[series]],
    )


def _window_stats(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Count, mean and SD (ddof=1) of the present values in each column of ``values``."""
    present = ~np.isnan(values)
    count = present.sum(axis=0)
    mean = np.where(present, values, 0.0).sum(axis=0) / np.maximum(count, 1)
    squares = np.where(present, (values - mean) ** 2, 0.0).sum(axis=0)
    return count, mean, np.sqrt(squares / np.maximum(count - 1, 1))


def reliable_drop(context: RuleContext, params: dict[str, Any]) -> FlagsPart:
    """Reliable drop: x(n) - x(n+1) >= RC between adjacent positions (flag at n+1).

    RC = 1.96 * sqrt(2) * SD * sqrt(1 - r) from the series' norms (Jacobson & Truax 1991);
    series without norms are skipped. Magnitude: the drop. Repair level: x(n).
    """
    grid = context.grid
    threshold = context.per_series(reliable_change(context.sd, context.reliability))
    before = grid.previous_score()
    drop = before - grid.score
    candidates = np.flatnonzero(drop > 0)
    candidates = candidates[
        (drop[candidates] >= threshold[grid.series[candidates]] - EPS)
        & context.series_in(params["scales"])[grid.series[candidates]]
    ]
    series, label, scale = _labels(grid, candidates)
    session = grid.session[candidates]
    status, repaired = classify_repair(
        grid, candidates, before[candidates], params["repair_window"]
    )
    explanation = text.join(
        label, " ", scale, " fell from ", text.number(before[candidates]),
        " at session ", text.whole(grid.cell_number(candidates, -1)), " to ",
        text.number(grid.score[candidates]), " at session ",
        text.whole(grid.cell_number(candidates)), " (drop ", text.number(drop[candidates]),
        " ≥ reliable-change threshold ", text.number(threshold[series]), ", from ",
        context.source_of(series), ").",
    )  # fmt: skip
    return flags_part(
        "reliable_drop",
        client=grid.series_client[series],
        rater=grid.series_rater[series],
        scale=grid.series_scale[series],
        session=session,
        magnitude=drop[candidates],
        explanation=explanation,
        repair_status=status,
        repaired_session=repaired,
    )


def below_baseline(context: RuleContext, params: dict[str, Any]) -> FlagsPart:
    """Below baseline: x(t) < mean(prior) - k * s (Stiles et al. 2004; Strauss et al. 2006;
    Gumz et al. 2012; k = 2 strict, 1 lenient).

    prior = all present scores of the series at earlier positions (at least
    ``min_prior``); s = max(SD of prior (ddof=1), reference SD from norms), so a client with
    very steady early ratings is not flagged for a dip within measurement error. Series
    without norms are skipped. Only the first session of a run of consecutive below-baseline
    positions is flagged. Magnitude: mean(prior) - x(t). Repair level: mean(prior).
    """
    grid = context.grid
    n_series = grid.start.size
    reference_sd = context.per_series(context.sd)
    present = ~np.isnan(grid.score)
    # Integer running counts are exact with one global cumsum, reset at each series' start.
    seen = np.cumsum(present, dtype=np.int64)
    n_prior = seen - np.concatenate(([0], seen))[grid.start][grid.series] - present
    del seen
    on_scales = context.series_in(params["scales"])[grid.series]
    candidates = np.flatnonzero(
        present
        & on_scales
        & (n_prior >= params["min_prior"])
        & ~np.isnan(reference_sd[grid.series])
    )
    del on_scales
    n = n_prior[candidates]
    del n_prior
    # Centre each series on its own mean so the running sums stay small and exact.
    count = np.bincount(grid.series, weights=present, minlength=n_series)
    total = np.bincount(grid.series[present], weights=grid.score[present], minlength=n_series)
    centre = total / np.maximum(count, 1)
    deviation = np.where(present, grid.score - centre[grid.series], 0.0)
    # Float sums restart per series (pandas groupby), so no rounding carries across series.
    running = (
        pd.DataFrame({"sum": deviation, "squares": deviation**2})
        .groupby(grid.series, sort=False)
        .cumsum()
    )
    prior_sum = running["sum"].to_numpy()[candidates] - deviation[candidates]
    prior_squares = running["squares"].to_numpy()[candidates] - deviation[candidates] ** 2
    del running, deviation
    series = grid.series[candidates]
    mean = centre[series] + prior_sum / n
    own_sd = np.sqrt(np.maximum(prior_squares - prior_sum**2 / n, 0.0) / (n - 1))
    spread = np.maximum(own_sd, reference_sd[series])
    threshold = mean - params["k"] * spread
    below = np.zeros(grid.score.shape, dtype=bool)
    below[candidates[grid.score[candidates] < threshold - EPS]] = True
    cells = grid.run_starts(below)
    at = np.searchsorted(candidates, cells)
    series, label, scale = _labels(grid, cells)
    status, repaired = classify_repair(grid, cells, mean[at], params["repair_window"])
    explanation = text.join(
        label, " ", scale, " of ", text.number(grid.score[cells]), " at session ",
        text.whole(grid.cell_number(cells)), " is below the client's baseline threshold ",
        text.number(threshold[at]), " (mean ", text.number(mean[at]), " of ", text.whole(n[at]),
        " earlier scores minus ", text.number(params["k"]), " SD of ", text.number(spread[at]),
        "; the SD is the larger of the client's own ", text.number(own_sd[at]),
        " and the reference ", text.number(reference_sd[series]), " from ",
        context.source_of(series), ").",
    )  # fmt: skip
    return flags_part(
        "below_baseline",
        client=grid.series_client[series],
        rater=grid.series_rater[series],
        scale=grid.series_scale[series],
        session=grid.session[cells],
        magnitude=mean[at] - grid.score[cells],
        explanation=explanation,
        repair_status=status,
        repaired_session=repaired,
    )


def sudden_loss(context: RuleContext, params: dict[str, Any]) -> FlagsPart:
    """Sudden loss between sessions n and n+1 (Tang & DeRubeis 1999; Lutz et al. 2013).

    All of: (1) x(n) - x(n+1) >= cutoff (default: the series' reliable-change threshold, as in
    Lutz et al. 2013); (2) x(n) - x(n+1) >= pct * x(n); (3) mean(pre) - mean(post) >
    t * pooled SD, pre = sessions n-2..n, post = n+1..n+3 (by position, each with at
    least 2 present scores), t = two-tailed Student t critical value at ``alpha`` with
    df = n_pre + n_post - 2. x(n) and x(n+1) must be present, and the client's last known
    session must be >= n+3 so that the post window exists. Flag at n+1; magnitude: the drop;
    repair level: x(n).
    """
    grid = context.grid
    if params["cutoff"] is None:
        cutoff = context.per_series(reliable_change(context.sd, context.reliability))
    else:
        # The tension item is not a rating scale: its series never get a cutoff.
        tension = grid.series_scale == grid.scale_code(TENSION_SCALE)
        cutoff = np.where(tension, np.nan, params["cutoff"])
    before = grid.previous_score()
    drop = before - grid.score
    cells = np.flatnonzero(drop > 0)
    cells = cells[
        context.series_in(params["scales"])[grid.series[cells]]
        & (drop[cells] >= cutoff[grid.series[cells]] - EPS)
        & (drop[cells] >= params["pct"] * before[cells] - EPS)
        & (grid.last_session[grid.cell_client(cells)] >= grid.session[cells] + 2)
    ]
    pre = np.stack([grid.at(cells, -3), grid.at(cells, -2), before[cells]])
    post = np.stack([grid.score[cells], grid.at(cells, 1), grid.at(cells, 2)])
    n_pre, mean_pre, sd_pre = _window_stats(pre)
    n_post, mean_post, sd_post = _window_stats(post)
    df = n_pre + n_post - 2
    pooled = np.sqrt(((n_pre - 1) * sd_pre**2 + (n_post - 1) * sd_post**2) / np.maximum(df, 1))
    # Windows of 2-3 scores each give df 2, 3 or 4 (t = 4.303, 3.182, 2.776 at alpha .05).
    critical = np.full(5, np.nan)
    critical[2:] = [t_critical(params["alpha"], k) for k in (2, 3, 4)]
    critical_text = np.array([f"{value:.3f}" for value in critical], dtype=object)
    keep = (n_pre >= 2) & (n_post >= 2) & (mean_pre - mean_post > critical[df] * pooled + EPS)
    cells, df, pooled = cells[keep], df[keep], pooled[keep]
    n_pre, n_post = n_pre[keep], n_post[keep]
    mean_pre, mean_post = mean_pre[keep], mean_post[keep]
    series, label, scale = _labels(grid, cells)
    session = grid.session[cells]
    status, repaired = classify_repair(grid, cells, before[cells], params["repair_window"])
    if params["cutoff"] is None:
        cutoff_text = text.join(
            "reliable-change threshold ", text.number(cutoff[series]), " (from ",
            context.source_of(series), ")",
        )  # fmt: skip
    else:
        cutoff_text = text.join("cutoff ", text.number(cutoff[series]))
    explanation = text.join(
        label, " ", scale, " fell from ", text.number(before[cells]), " at session ",
        text.whole(grid.cell_number(cells, -1)), " to ", text.number(grid.score[cells]),
        " at session ", text.whole(grid.cell_number(cells)), ": drop ",
        text.number(drop[cells]), " ≥ ", cutoff_text, " and ≥ ", f"{params['pct'] * 100:g}%",
        " of ", text.number(before[cells]), "; the mean of sessions ",
        text.whole(grid.cell_number(cells, -3)), " to ", text.whole(grid.cell_number(cells, -1)),
        " (", text.number(mean_pre), ", ", text.whole(n_pre),
        " scores) exceeds the mean of sessions ", text.whole(grid.cell_number(cells)), " to ",
        text.whole(grid.cell_number(cells, 2)), " (", text.number(mean_post), ", ",
        text.whole(n_post),
        " scores) by ", text.number(mean_pre - mean_post), ", more than t(", text.whole(df), ") ",
        critical_text[df], " times the pooled SD ", text.number(pooled), ".",
    )  # fmt: skip
    return flags_part(
        "sudden_loss",
        client=grid.series_client[series],
        rater=grid.series_rater[series],
        scale=grid.series_scale[series],
        session=session,
        magnitude=drop[cells],
        explanation=explanation,
        repair_status=status,
        repaired_session=repaired,
    )


def low_alliance(context: RuleContext, params: dict[str, Any]) -> FlagsPart:
    """Low alliance: score below the instrument's or clinic's cutoff for that rater and scale.

    Cutoffs come from the config's ``cutoffs``, overridden per (rater, scale) by the rule's
    own ``cutoffs``; without a cutoff the series is skipped (alliance measures have no
    universal cutoff). Only the first session of a run below the cutoff is flagged.
    Magnitude: cutoff - x.
    """
    grid = context.grid
    cutoffs = {rater: dict(scales) for rater, scales in context.cutoffs.items()}
    for rater, scales in params["cutoffs"].items():
        cutoffs.setdefault(rater, {}).update(scales)
    cutoff = context.per_series(scale_table(grid, cutoffs))
    if np.isnan(cutoff).all():
        return flags_part("low_alliance", **_no_flags())
    cells = grid.run_starts(grid.score < cutoff[grid.series] - EPS)
    series, label, scale = _labels(grid, cells)
    gap = cutoff[series] - grid.score[cells]
    explanation = text.join(
        label, " ", scale, " of ", text.number(grid.score[cells]), " at session ",
        text.whole(grid.cell_number(cells)), " is below the cutoff ", text.number(cutoff[series]),
        " by ", text.number(gap), ".",
    )  # fmt: skip
    return flags_part(
        "low_alliance",
        client=grid.series_client[series],
        rater=grid.series_rater[series],
        scale=grid.series_scale[series],
        session=grid.session[cells],
        magnitude=gap,
        explanation=explanation,
    )


def rater_discrepancy(context: RuleContext, params: dict[str, Any]) -> FlagsPart:
    """Rater discrepancy at one session: d = (therapist - client) / SD (Tryon et al. 2007).

    SD = mean of the client's and the therapist's norm SD for the scale (skipped without
    both). Flags d >= threshold ("therapist_higher"), and with direction "both" also
    -d >= threshold. The flag goes to the rater with the lower score; magnitude: the absolute
    difference in scale points. Every session is judged on its own.
    """
    grid = context.grid
    codes = [grid.scale_code(scale) for scale in params["scales"]]
    codes = np.array([code for code in codes if code >= 0], dtype=np.int64)
    pair_sd = (context.sd[CLIENT] + context.sd[THERAPIST]) / 2
    client_series = np.flatnonzero(
        (grid.series_rater == CLIENT)
        & np.isin(grid.series_scale, codes)
        & ~np.isnan(pair_sd[grid.series_scale])
    )
    partner = grid.find_series(
        grid.series_client[client_series], THERAPIST, grid.series_scale[client_series]
    )
    client_series, partner = client_series[partner >= 0], partner[partner >= 0]
    client_cells = grid.series_cells(client_series)
    # Both series of a client share the client's session grid, so cells line up by offset.
    therapist_cells = client_cells + np.repeat(
        grid.start[partner] - grid.start[client_series], grid.length[client_series]
    )
    client_score = grid.score[client_cells]
    therapist_score = grid.score[therapist_cells]
    sd = pair_sd[grid.series_scale[grid.series[client_cells]]]
    d = (therapist_score - client_score) / sd
    therapist_higher = d >= params["threshold"] - EPS
    client_higher = (-d >= params["threshold"] - EPS) & (params["direction"] == "both")
    hit = np.flatnonzero(therapist_higher | client_higher)
    cells = client_cells[hit]
    series = grid.series[cells]
    lower = np.where(therapist_higher[hit], CLIENT, THERAPIST)
    higher_score = np.maximum(client_score[hit], therapist_score[hit])
    lower_score = np.minimum(client_score[hit], therapist_score[hit])
    scale = text.table(grid.scale_names)[grid.series_scale[series]]
    explanation = text.join(
        "At session ", text.whole(grid.cell_number(cells)), " the ", text.rater_noun(1 - lower),
        " rated ", scale, " ", text.number(higher_score), " and the ", text.rater_noun(lower),
        " ", text.number(lower_score), ": the ", text.rater_noun(1 - lower), "'s rating is ",
        text.number(higher_score - lower_score), " points higher (", text.number(np.abs(d[hit])),
        " SD ≥ threshold ", text.number(params["threshold"]), " SD).",
    )  # fmt: skip
    return flags_part(
        "rater_discrepancy",
        client=grid.series_client[series],
        rater=lower,
        scale=grid.series_scale[series],
        session=grid.session[cells],
        magnitude=higher_score - lower_score,
        explanation=explanation,
    )


def client_reported_tension(context: RuleContext, params: dict[str, Any]) -> FlagsPart:
    """The client answered yes (score >= 1) to the tension item (Muran et al. 2009).

    Only client-rated "tension" scores count. Magnitude: 1.0.
    """
    grid = context.grid
    code = grid.scale_code(TENSION_SCALE)
    series = np.flatnonzero((grid.series_rater == CLIENT) & (grid.series_scale == code))
    cells = grid.series_cells(series)
    cells = cells[grid.score[cells] >= 1.0 - EPS]
    explanation = text.join(
        "At session ", text.whole(grid.cell_number(cells)),
        " the client reported tension or a misunderstanding with the therapist.",
    )  # fmt: skip
    return flags_part(
        "client_reported_tension",
        client=grid.cell_client(cells),
        rater=np.full(cells.size, CLIENT),
        scale=np.full(cells.size, code),
        session=grid.session[cells],
        magnitude=np.ones(cells.size),
        explanation=explanation,
    )


def ceiling(context: RuleContext, params: dict[str, Any]) -> FlagsPart:
    """Client total at the scale maximum at every one of sessions 1..N (flag at N, per client).

    Routine-outcome-monitoring practice: uniformly perfect early ratings often mean the client
    is being polite, so the therapist should invite honest feedback. Needs the client
    instrument's maximum in ``scale_range``. Magnitude: N.
    """
    grid = context.grid
    code = grid.scale_code(TOTAL_SCALE)
    maximum = context.scale_range.get("client", {}).get("max")
    if maximum is None:
        return flags_part("ceiling", **_no_flags())
    sessions = params["sessions"]
    series = np.flatnonzero((grid.series_rater == CLIENT) & (grid.series_scale == code))
    cells = grid.series_cells(series)
    at_max = cells[(grid.session[cells] <= sessions) & (np.abs(grid.score[cells] - maximum) <= EPS)]
    series = np.flatnonzero(np.bincount(grid.series[at_max], minlength=grid.start.size) == sessions)
    which = "the first session" if sessions == 1 else f"each of the first {sessions} sessions"
    explanation = np.full(
        series.size,
        f"The client rated total at the scale maximum ({text.number(maximum)}) in {which}. "
        "Ratings at the ceiling can hide dissatisfaction: invite honest feedback, for example "
        "by asking what could be better about the sessions.",
        dtype=object,
    )
    return flags_part(
        "ceiling",
        client=grid.series_client[series],
        rater=np.full(series.size, CLIENT),
        scale=np.full(series.size, code),
        session=np.full(series.size, sessions),
        magnitude=np.full(series.size, float(sessions)),
        explanation=explanation,
    )


def missing_forms(context: RuleContext, params: dict[str, Any]) -> FlagsPart:
    """No present client total at N consecutive known sessions of a client.

    Known sessions are the positions that appear in any row for the client (the Django
    layer adds a row with a NaN client total for each completed session without a client form);
    positions that appear nowhere are not completed sessions and do not break a run.
    Each run is flagged once, at the known session where it reaches N; magnitude: the run's
    length so far.
    """
    grid = context.grid
    sessions = params["sessions"]
    client, session = grid.known_client, grid.known_session
    form_series = grid.find_series(client, CLIENT, grid.scale_code(TOTAL_SCALE))
    cells = grid.start[form_series] + session - grid.first_session[client]
    has_form = (form_series >= 0) & ~np.isnan(grid.score[np.where(form_series >= 0, cells, 0)])
    missing = ~has_form
    if not missing.any():
        return flags_part("missing_forms", **_no_flags())
    previous_missing = np.concatenate(([False], missing[:-1]))
    same_client = np.concatenate(([False], client[1:] == client[:-1]))
    run_start = missing & ~(previous_missing & same_client)
    run = np.cumsum(run_start) - 1
    first_index = np.flatnonzero(run_start)
    run_length = np.bincount(run[missing], minlength=first_index.size)
    position = np.arange(client.size) - first_index[np.maximum(run, 0)] + 1
    at = np.flatnonzero(missing & (position == sessions))
    length = run_length[run[at]]
    first = session[first_index[run[at]]]
    last = session[first_index[run[at]] + length - 1]
    explanation = text.join(
        "No client form was recorded at ", text.whole(length),
        " completed sessions in a row (sessions ", text.whole(grid.number(client[at], first)),
        " to ", text.whole(grid.number(client[at], last)), "); the run reached ",
        str(sessions), " at session ", text.whole(grid.number(client[at], session[at])), ".",
    )  # fmt: skip
    return flags_part(
        "missing_forms",
        client=client[at],
        rater=np.full(at.size, CLIENT),
        scale=np.full(at.size, grid.scale_code(TOTAL_SCALE)),
        session=session[at],
        magnitude=length.astype(float),
        explanation=explanation,
    )


def _no_flags() -> dict[str, np.ndarray]:
    empty = np.array([], dtype=np.int64)
    return {
        "client": empty,
        "rater": empty,
        "scale": empty,
        "session": empty,
        "magnitude": np.array([], dtype=float),
        "explanation": np.array([], dtype=object),
    }


RULES: dict[str, Callable[[RuleContext, dict[str, Any]], FlagsPart]] = {
    "reliable_drop": reliable_drop,
    "below_baseline": below_baseline,
    "sudden_loss": sudden_loss,
    "low_alliance": low_alliance,
    "rater_discrepancy": rater_discrepancy,
    "client_reported_tension": client_reported_tension,
    "ceiling": ceiling,
    "missing_forms": missing_forms,
}
