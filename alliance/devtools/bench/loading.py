"""Bulk loading for the synthetic clinic: COPY on PostgreSQL, executemany on SQLite.

Scale L (1.2 million ratings, ~7 million item answers) is too much for model instances and
bulk_create: rows are plain tuples here, written per chunk with ``COPY ... FROM STDIN`` (the
fastest way into PostgreSQL, ~10x bulk_create) or ``executemany`` elsewhere. Sessions and
ratings get their ids from ``IdBlock`` (the benchmark's database is its own and fresh), so
that the rows that point at them can be written in the same pass; ``reset_sequences`` moves
the id sequences past them afterwards.
"""

import io
from collections.abc import Iterable, Sequence

from django.core.management.color import no_style
from django.db import connection, models


class IdBlock:
    """Ids for new rows of a model, after its highest existing one."""

    def __init__(self, model: type[models.Model]) -> None:
        highest = model.objects.aggregate(highest=models.Max("pk"))["highest"]
        self.next = (highest or 0) + 1

    def take(self) -> int:
        taken = self.next
        self.next += 1
        return taken


def reset_sequences(*models_: type[models.Model]) -> None:
    """Move the id sequences past explicitly written ids (a no-op where there are none)."""
    statements = connection.ops.sequence_reset_sql(no_style(), list(models_))
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


class Table:
    """Write rows of ``columns`` (attnames) into a model's table.

    Every other column gets its constant default (or "" for blank text, or NULL), written
    with every row; a model that gains a column without one fails here, loudly, rather than
    loading wrong data.
    Values of datetime, UUID and boolean columns are converted by their fields.
    """

    def __init__(self, model: type[models.Model], columns: Sequence[str]) -> None:
        fields = {f.attname: f for f in model._meta.concrete_fields}
        unknown = set(columns) - set(fields)
        if unknown:
            raise ValueError(f"{model.__name__} has no columns {sorted(unknown)}")
        self.constants: dict[str, object] = {}
        for attname, field in fields.items():
            if attname in columns or field.primary_key:
                continue
            if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                raise ValueError(f"{model.__name__}.{attname}: give its time as a column")
            if field.has_default() and callable(field.default):
                raise ValueError(f"{model.__name__}.{attname}: its default is not a constant")
            # The declared default, else what Django would write ("" for blank text, None).
            value = field.get_default()
            if value is None and not field.null:
                raise ValueError(f"{model.__name__}.{attname} needs a value")
            self.constants[attname] = field.get_db_prep_save(value, connection)
        self.table = model._meta.db_table
        self.columns = list(columns)
        self.convert = [
            (
                (lambda v, f=fields[c]: f.get_db_prep_save(v, connection))
                if isinstance(
                    fields[c], models.DateTimeField | models.UUIDField | models.BooleanField
                )
                else None
            )
            for c in self.columns
        ]

    def _prepared(self, rows: Iterable[Sequence]) -> list[tuple]:
        constants = tuple(self.constants.values())
        converters = list(enumerate(self.convert))
        out = []
        for row in rows:
            values = list(row)
            for i, convert in converters:
                if convert is not None and values[i] is not None:
                    values[i] = convert(values[i])
            out.append((*values, *constants))
        return out

    def write(self, rows: Iterable[Sequence]) -> int:
        prepared = self._prepared(rows)
        if not prepared:
            return 0
        names = [*self.columns, *self.constants]
        quoted = ", ".join(connection.ops.quote_name(c) for c in names)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                buffer = io.StringIO("".join(_copy_line(row) for row in prepared))
                cursor.cursor.copy_expert(
                    f"COPY {connection.ops.quote_name(self.table)} ({quoted}) FROM STDIN",
                    buffer,
                )
            else:
                marks = ", ".join(["%s"] * len(names))
                cursor.executemany(
                    f"INSERT INTO {connection.ops.quote_name(self.table)} ({quoted}) "
                    f"VALUES ({marks})",
                    prepared,
                )
        return len(prepared)


COPY_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _copy_value(value) -> str:
    """One value in COPY's text format."""
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    text = str(value)
    if any(c in text for c in COPY_ESCAPES):
        text = "".join(COPY_ESCAPES.get(c, c) for c in text)
    return text


def _copy_line(row: Sequence) -> str:
    return "\t".join(_copy_value(v) for v in row) + "\n"
