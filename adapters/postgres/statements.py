from __future__ import annotations

from typing import Any

from peewee import SQL, Field, Query

Statement = tuple[str, list[Any]]


def rendered(query: Query) -> Statement:
    sql, parameters = query.sql()
    return sql, list(parameters)


class PreparedInsert:
    """An INSERT of one row that peewee renders once; each use only converts the row's values.

    peewee takes longer to render an INSERT than a local server takes to run it, and every
    ingestion inserts two rows: the hot path pays for the conversion of its values alone.
    """

    def __init__(self, *fields: Field) -> None:
        model = fields[0].model
        query = model.insert_many([tuple(SQL("%s") for _ in fields)], fields=list(fields)).returning()
        self._sql, _ = query.sql()
        self._fields = fields

    def __call__(self, **values: Any) -> Statement:
        if values.keys() != {field.name for field in self._fields}:
            raise TypeError(f"expected the values of {', '.join(field.name for field in self._fields)}")
        return self._sql, [field.db_value(values[field.name]) for field in self._fields]  # type: ignore[no-untyped-call]
