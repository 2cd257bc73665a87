"""Import of historical ratings from a CSV file: a dry run that reports every problem by
row and column, and an all-or-nothing apply.

One row per rating (the format is in docs/api.md, with docs/import-example.csv):

    client_code,session_number,session_date,rater,therapist,bond_1,...,tension,comment

- ``client_code``, ``session_number`` and ``rater`` (client / therapist) are required;
- ``session_date`` (YYYY-MM-DD, or a date and time; clinic time) is required for a session
  that does not exist yet, which is then created as completed; for an existing session it
  may be left empty and, if given, must be that session's date;
- ``therapist`` (username): who held a new session and who submitted a therapist rating;
  default: the existing session's therapist, else the client's primary therapist;
- optional ``instrument`` (key; default: the clinic's form for the rater), ``submitted_at``
  (default: the session's start) and ``language`` (en / es);
- every other column is an item or optional question of the row's instrument; empty cells
  are unanswered.

Rows are numbered as a spreadsheet shows them: the header is row 1, the first rating row 2.
"""

import bisect
import csv
import datetime as dt
import io
import re
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from alliance.flags.services import flags_refresh_or_defer
from alliance.models import Client, User
from measures.models import Instrument, Rater, Rating
from measures.scoring import ScoringError, clean_questions, score_answers
from measures.selectors import instrument_definition, instrument_for
from measures.services import rating_record
from sessions.models import TherapySession
from sessions.services import (
    NotRateable,
    session_check_rateable,
    session_complete_if_scheduled,
    session_lock_rateable,
)

REQUIRED = ("client_code", "session_number", "rater")
OPTIONAL = ("session_date", "therapist", "instrument", "submitted_at", "language")
MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 20_000
MAX_SESSION_NUMBER = 10_000
LANGUAGES = ("en", "es")
EARLIEST_YEAR = 1970
# C0 controls but tab and line breaks, and DEL: a cell holding one is not text (PostgreSQL
# refuses NUL outright), so the file is refused before any cell reaches a query.
CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Stable namespace: the same row of the same clinic always gets the same submission id.
NAMESPACE = uuid.UUID("5d2f7a0e-8c1b-4f4e-b0a9-2e6f0c7d9b31")


class ImportRejected(Exception):
    """The file has problems; nothing was imported. ``report`` lists them. A dry run raises
    it too when a cell holds a control character: such a file is not text."""

    def __init__(self, report: "ImportReport") -> None:
        self.report = report
        super().__init__(f"{len(report.problems)} problem(s); nothing was imported")


@dataclass(frozen=True)
class Problem:
    row: int
    column: str
    message: str


def _control_problem(row: int, column: str, position: int, value: str) -> Problem | None:
    found = CONTROL_CHARACTER.search(value)
    if found is None:
        return None
    return Problem(
        row,
        column,
        f"Column {position} holds a control character (U+{ord(found.group()):04X}), which is "
        "not text: remove it, or save the file again as “CSV UTF-8”.",
    )


@dataclass
class PlannedRating:
    row: int
    client: Any
    number: int
    session: Any  # the existing TherapySession, or None: created on apply
    starts_at: dt.datetime
    therapist: Any  # who holds a new session; who submits a therapist rating
    instrument: Instrument
    answers: dict[str, Any]
    questions: dict[str, Any]
    submitted_at: dt.datetime
    language: str


@dataclass
class ImportReport:
    rows: int = 0
    planned: list[PlannedRating] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    # What is imported otherwise than the file says (an answer a skipped question would hide).
    warnings: list[Problem] = field(default_factory=list)
    applied: bool = False

    @property
    def sessions_to_create(self) -> int:
        return len({(p.client.pk, p.number) for p in self.planned if p.session is None})

    def as_dict(self) -> dict:
        return {
            "applied": self.applied,
            "rows": self.rows,
            "ratings": len(self.planned),
            "sessions_created" if self.applied else "sessions_to_create": self.sessions_to_create,
            "clients": sorted({p.client.code for p in self.planned}),
            "problems": [vars(p) for p in self.problems],
            "warnings": [vars(p) for p in self.warnings],
        }


def csv_text(data: bytes) -> str:
    """The file's text (UTF-8, with or without a byte-order mark); ValueError otherwise."""
    if len(data) > MAX_BYTES:
        raise ValueError(f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError("The file is not UTF-8 text: save it as “CSV UTF-8”.") from None


class _Context:
    """Everything the rows refer to, loaded in a fixed number of queries."""

    def __init__(self, clinic, rows: list[dict[str, str]]):
        self.clinic = clinic
        codes = {(row.get("client_code") or "").strip() for row in rows}
        self.clients = {
            c.code: c
            for c in Client.objects.filter(clinic=clinic, code__in=codes).select_related(
                "primary_therapist"
            )
        }
        self.sessions = {
            (s.client_id, s.number): s
            for s in TherapySession.objects.filter(client__in=self.clients.values())
        }
        self.numbers: dict[int, list[int]] = defaultdict(list)
        for client_id, number in sorted(self.sessions):
            self.numbers[client_id].append(number)
        self.rated = set(
            Rating.objects.filter(session__client__in=self.clients.values()).values_list(
                "session__client_id", "session__number", "rater"
            )
        )
        names = {(row.get("therapist") or "").strip() for row in rows}
        self.therapists = {
            u.username: u
            for u in User.objects.filter(
                clinic=clinic, is_therapist=True, is_active=True, username__in=names
            )
        }
        keys = {(row.get("instrument") or "").strip() for row in rows} - {""}
        self.instruments: dict[str, Instrument] = {}
        for instrument in Instrument.objects.filter(key__in=keys, is_active=True).order_by(
            "key", "-version"
        ):
            self.instruments.setdefault(instrument.key, instrument)
        self.defaults: dict[str, Instrument | None] = {}
        for rater in Rater.values:
            try:
                self.defaults[rater] = instrument_for(clinic=clinic, rater=rater)
            except Instrument.DoesNotExist:
                self.defaults[rater] = None
        self.tz = clinic.tzinfo
        self.now = timezone.now()

    def known_columns(self) -> set[str]:
        columns = set(REQUIRED) | set(OPTIONAL)
        for instrument in [*self.instruments.values(), *self.defaults.values()]:
            if instrument is not None:
                definition = instrument_definition(instrument)
                columns |= {item.key for item in definition.items}
                columns |= {question.key for question in definition.questions}
        return columns


def _when(value: str, tz) -> dt.datetime:
    """A date (noon, clinic time) or a date and time (clinic time unless it has an offset)."""
    try:
        day = parse_date(value)
        if day is not None:
            moment = dt.datetime.combine(day, dt.time(12), tzinfo=tz)
        else:
            moment = parse_datetime(value)
    except ValueError:
        moment = None
    if moment is None:
        raise ValueError(f"“{value}” is not a date (YYYY-MM-DD) or a date and time.")
    moment = moment if timezone.is_aware(moment) else moment.replace(tzinfo=tz)
    if moment.year < EARLIEST_YEAR:
        raise ValueError(f"“{value}” is before {EARLIEST_YEAR}.")
    return moment


class _Row:
    """One CSV row checked against the context; problems go to ``problems``."""

    def __init__(self, number: int, cells: dict[str, str], ctx: _Context, report: ImportReport):
        self.number, self.cells, self.ctx = number, cells, ctx
        self.problems, self.warnings = report.problems, report.warnings

    def problem(self, column: str, message: str) -> None:
        self.problems.append(Problem(self.number, column, message))

    def warning(self, column: str, message: str) -> None:
        self.warnings.append(Problem(self.number, column, message))

    def cell(self, column: str) -> str:
        return (self.cells.get(column) or "").strip()

    def check(self) -> PlannedRating | None:
        before = len(self.problems)
        ctx = self.ctx
        client = ctx.clients.get(self.cell("client_code"))
        if not self.cell("client_code"):
            self.problem("client_code", "Enter the client's code.")
        elif client is None:
            self.problem("client_code", f"No client “{self.cell('client_code')}” in this clinic.")
        number = self._number()
        rater = self.cell("rater").lower()
        if rater not in Rater.values:
            self.problem("rater", "Enter “client” or “therapist”.")
            rater = None
        instrument = self._instrument(rater)
        language = self.cell("language").lower() or (client.language if client else "en")
        if language not in LANGUAGES:
            self.problem("language", f"Enter one of {', '.join(LANGUAGES)}.")
        if client is None or number is None or rater is None or instrument is None:
            self._answers(instrument)  # still report answer problems on this row
            return None

        session = ctx.sessions.get((client.pk, number))
        starts_at = self._session_when(client, number, session)
        therapist = self._therapist(client, session)
        if (client.pk, number, rater) in ctx.rated:
            self.problem(
                "rater", f"Session {number} of {client.code} already has a {rater} rating."
            )
        submitted_at = starts_at
        if self.cell("submitted_at"):
            try:
                submitted_at = _when(self.cell("submitted_at"), ctx.tz)
            except ValueError as exc:
                self.problem("submitted_at", str(exc))
            else:
                if submitted_at > ctx.now:
                    self.problem("submitted_at", "This time is in the future.")
        answers, questions = self._answers(instrument)
        if len(self.problems) > before or starts_at is None or therapist is None:
            return None
        return PlannedRating(
            row=self.number,
            client=client,
            number=number,
            session=session,
            starts_at=starts_at,
            therapist=therapist,
            instrument=instrument,
            answers=answers,
            questions=questions,
            submitted_at=submitted_at,
            language=language,
        )

    def _number(self) -> int | None:
        raw = self.cell("session_number")
        try:
            number = int(raw)
        except ValueError:
            number = None
        if number is None or not 1 <= number <= MAX_SESSION_NUMBER:
            self.problem("session_number", f"Enter a whole number from 1 to {MAX_SESSION_NUMBER}.")
            return None
        return number

    def _instrument(self, rater: str | None) -> Instrument | None:
        key = self.cell("instrument")
        if key:
            instrument = self.ctx.instruments.get(key)
            if instrument is None:
                self.problem("instrument", f"No active instrument “{key}”.")
                return None
            if rater is not None and instrument.rater != rater:
                self.problem("instrument", f"“{key}” is a {instrument.rater} form.")
                return None
            return instrument
        if rater is None:
            return None
        instrument = self.ctx.defaults.get(rater)
        if instrument is None:
            self.problem("instrument", f"No {rater} instrument is loaded.")
        return instrument

    def _check_order(self, client, number: int, when: dt.datetime) -> None:
        """A new session's number must fit its date among the client's existing sessions."""
        numbers = self.ctx.numbers[client.pk]
        at = bisect.bisect_left(numbers, number)
        before = numbers[at - 1] if at > 0 else None
        after = numbers[at] if at < len(numbers) else None
        for neighbour, wrong in ((before, lambda t: when < t), (after, lambda t: when > t)):
            if neighbour is None:
                continue
            other = self.ctx.sessions[(client.pk, neighbour)].starts_at
            if wrong(other):
                day = timezone.localtime(other, self.ctx.tz).date().isoformat()
                self.problem(
                    "session_number",
                    f"Session {number} cannot be dated {when.date().isoformat()}: session "
                    f"{neighbour} of this client was on {day}.",
                )

    def _session_when(self, client, number: int, session) -> dt.datetime | None:
        raw = self.cell("session_date")
        when = None
        if raw:
            try:
                when = _when(raw, self.ctx.tz)
            except ValueError as exc:
                self.problem("session_date", str(exc))
                return None
        if session is None:
            if when is None:
                self.problem("session_date", "Enter the date of this new session.")
            elif self._rateable("session_date", TherapySession(number=number, starts_at=when)):
                self._check_order(client, number, when)
            return when
        local = timezone.localtime(session.starts_at, self.ctx.tz)
        if when is not None and when.astimezone(self.ctx.tz).date() != local.date():
            self.problem(
                "session_date",
                f"Session {session.number} of this client was on {local.date().isoformat()}.",
            )
        self._rateable("session_number", session)
        return session.starts_at

    def _rateable(self, column: str, session) -> bool:
        """The rule every path applies (sessions.services.session_check_rateable)."""
        try:
            session_check_rateable(session=session, now=self.ctx.now)
        except NotRateable as exc:
            self.problem(column, exc.messages[0])
            return False
        return True

    def _therapist(self, client, session):
        username = self.cell("therapist")
        if username:
            therapist = self.ctx.therapists.get(username)
            if therapist is None:
                self.problem("therapist", f"No active therapist “{username}” in this clinic.")
            return therapist
        if session is not None:
            return session.therapist
        return client.primary_therapist

    def _answers(self, instrument: Instrument | None) -> tuple[dict, dict]:
        answers: dict[str, Any] = {}
        questions: dict[str, Any] = {}
        if instrument is None:
            return answers, questions
        definition = instrument_definition(instrument)
        items = {item.key for item in definition.items}
        asked = {question.key for question in definition.questions}
        for column, value in self.cells.items():
            if column in REQUIRED or column in OPTIONAL:
                continue
            value = (value or "").strip()
            if column in items:
                answers[column] = value or None
            elif column in asked:
                questions[column] = value or None
            elif value:
                self.problem(column, f"Not an item of {instrument.key} (v{instrument.version}).")
        try:
            score_answers(definition, answers)
        except ScoringError as exc:
            for key, message in exc.errors.items():
                self.problem(key, message)
        try:
            cleaned = clean_questions(definition, questions)
        except ScoringError as exc:
            for key, message in exc.errors.items():
                self.problem(key, message)
        else:
            self._warn_hidden(definition, questions, cleaned)
        if not any(value is not None for value in answers.values()):
            self.problem("", "The row answers no item.")
        return answers, questions

    def _warn_hidden(self, definition, questions: dict, cleaned: dict) -> None:
        """A follow-up answered although its question was not answered yes is not imported
        (as the form hides it): say so rather than drop it silently."""
        for question in definition.questions:
            value = questions.get(question.key)
            if question.shown_if is None or value is None or cleaned[question.shown_if]:
                continue
            given = questions.get(question.shown_if)
            self.warning(
                question.key,
                f"“{value}” is not imported: {question.key} only counts when "
                f"{question.shown_if} is “yes” "
                + (f"(here “{given}”)." if given else f"(here {question.shown_if} is empty)."),
            )


def ratings_import_check(*, clinic, text: str) -> ImportReport:
    """Check every row of the CSV text against the clinic's data; nothing is written."""
    report = ImportReport()
    reader = csv.DictReader(io.StringIO(text, newline=""), restkey="\0extra")
    try:
        header = reader.fieldnames or []
        rows = []
        for cells in reader:
            if len(rows) >= MAX_ROWS:
                report.problems.append(Problem(1, "", f"At most {MAX_ROWS} rows per file."))
                return report
            rows.append(cells)
    except csv.Error as exc:
        report.problems.append(Problem(reader.line_num, "", f"Not readable as CSV: {exc}."))
        return report
    header = [name.strip() for name in header]
    unreadable = [
        problem
        for position, name in enumerate(header, start=1)
        if (problem := _control_problem(1, "", position, name))
    ]
    if unreadable:
        report.problems.extend(unreadable)
        raise ImportRejected(report)
    missing = [name for name in REQUIRED if name not in header]
    for name in missing:
        report.problems.append(Problem(1, name, "This column is required."))
    duplicates = {name for name in header if header.count(name) > 1}
    for name in sorted(duplicates):
        report.problems.append(Problem(1, name, "This column appears more than once."))
    if missing or duplicates or not rows:
        if not rows and not missing:
            report.problems.append(Problem(1, "", "The file has no rows to import."))
        return report
    rows = [{(k or "").strip(): v for k, v in cells.items()} for cells in rows]
    unreadable = _control_problems(header, rows)
    for problems in unreadable.values():
        report.problems.extend(problems)
    ctx = _Context(
        clinic, [cells for index, cells in enumerate(rows, start=2) if index not in unreadable]
    )
    for name in header:
        if name not in ctx.known_columns():
            report.problems.append(
                Problem(1, name, "Unknown column: not a field nor an item of any form in use.")
            )
    report.rows = len(rows)
    seen: dict[tuple, int] = {}
    for index, cells in enumerate(rows, start=2):
        if index in unreadable:
            continue
        extra = cells.pop("\0extra", None)
        if extra:
            report.problems.append(Problem(index, "", "The row has more cells than the header."))
            continue
        planned = _Row(index, cells, ctx, report).check()
        if planned is None:
            continue
        key = (planned.client.pk, planned.number, planned.instrument.rater)
        if key in seen:
            report.problems.append(
                Problem(index, "rater", f"Duplicate of row {seen[key]} (same session and rater).")
            )
            continue
        seen[key] = index
        report.planned.append(planned)
    _check_new_sessions(report)
    if unreadable:
        raise ImportRejected(report)
    return report


def _control_problems(header: list[str], rows: list[dict[str, Any]]) -> dict[int, list[Problem]]:
    """The cells holding a control character, by row number."""
    found: dict[int, list[Problem]] = {}
    for index, cells in enumerate(rows, start=2):
        for position, column in enumerate(header, start=1):
            value = cells.get(column)
            if isinstance(value, str) and (
                problem := _control_problem(index, column, position, value)
            ):
                found.setdefault(index, []).append(problem)
    return found


def _check_new_sessions(report: ImportReport) -> None:
    """Rows that create the same new session must agree on its date and therapist."""
    first: dict[tuple, PlannedRating] = {}
    for planned in report.planned:
        if planned.session is not None:
            continue
        key = (planned.client.pk, planned.number)
        other = first.setdefault(key, planned)
        if other is not planned and (
            other.starts_at != planned.starts_at or other.therapist != planned.therapist
        ):
            report.problems.append(
                Problem(
                    planned.row,
                    "session_date",
                    f"Row {other.row} gives this new session another date or therapist.",
                )
            )


def _submission_id(clinic, planned: PlannedRating) -> uuid.UUID:
    rater = planned.instrument.rater
    return uuid.uuid5(NAMESPACE, f"{clinic.pk}:{planned.client.code}:{planned.number}:{rater}")


def ratings_import_apply(*, clinic, text: str) -> ImportReport:
    """Check, then import every row in one transaction: all rows or none.

    Missing sessions are created as completed; ratings are stored through rating_record
    (measures), then each affected client's flags are refreshed once at the end (alliance).
    Raises ImportRejected (nothing written) when any row has a problem.
    """
    with transaction.atomic():
        report = ratings_import_check(clinic=clinic, text=text)
        if report.problems:
            raise ImportRejected(report)
        created: dict[tuple, TherapySession] = {}
        for planned in report.planned:
            session = planned.session
            if session is None:
                key = (planned.client.pk, planned.number)
                if key not in created:
                    created[key] = TherapySession.objects.create(
                        client=planned.client,
                        therapist=planned.therapist,
                        number=planned.number,
                        starts_at=planned.starts_at,
                        status=TherapySession.Status.COMPLETED,
                    )
                session = created[key]
            else:
                try:
                    # Checked again under a lock: the session may have been cancelled since.
                    session_lock_rateable(session=session)
                except ValidationError as exc:
                    report.problems.extend(
                        Problem(planned.row, "session_number", m) for m in exc.messages
                    )
                    continue
                session_complete_if_scheduled(session=session)
            is_therapist = planned.instrument.rater == Rater.THERAPIST
            try:
                rating_record(
                    session=session,
                    instrument=planned.instrument,
                    answers=planned.answers,
                    questions=planned.questions,
                    submitted_by=planned.therapist if is_therapist else None,
                    submission_id=_submission_id(clinic, planned),
                    language=planned.language,
                    submitted_at=planned.submitted_at,
                )
            except ValidationError as exc:
                report.problems.extend(Problem(planned.row, "", m) for m in exc.messages)
        if report.problems:
            raise ImportRejected(report)
        for client in {planned.client.pk: planned.client for planned in report.planned}.values():
            flags_refresh_or_defer(client=client, notify=False)  # past ratings: no news
        report.applied = True
    return report
