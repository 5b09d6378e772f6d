"""``column IN (subquery)`` that PostgreSQL answers through the column's index.

For ``case_record.case_id IN (SELECT case_id FROM case_event WHERE kind = ...)`` over
20,000 open cases, PostgreSQL's planner prefers a hash semi-join over a sequential scan of
``case_record``, although the subquery yields a few hundred ids. Written as
``case_id = ANY(ARRAY(subquery))``, the subquery runs once (an init plan) and the ids are
looked up through the primary key: ~4x less work on the queue's timeline-driven buckets.
Other databases (SQLite in the tests) get the plain ``IN``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, ColumnElement, Select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped
from sqlalchemy.sql import coercions, roles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal


class AnyOf(ColumnElement[bool]):
    """``column`` is one of the values ``subquery`` selects."""

    inherit_cache = True
    type = Boolean()
    _traverse_internals = [  # noqa: RUF012  (SQLAlchemy's declaration, for the cache key)
        ("column", InternalTraversal.dp_clauseelement),
        ("subquery", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: ColumnElement[Any] | Mapped[Any], subquery: Select[Any]) -> None:
        self.column: ColumnElement[Any] = coercions.expect(roles.ExpressionElementRole, column)
        self.subquery = subquery


@compiles(AnyOf)
def _any_of(element: AnyOf, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.column.in_(element.subquery), **kw)


@compiles(AnyOf, "postgresql")
def _any_of_postgresql(element: AnyOf, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    subquery = compiler.process(element.subquery.scalar_subquery(), **kw)
    return f"{column} = ANY(ARRAY{subquery})"
