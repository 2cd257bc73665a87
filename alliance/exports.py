"""Exports of ratings and of one client's record, as CSV and Excel (pandas + openpyxl).

Ratings come in long format: one row per (rating, scale), so a researcher's pandas or R
reads them without reshaping. Item answers go in one ``answers`` column as JSON
(``{"bond_1": 4, ...}``): instruments differ in their items, and one JSON column keeps the
columns the same whatever instruments a clinic uses. Dates and times are in the clinic's
timezone. Every export starts from ``Rating.objects.visible_to`` (the UI's scope) and takes
a fixed number of queries whatever its size.
"""

import io
import json
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass

import pandas as pd
from django.db.models import QuerySet
from django.http import HttpResponse
from django.utils import timezone
from django.utils.text import slugify

from alliance import selectors
from alliance.models import Client, Flag, User
from measures.models import ItemAnswer, Rating, ScaleScore
from measures.services import instrument_definition

RATING_COLUMNS = [
    "clinic",
    "client_code",
    "session_number",
    "session_date",
    "rater",
    "instrument_key",
    "instrument_version",
    "submitted_at",
    "scale",
    "score",
    "n_answered",
    "answers",
]
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Cells a spreadsheet would run as a formula (CSV/formula injection): shown as text instead.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class ExportScope:
    """What to export: one client, one therapist's caseload, or everything the user sees."""

    client: Client | None = None
    therapist: User | None = None

    @property
    def slug(self) -> str:
        if self.client is not None:
            return f"client-{slugify(self.client.code)}"
        if self.therapist is not None:
            return f"caseload-{slugify(self.therapist.username)}"
        return "clinic"


def export_scope(
    user: User, *, client_id: int | None = None, therapist_id: int | None = None
) -> ExportScope:
    """The scope asked for, checked against the user's: Http404 for a client or therapist
    outside it (a therapist: yourself, a supervisee, or anyone in the clinic for admins)."""
    client = selectors.client_get(user, client_id) if client_id is not None else None
    therapist = None
    if therapist_id is not None:
        if therapist_id == user.pk and user.is_therapist:
            therapist = user
        else:
            therapist = selectors.supervisee_get(user, therapist_id)
    return ExportScope(client=client, therapist=therapist)


def attachment(content: bytes, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def ratings_in_scope(user: User, scope: ExportScope) -> QuerySet[Rating]:
    """The ratings the user may see, narrowed to the scope (a caseload: primary clients)."""
    ratings = Rating.objects.visible_to(user)
    if scope.client is not None:
        ratings = ratings.filter(session__client=scope.client)
    if scope.therapist is not None:
        ratings = ratings.filter(session__client__primary_therapist=scope.therapist)
    return ratings


def _safe(value):
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """``_safe`` on every cell, column by column: only text columns can hold a formula, and
    a vectorised test on them is what keeps a clinic-wide export (millions of cells) quick."""
    columns = {}
    for name, column in frame.items():
        if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            columns[name] = column
            continue
        if isinstance(column.dtype, pd.StringDtype):
            text = column.notna()
        else:
            text = column.map(lambda value: isinstance(value, str)).astype(bool)
        risky = text & column.where(text, "").astype(str).str.startswith(FORMULA_STARTS)
        if risky.any():
            column = column.mask(risky, "'" + column.where(risky, "").astype(str))
        columns[name] = column
    return pd.DataFrame(columns, index=frame.index)


def _local(value, tzinfo):
    return timezone.localtime(value, tzinfo)


def ratings_frame(ratings: QuerySet[Rating]) -> pd.DataFrame:
    """Long format, one row per (rating, scale), in RATING_COLUMNS order. Three queries."""
    rows = list(
        ratings.order_by("session__client__code", "session__number", "rater", "pk").values(
            "pk",
            "rater",
            "submitted_at",
            "instrument__key",
            "instrument__version",
            "session__number",
            "session__starts_at",
            "session__client__code",
            "session__client__clinic__name",
            "session__client__clinic__timezone",
        )
    )
    answers: dict[int, dict[str, float]] = defaultdict(dict)
    for rating_id, item, value in (
        ItemAnswer.objects.filter(rating__in=ratings)
        .order_by("pk")
        .values_list("rating_id", "item", "value")
    ):
        answers[rating_id][item] = int(value) if float(value).is_integer() else value
    scores: dict[int, list[tuple]] = defaultdict(list)
    for rating_id, scale, score, n_answered in (
        ScaleScore.objects.filter(rating__in=ratings)
        .order_by("pk")
        .values_list("rating_id", "scale", "score", "n_answered")
    ):
        scores[rating_id].append((scale, score, n_answered))

    records = []
    for row in rows:
        tz = zoneinfo.ZoneInfo(row["session__client__clinic__timezone"])
        base = {
            "clinic": row["session__client__clinic__name"],
            "client_code": row["session__client__code"],
            "session_number": row["session__number"],
            "session_date": _local(row["session__starts_at"], tz).date().isoformat(),
            "rater": row["rater"],
            "instrument_key": row["instrument__key"],
            "instrument_version": row["instrument__version"],
            "submitted_at": _local(row["submitted_at"], tz).isoformat(timespec="seconds"),
            "answers": json.dumps(answers.get(row["pk"], {}), sort_keys=True),
        }
        for scale, score, n_answered in scores.get(row["pk"], []):
            records.append(base | {"scale": scale, "score": score, "n_answered": n_answered})
    frame = pd.DataFrame.from_records(records, columns=RATING_COLUMNS)
    return frame.astype({"session_number": "Int64", "instrument_version": "Int64"})


def to_csv(frame: pd.DataFrame) -> bytes:
    return safe_cells(frame).to_csv(index=False).encode("utf-8")


def to_xlsx(sheets: dict[str, pd.DataFrame]) -> bytes:
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        for name, frame in sheets.items():
            safe_cells(frame).to_excel(writer, sheet_name=name, index=False)
            sheet = writer.sheets[name]
            for column in sheet.columns:
                width = max((len(str(cell.value or "")) for cell in column), default=8)
                sheet.column_dimensions[column[0].column_letter].width = min(max(width, 8), 60)
            sheet.freeze_panes = "A2"
    return buffer.getvalue()


def ratings_export(user: User, scope: ExportScope, fmt: str) -> tuple[bytes, str, str]:
    """(content, content type, file name) of the ratings export in "csv" or "xlsx"."""
    frame = ratings_frame(ratings_in_scope(user, scope))
    stamp = timezone.localdate().isoformat()
    if fmt == "xlsx":
        return to_xlsx({"ratings": frame}), XLSX_TYPE, f"alliance-ratings-{scope.slug}-{stamp}.xlsx"
    return to_csv(frame), "text/csv; charset=utf-8", f"alliance-ratings-{scope.slug}-{stamp}.csv"


# --- one client's record, for the client's right of access ---------------------------------


def _item_texts(ratings: list[Rating]) -> dict[str, str]:
    """Item key -> "Item key: English text", over the instruments of these ratings."""
    texts: dict[str, str] = {}
    for rating in ratings:
        definition = instrument_definition(rating.instrument)
        for item in definition.items:
            text = item.text.get("en") or next(iter(item.text.values()))
            texts.setdefault(item.key, f"{item.key}: {text}")
    return texts


EMPTY_HEADINGS = {
    "Sessions": ["Session number", "Date and time", "Status", "Therapist", "Note"],
    "Ratings": ["Session number", "Session date", "Filled in by", "Therapist", "Form"],
    "Flags": ["Session number", "Rated by", "Scale", "Signal", "What was noticed", "Status"],
}


def client_record_sheets(client: Client) -> dict[str, pd.DataFrame]:
    """Everything stored about the client, one sheet each for sessions, ratings and flags,
    with column names a person reads. A fixed number of queries."""
    tz = client.clinic.tzinfo
    sessions = list(client.sessions.select_related("therapist").order_by("number"))
    ratings = list(
        Rating.objects.filter(session__client=client)
        .select_related("session", "instrument", "submitted_by")
        .prefetch_related("answers", "scores")
        .order_by("session__number", "rater")
    )
    flags = list(
        Flag.objects.filter(client=client)
        .select_related("session", "acknowledged_by", "resolved_by")
        .order_by("session__number", "rule")
    )

    def when(value):
        return _local(value, tz).strftime("%Y-%m-%d %H:%M") if value else ""

    session_rows = [
        {
            "Session number": s.number,
            "Date and time": when(s.starts_at),
            "Status": s.get_status_display(),
            "Therapist": str(s.therapist),
            "Note": s.note,
        }
        for s in sessions
    ]
    texts = _item_texts(ratings)
    rating_rows = []
    for rating in ratings:
        row = {
            "Session number": rating.session.number,
            "Session date": _local(rating.session.starts_at, tz).date().isoformat(),
            "Filled in by": rating.get_rater_display(),
            "Therapist": str(rating.submitted_by) if rating.submitted_by else "",
            "Form": f"{rating.instrument.name} (version {rating.instrument.version})",
            "Submitted": when(rating.submitted_at),
        }
        row |= {
            f"Score: {score.scale}": score.score
            for score in sorted(rating.scores.all(), key=lambda s: s.scale)
        }
        row |= {
            "Tension reported": {True: "Yes", False: "No"}.get(rating.tension, ""),
            "How well it was addressed": rating.tension_addressed or "",
            "Comment": rating.comment,
        }
        row |= {texts[a.item]: a.value for a in rating.answers.all() if a.item in texts}
        rating_rows.append(row)
    flag_rows = [
        {
            "Session number": f.session.number,
            "Rated by": f.get_rater_display(),
            "Scale": f.scale,
            "Signal": f.get_rule_display(),
            "What was noticed": f.explanation,
            "Repair": f.get_repair_status_display() if f.repair_status else "",
            "Status": f.get_status_display(),
            "Still current": "No" if f.retired_at else "Yes",
            "Acknowledged by": str(f.acknowledged_by) if f.acknowledged_by else "",
            "Acknowledged": when(f.acknowledged_at),
            "What was done": f.action_note,
            "Resolved": when(f.resolved_at),
        }
        for f in flags
    ]
    about = pd.DataFrame(
        [
            ("Clinic", client.clinic.name),
            ("Client code", client.code),
            ("Status", client.get_status_display()),
            ("Exported", when(timezone.now())),
            ("Times", f"In the clinic's timezone ({client.clinic.timezone})."),
        ],
        columns=["", "Value"],
    )
    sheets = {"Sessions": session_rows, "Ratings": rating_rows, "Flags": flag_rows}
    return {"About": about} | {
        # An empty sheet still has its headings.
        name: pd.DataFrame(rows) if rows else pd.DataFrame(columns=EMPTY_HEADINGS[name])
        for name, rows in sheets.items()
    }


def client_record_export(client: Client) -> tuple[bytes, str, str]:
    stamp = timezone.localdate().isoformat()
    name = f"alliance-record-{slugify(client.code)}-{stamp}.xlsx"
    return to_xlsx(client_record_sheets(client)), XLSX_TYPE, name
