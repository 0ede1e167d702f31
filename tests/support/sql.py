"""Helpers to look at compiled SQL in tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select
from sqlalchemy.engine import Dialect


def duck_dialect() -> Dialect:
    from duckdb_engine import Dialect as DuckDialect

    return DuckDialect()


def compiled_sql(stmt: Select[Any], dialect: Dialect | None = None) -> tuple[str, dict[str, Any]]:
    """SQL text (with post-compile params expanded) and the bound parameter values."""
    d = dialect or duck_dialect()
    text = str(stmt.compile(dialect=d, compile_kwargs={"render_postcompile": True}))
    return text, dict(stmt.compile(dialect=d).params)
