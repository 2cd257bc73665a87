"""Exports of ratings and of one client's record, as CSV and Excel (pandas + openpyxl).

Ratings come in long format: one row per (rating, scale), so a researcher's pandas or R
reads them without reshaping. Item answers go in one ``answers`` column as JSON
(``{"bond_1": 4, ...}``): instruments differ in their items, and one JSON column keeps the
columns the same whatever instruments a clinic uses. Dates and times are in the clinic's
timezone. Every export starts from ``Rating.objects.visible_to`` (the UI's scope) and takes
a fixed number of queries whatever its size.
"""

import csv
import functools
import io
import itertools
import json
import os
import zoneinfo
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import openpyxl
import pandas as pd
from django.db import models
from django.db.models import F, QuerySet, Value
from django.db.models.functions import Cast
from django.http import HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from alliance.clients import selectors as client_selectors
from alliance.models import Client, ClientContact, Flag, User
from alliance.people import selectors as people_selectors
from measures.models import ItemAnswer, Rating, ScaleScore
from measures.selectors import instrument_definition

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
# A background job's progress report (alliance.jobs): called with the rows done so far.
Progress = Callable[[int], None]


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
    client = client_selectors.client_get(user, client_id) if client_id is not None else None
    therapist = None
    if therapist_id is not None:
        if therapist_id == user.pk and user.is_therapist:
            therapist = user
        else:
            therapist = people_selectors.supervisee_get(user, therapist_id)
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


# Output rows per DataFrame written to the CSV stream, and rows per database round trip:
# memory stays bounded by these whatever the size of the clinic.
CSV_CHUNK_ROWS = 5_000
FETCH_ROWS = 2_000
# Rows of one Excel sheet, the heading included; a larger export is CSV only.
XLSX_MAX_ROWS = 1_048_576
# A rating's rows in the stream sort as: its own row, its answers, its scores.
_RATING, _ANSWER, _SCORE = "1", "2", "3"
# The stream's columns (see _rating_rows); the rating's own ones are empty on the others.
_STREAM_COLUMNS = (
    "kind",
    "code",
    "number",
    "rated_by",
    "rating_pk",
    "row_pk",
    "name",
    "amount",
    "n_answers",
    "clinic_name",
    "clinic_timezone",
    "starts",
    "submitted",
    "instrument_key",
    "instrument_version",
)


class ExportTooLarge(Exception):
    """The export has more rows than the format holds (Excel); the message says what to do."""


_STREAM_TYPES = {
    "amount": models.FloatField(),
    "n_answers": models.IntegerField(),
    "starts": models.DateTimeField(),
    "submitted": models.DateTimeField(),
    "instrument_version": models.IntegerField(),
}


def _stream_columns(kind: str, rating: str, **columns) -> dict:
    """_STREAM_COLUMNS as expressions for one part of the union: the sort keys (``rating``:
    the path to the rating), then ``columns``, the others NULL. The first part (the
    ratings', ``rating`` empty) gives the columns their Python converters: its NULLs and
    kind are text, so none runs per row; the other parts' NULLs are typed, as PostgreSQL
    matches the parts' types two at a time."""
    text = models.CharField()
    if rating:
        nulls = {name: Cast(Value(None), _STREAM_TYPES.get(name, text)) for name in _STREAM_COLUMNS}
    else:
        nulls = {name: Value(None, output_field=text) for name in _STREAM_COLUMNS}
    return (
        nulls
        | {
            "kind": Value(kind, output_field=text),
            "code": F(f"{rating}session__client__code"),
            "number": F(f"{rating}session__number"),
            "rated_by": F(f"{rating}rater"),
            "rating_pk": F(f"{rating}pk"),
            "row_pk": F("pk"),
        }
        | columns
    )


def _rating_rows(ratings: QuerySet[Rating]) -> Iterator[tuple]:
    """The ratings, their item answers and scale scores as one stream of _STREAM_COLUMNS in
    export order (client code, session number, rater, rating; per rating its own row, its
    answers, its scores, each by id). One query, so one snapshot; read FETCH_ROWS at a time
    (a server-side cursor on PostgreSQL), from the database ``ratings`` is pinned to: a
    streamed answer is read after the view has returned, outside any replica_reads()."""
    alias = ratings.db
    own = (
        Rating.objects.using(alias)
        .filter(pk__in=ratings)
        .order_by()
        .annotate(
            **_stream_columns(
                _RATING,
                "",
                clinic_name=F("session__client__clinic__name"),
                clinic_timezone=F("session__client__clinic__timezone"),
                starts=F("session__starts_at"),
                submitted=F("submitted_at"),
                instrument_key=F("instrument__key"),
                instrument_version=F("instrument__version"),
            )
        )
        .values_list(*_STREAM_COLUMNS)
    )
    answers = (
        ItemAnswer.objects.using(alias)
        .filter(rating__in=ratings)
        .order_by()
        .annotate(**_stream_columns(_ANSWER, "rating__", name=F("item"), amount=F("value")))
        .values_list(*_STREAM_COLUMNS)
    )
    scores = (
        ScaleScore.objects.using(alias)
        .filter(rating__in=ratings)
        .order_by()
        .annotate(
            **_stream_columns(
                _SCORE, "rating__", name=F("scale"), amount=F("score"), n_answers=F("n_answered")
            )
        )
        .values_list(*_STREAM_COLUMNS)
    )
    stream = own.union(answers, scores, all=True).order_by(
        "code", "number", "rated_by", "rating_pk", "kind", "row_pk"
    )
    return stream.iterator(chunk_size=FETCH_ROWS)


def rating_records(ratings: QuerySet[Rating]) -> Iterator[tuple]:
    """Long format, one tuple per (rating, scale) in RATING_COLUMNS order, text a
    spreadsheet would run as a formula already made safe (``_safe``, as safe_cells does):
    a rating at a time, so memory is one rating's answers whatever the number of ratings.
    One query."""
    answers: dict[str, float] = {}
    base: tuple = ()
    answers_json = None
    for (
        kind,
        code,
        number,
        rater,
        _rating_pk,
        _row_pk,
        name,
        amount,
        n_answers,
        clinic_name,
        clinic_timezone,
        starts,
        submitted,
        instrument_key,
        instrument_version,
    ) in _rating_rows(ratings):
        if kind == _SCORE:
            if answers_json is None:
                answers_json = _safe(json.dumps(answers, sort_keys=True))
            yield (*base, _safe(name), amount, n_answers, answers_json)
        elif kind == _ANSWER:
            answers[name] = int(amount) if float(amount).is_integer() else amount
        else:
            tz = _zone(clinic_timezone)
            base = tuple(
                _safe(value)
                for value in (
                    clinic_name,
                    code,
                    number,
                    _local(starts, tz).date().isoformat(),
                    rater,
                    instrument_key,
                    instrument_version,
                    _local(submitted, tz).isoformat(timespec="seconds"),
                )
            )
            answers, answers_json = {}, None


@functools.cache
def _zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


def _counted(records: Iterable[tuple], progress: Progress | None) -> Iterator[tuple]:
    """The records, telling ``progress`` the rows read every FETCH_ROWS rows and at the end."""
    if progress is None:
        yield from records
        return
    rows = 0
    for rows, record in enumerate(records, start=1):
        yield record
        if rows % FETCH_ROWS == 0:
            progress(rows)
    progress(rows)


def ratings_rows_count(ratings: QuerySet[Rating]) -> int:
    """The export's rows (one per rating and scale), in one query."""
    return ScaleScore.objects.filter(rating__in=ratings).count()


def ratings_frame(ratings: QuerySet[Rating], progress: Progress | None = None) -> pd.DataFrame:
    """Long format, one row per (rating, scale), in RATING_COLUMNS order, formula-safe. One
    query; the whole export in memory (Excel's: the CSV is streamed by ratings_csv_chunks)."""
    records = list(_counted(rating_records(ratings), progress))
    frame = pd.DataFrame.from_records(records, columns=RATING_COLUMNS)
    return frame.astype({"session_number": "Int64", "instrument_version": "Int64"})


def ratings_csv_chunks(
    ratings: QuerySet[Rating], progress: Progress | None = None
) -> Iterator[bytes]:
    """``to_csv(ratings_frame(ratings))``, byte for byte, CSV_CHUNK_ROWS rows at a time:
    the heading before the query runs, then rows written by the csv module as pandas
    writes them (pandas' to_csv is csv.writer over the values as text: a float by its
    shortest repr, a missing value empty, the platform's line ending). ``progress`` is
    told the rows written after each chunk."""
    yield to_csv(pd.DataFrame(columns=RATING_COLUMNS))
    records = rating_records(ratings)
    rows = 0
    while chunk := list(itertools.islice(records, CSV_CHUNK_ROWS)):
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator=os.linesep).writerows(chunk)
        yield buffer.getvalue().encode("utf-8")
        rows += len(chunk)
        if progress is not None:
            progress(rows)


def to_csv(frame: pd.DataFrame) -> bytes:
    return safe_cells(frame).to_csv(index=False).encode("utf-8")


def _column_width(name: str, column: pd.Series) -> float:
    """Characters of the widest cell (the heading included), between 8 and 60."""
    shown = column.astype(object).where(column.notna(), "").astype(str).str.len()
    return min(max(len(str(name)), int(shown.max()) if len(shown) else 0, 8), 60)


def to_xlsx(sheets: dict[str, pd.DataFrame], progress: Progress | None = None) -> bytes:
    """An Excel workbook, one sheet per frame: a bold heading row (frozen), columns as wide
    as their text. openpyxl's write-only mode: rows go out as they are written, no cell
    objects kept. ExportTooLarge when a sheet has more rows than Excel holds. ``progress``
    is told the rows written, every FETCH_ROWS rows and at the end."""
    for name, frame in sheets.items():
        if len(frame) + 1 > XLSX_MAX_ROWS:
            raise ExportTooLarge(
                _(
                    "The %(sheet)s sheet would have %(rows)s rows; Excel holds %(most)s. "
                    "Download CSV instead, or export less at a time."
                )
                % {"sheet": name, "rows": f"{len(frame):,}", "most": f"{XLSX_MAX_ROWS - 1:,}"}
            )
    workbook = openpyxl.Workbook(write_only=True)
    bold = Font(bold=True)
    for name, frame in sheets.items():
        frame = safe_cells(frame)
        sheet = workbook.create_sheet(name)
        for index, (column, values) in enumerate(frame.items(), start=1):
            width = _column_width(column, values)
            sheet.column_dimensions[get_column_letter(index)].width = width
        sheet.freeze_panes = "A2"
        heading = []
        for column in frame.columns:
            cell = WriteOnlyCell(sheet, value=column)
            cell.font = bold
            heading.append(cell)
        sheet.append(heading)
        # Missing values as empty cells; numpy numbers as Python ones.
        cells = frame.astype(object).where(frame.notna(), None)
        for row in _counted(cells.itertuples(index=False, name=None), progress):
            sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def ratings_filename(scope: ExportScope, extension: str) -> str:
    return f"alliance-ratings-{scope.slug}-{timezone.localdate().isoformat()}.{extension}"


def ratings_xlsx(ratings: QuerySet[Rating], progress: Progress | None = None) -> bytes:
    """The ratings export as an Excel workbook. ExportTooLarge when it would have more rows
    than a sheet holds (counted first, one query). ``progress`` is told the steps done, two
    per row: each row read, then each row written into the workbook (the longer part)."""
    rows = ratings_rows_count(ratings)
    if rows + 1 > XLSX_MAX_ROWS:
        raise ExportTooLarge(
            _(
                "This export has %(rows)s rows; an Excel sheet holds %(most)s. Download "
                "CSV instead (any size), or export one therapist's caseload or one client "
                "at a time."
            )
            % {"rows": f"{rows:,}", "most": f"{XLSX_MAX_ROWS - 1:,}"}
        )
    frame = ratings_frame(ratings, progress)
    written = None if progress is None else (lambda rows: progress(len(frame) + rows))
    return to_xlsx({"ratings": frame}, written)


def ratings_response(user: User, scope: ExportScope, fmt: str) -> HttpResponseBase:
    """The ratings export as a download, "csv" (streamed) or "xlsx". ExportTooLarge when an
    Excel export would have more rows than a sheet holds (counted first, one query)."""
    ratings = ratings_in_scope(user, scope)
    if fmt == "xlsx":
        content = ratings_xlsx(ratings)
        return attachment(content, XLSX_TYPE, ratings_filename(scope, "xlsx"))
    # Pinned now: the router decides inside the view (the replica, for this export).
    ratings = ratings.using(ratings.db)
    response = StreamingHttpResponse(
        ratings_csv_chunks(ratings), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{ratings_filename(scope, "csv")}"'
    return response


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
    "Flags": [
        "Session number",
        "Episode",
        "Rated by",
        "Scale",
        "Signal",
        "What was noticed",
        "Status",
    ],
}


def _contact_rows(client: Client, when) -> list[tuple[str, str]]:
    """The client's address stored with consent, if any (alliance.clients.contacts)."""
    contact = (
        ClientContact.objects.filter(client=client).select_related("consent_recorded_by").first()
    )
    if contact is None:
        return []
    rows = [
        (f"Contact ({contact.get_kind_display()})", contact.address),
        (
            "Consent recorded",
            f"{when(contact.consent_recorded_at)} by {contact.consent_recorded_by or '—'}",
        ),
    ]
    if contact.reminders_stopped_at:
        rows.append(("Reminders stopped", when(contact.reminders_stopped_at)))
    return rows


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
        .select_related("session", "episode__acknowledged_by", "episode__resolved_by")
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
            # One episode is one event: its flags share the number and the workflow.
            "Episode": f.episode_id,
            "Rated by": f.get_rater_display(),
            "Scale": f.scale,
            "Signal": f.get_rule_display(),
            "What was noticed": f.explanation,
            "Repair": f.get_repair_status_display() if f.repair_status else "",
            "Status": f.episode.get_status_display(),
            "Still current": "No" if f.retired_at else "Yes",
            "Acknowledged by": str(f.episode.acknowledged_by) if f.episode.acknowledged_by else "",
            "Acknowledged": when(f.episode.acknowledged_at),
            "What was done": f.episode.action_note,
            "Resolved": when(f.episode.resolved_at),
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
            *_contact_rows(client, when),
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
