"""The dashboards: the risk ranking and the supervisor's queue, per-therapist figures,
periods, the pages' charts, the supervision packet and the clinic overview.

Each area is a module of its own (``risk`` is the ranking without the database, ``queue``
the rows it ranks, ``figures``, ``periods``, ``series``, ``packets``, ``overview``; the pages
in ``views`` and ``forms``). This package re-exports what the pages, the API and the exports
read, as ``alliance.dashboards.<name>``.

Every number on the caseload, supervision, packet and clinic-overview pages comes from
here. Each function starts from the viewer's scope (``Client.objects.visible_to`` through
``alliance.clients.selectors``) and takes a fixed number of aggregate queries whatever the number of
clients: ``.values(...).annotate(...)`` in SQL, then regrouped in Python or pandas. Figures
are built by the pure ``alliance.charts`` and serialised once per request. The rules behind
the ranking and each figure are in docs/dashboards.md.
"""

from alliance.dashboards.figures import (
    therapist_figures,
    weekly_client_totals,
)
from alliance.dashboards.overview import (
    clinic_overview_kept,
    clinic_overview_refresh,
    overview_default_period,
)
from alliance.dashboards.packets import (
    PACKET_CLIENT_COLUMNS,
    PACKET_FLAG_COLUMNS,
    PACKET_SESSION_COLUMNS,
    Packet,
    packet_for_client,
    packet_for_therapist,
    packet_frames,
)
from alliance.dashboards.periods import (
    Period,
    today_in,
)
from alliance.dashboards.queue import (
    RISK_SORT,
    CaseloadRow,
    caseload_rows,
    caseload_sort,
    episode_facts,
    risk_queue,
    sparkline_for,
)
from alliance.dashboards.risk import (
    Risk,
    RiskTier,
    is_actionable,
    needs_a_look,
    risk_assess,
)
from alliance.dashboards.scales import (
    missing_forms_after,
    scale_range_for,
)
from alliance.dashboards.series import (
    SUBSCALES,
    Chart,
    chart_text,
    client_chart,
    client_page_chart,
    client_series,
    clients_series,
    figure_json,
    histogram_rows,
    monthly_rows,
    supervision_chart,
)

__all__ = [
    "PACKET_CLIENT_COLUMNS",
    "PACKET_FLAG_COLUMNS",
    "PACKET_SESSION_COLUMNS",
    "RISK_SORT",
    "SUBSCALES",
    "CaseloadRow",
    "Chart",
    "Packet",
    "Period",
    "Risk",
    "RiskTier",
    "caseload_rows",
    "caseload_sort",
    "chart_text",
    "client_chart",
    "client_page_chart",
    "client_series",
    "clients_series",
    "clinic_overview_kept",
    "clinic_overview_refresh",
    "episode_facts",
    "figure_json",
    "histogram_rows",
    "is_actionable",
    "missing_forms_after",
    "monthly_rows",
    "needs_a_look",
    "overview_default_period",
    "packet_for_client",
    "packet_for_therapist",
    "packet_frames",
    "risk_assess",
    "risk_queue",
    "scale_range_for",
    "sparkline_for",
    "supervision_chart",
    "therapist_figures",
    "today_in",
    "weekly_client_totals",
]
