"""The supervision packet: one therapist's or one client's period, on a page and as
Excel/CSV tables."""

from dataclasses import dataclass

import pandas as pd

from alliance import charts
from alliance.clients import selectors as client_selectors
from alliance.dashboards.figures import TherapistFigures, therapist_figures
from alliance.dashboards.periods import Period
from alliance.dashboards.queue import CaseloadRow, caseload_rows, caseload_rows_for
from alliance.dashboards.risk import needs_a_look
from alliance.dashboards.scales import DEFAULT_SCALE_RANGE, scale_range_for
from alliance.dashboards.series import CHART_SCALES, ClientSeries, clients_series
from alliance.models import Client, User
from measures.models import Rater


@dataclass
class Packet:
    """A printable packet: a therapist's clients (or one client) with their charts."""

    rows: list[CaseloadRow]  # risk-ranked
    series: dict[int, ClientSeries]
    period: Period
    therapist: User | None = None
    figures: TherapistFigures | None = None
    scale_range: tuple[float, float] = DEFAULT_SCALE_RANGE


def packet_for_therapist(
    viewer: User, therapist: User, *, period: Period, attention_only: bool = False
) -> Packet:
    """A therapist's active primary clients, most at risk first (``attention_only``: those
    with a reason to look), with the therapist's figures. A fixed number of queries."""
    rows = caseload_rows(viewer, therapist=therapist)
    if attention_only:
        rows = [row for row in rows if needs_a_look(row.risk)]
    [figures] = therapist_figures(viewer, [therapist], period=period)
    return Packet(
        rows=rows,
        series=clients_series([row.client for row in rows], tz=period.tz),
        period=period,
        therapist=therapist,
        figures=figures,
        scale_range=scale_range_for(viewer.clinic),
    )


def packet_for_client(viewer: User, client: Client, *, period: Period) -> Packet:
    """One client's packet (discharged clients too)."""
    clients = list(
        client_selectors.caseload_for(viewer, include_discharged=True).filter(pk=client.pk)
    )
    return Packet(
        rows=caseload_rows_for(viewer, clients),
        series=clients_series(clients, tz=period.tz),
        period=period,
        scale_range=scale_range_for(client.clinic),
    )


def packet_frames(packet: Packet) -> dict[str, pd.DataFrame]:
    """The packet's numbers as tables (sheet name -> frame), for CSV and Excel."""
    frames = {}
    if packet.figures is not None:
        f = packet.figures
        frames["Therapist"] = pd.DataFrame(
            [
                {
                    "therapist": str(f.therapist),
                    "period_start": packet.period.start.isoformat(),
                    "period_end": packet.period.end.isoformat(),
                    "active_clients": f.summary.active_clients,
                    "mean_client_alliance": f.summary.mean_client_alliance,
                    "trend_12_weeks": f.trend,
                    "mean_last_12_weeks": f.mean_recent,
                    "mean_previous_12_weeks": f.mean_previous,
                    "completed_sessions": f.completed,
                    "with_client_form": f.with_client_form,
                    "client_form_rate": f.completion_rate,
                    "open_episodes": f.summary.open_episodes,
                    "clients_unrepaired_rupture": f.unrepaired,
                    "clients_pending_rupture": f.pending,
                    "flags_acknowledged_90_days": f.acknowledged,
                    "median_hours_to_acknowledge": f.median_acknowledge_hours,
                }
            ]
        )
    frames["Clients"] = pd.DataFrame(
        [
            {
                "client_code": row.client.code,
                "therapist": str(row.client.primary_therapist),
                "status": row.client.status,
                "risk_rank": position,
                "risk_tier": row.risk.label,
                "reason": row.risk.reason,
                "all_reasons": "; ".join(row.risk.reasons),
                "latest_client_total": row.client.latest_client_total,
                "client_change": row.client_change,
                "latest_therapist_total": row.client.latest_therapist_total,
                "therapist_change": row.therapist_change,
                "open_episodes": row.client.open_episodes,
                "sessions_since_client_form": row.client.sessions_since_client_form,
            }
            for position, row in enumerate(packet.rows, start=1)
        ],
        columns=PACKET_CLIENT_COLUMNS,
    )
    session_rows, flag_rows = [], []
    for client in (row.client for row in packet.rows):
        series = packet.series[client.pk]
        numbers = charts.session_numbers(series.scores, series.sessions)
        table = charts.series_table(series.scores, numbers)
        values = {
            (rater, scale): table.get((rater, scale), [None] * len(numbers))
            for rater in (Rater.CLIENT.value, Rater.THERAPIST.value)
            for scale in CHART_SCALES
        }
        days = dict(zip(series.sessions["session"], series.sessions["day"], strict=True))
        statuses = dict(zip(series.sessions["session"], series.sessions["status"], strict=True))
        labels = series.flags.groupby("session")["rule"].apply(lambda r: ", ".join(sorted(set(r))))
        for index, number in enumerate(numbers):
            row = {
                "client_code": client.code,
                "session": number,
                "date": days.get(number, ""),
                "status": statuses.get(number, ""),
            }
            for (rater, scale), series_values in values.items():
                row[f"{rater}_{scale}"] = series_values[index]
            row["flags"] = labels.get(number, "")
            session_rows.append(row)
        for flag in series.flags.itertuples(index=False):
            flag_rows.append(
                {
                    "client_code": client.code,
                    "session": flag.session,
                    "rater": flag.rater,
                    "scale": flag.scale,
                    "rule": flag.rule,
                    "repair_status": flag.repair_status,
                    "status": flag.status,
                    "explanation": flag.explanation,
                    "episode": flag.episode,
                }
            )
    frames["Sessions"] = pd.DataFrame(session_rows, columns=PACKET_SESSION_COLUMNS)
    frames["Flags"] = pd.DataFrame(flag_rows, columns=PACKET_FLAG_COLUMNS)
    return frames


PACKET_CLIENT_COLUMNS = [
    "client_code",
    "therapist",
    "status",
    "risk_rank",
    "risk_tier",
    "reason",
    "all_reasons",
    "latest_client_total",
    "client_change",
    "latest_therapist_total",
    "therapist_change",
    "open_episodes",
    "sessions_since_client_form",
]
PACKET_SESSION_COLUMNS = (
    ["client_code", "session", "date", "status"]
    + [f"{rater}_{scale}" for rater in ("client", "therapist") for scale in CHART_SCALES]
    + ["flags"]
)
PACKET_FLAG_COLUMNS = [
    "client_code",
    "session",
    "rater",
    "scale",
    "rule",
    "repair_status",
    "status",
    "explanation",
    "episode",
]
