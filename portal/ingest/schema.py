"""What an import loads into: the target schema (columns, checks, keys) and the import options.

Both are pydantic models with ``extra="forbid"``: a misspelt option is a 422 naming it, never a
silently ignored setting. Column names are the identifiers queries use (validated here, so the
load can quote them safely); the original header text becomes the column's label.
"""

from __future__ import annotations

import os
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from portal.data.tenant_sources import check_name

ColumnKind = Literal["int", "float", "string", "bool", "datetime", "date"]
Mode = Literal["create", "append", "replace", "upsert"]
#: Date formats the loader understands (strptime syntax, as DuckDB's ``strptime`` reads them).
DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y")
DATETIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%d/%m/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M",
)
DELIMITERS = (",", ";", "\t", "|")
IDENT_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
MAX_COLUMNS = 2000  #: columns an import accepts (a 10,000-column file is refused up front)
DEFAULT_MAX_BYTES = 2 * 1024**3  #: file size limit unless ``CONDUCTOR_IMPORT_MAX_BYTES`` says otherwise


def max_file_bytes() -> int:
    """The upload/import size limit in bytes (env ``CONDUCTOR_IMPORT_MAX_BYTES``, default 2 GB)."""
    raw = os.environ.get("CONDUCTOR_IMPORT_MAX_BYTES", "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else DEFAULT_MAX_BYTES


class ColumnSchema(BaseModel):
    """One target column: its type and the checks every row must pass."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    type: ColumnKind = "string"
    label: str = Field(default="", max_length=200)
    required: bool = False
    min: float | None = None
    max: float | None = None
    allowed: list[str] | None = Field(default=None, max_length=1000)
    #: strptime format of a date/datetime column (None: detected, ISO by default).
    date_format: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not IDENT_RE.match(v):
            raise ValueError(f"{v!r} is not a column name (lower-case letters, digits, _; at most 63)")
        return v

    @field_validator("date_format")
    @classmethod
    def _fmt(cls, v: str | None) -> str | None:
        if v is not None and v not in DATE_FORMATS + DATETIME_FORMATS:
            raise ValueError(f"one of {', '.join(DATE_FORMATS + DATETIME_FORMATS)}")
        return v

    @model_validator(mode="after")
    def _range(self) -> ColumnSchema:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min is greater than max")
        if (self.min is not None or self.max is not None) and self.type not in ("int", "float"):
            raise ValueError("min/max apply to int and float columns only")
        return self


class ImportOptions(BaseModel):
    """How to read the file and where to load it. Overrides given here win over detection."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    table: str
    mode: Mode = "create"
    key_columns: list[str] = Field(default_factory=list, max_length=20)
    all_or_nothing: bool = False
    encoding: str | None = Field(default=None, max_length=40)
    delimiter: str | None = None
    decimal: Literal[".", ","] | None = None
    date_format: str | None = None
    #: Whether the first row names the columns (None: detected).
    header: bool | None = None
    sheet: str | None = Field(default=None, max_length=200)
    #: Column overrides by (normalised) name: type, checks, label. Columns not listed keep
    #: their detected type.
    columns: list[ColumnSchema] | None = Field(default=None, max_length=MAX_COLUMNS)
    scope: dict[Literal["location", "contract", "customer"], str] = Field(default_factory=dict)
    time_column: str | None = None
    label: str = Field(default="", max_length=200)
    description: str = Field(default="", max_length=2000)

    @field_validator("table")
    @classmethod
    def _table(cls, v: str) -> str:
        return check_name(v, field="table")

    @field_validator("delimiter")
    @classmethod
    def _delimiter(cls, v: str | None) -> str | None:
        if v is not None and v not in DELIMITERS:
            raise ValueError("one of ',', ';', '\\t', '|'")
        return v

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, v: str | None) -> str | None:
        if v is None:
            return v
        import codecs

        try:
            return codecs.lookup(v).name
        except LookupError:
            raise ValueError(f"unknown encoding {v!r}") from None

    @field_validator("date_format")
    @classmethod
    def _date_format(cls, v: str | None) -> str | None:
        if v is not None and v not in DATE_FORMATS + DATETIME_FORMATS:
            raise ValueError(f"one of {', '.join(DATE_FORMATS + DATETIME_FORMATS)}")
        return v

    @field_validator("key_columns")
    @classmethod
    def _keys(cls, v: list[str]) -> list[str]:
        for k in v:
            if not IDENT_RE.match(k):
                raise ValueError(f"{k!r} is not a column name")
        if len(set(v)) != len(v):
            raise ValueError("a key column appears twice")
        return v

    @model_validator(mode="after")
    def _upsert(self) -> ImportOptions:
        if self.mode == "upsert" and not self.key_columns:
            raise ValueError("key_columns: upsert needs the key columns that identify a row")
        return self

    def check_columns(self, names: set[str]) -> None:
        """Refuse (422 naming the option) key, scope or time columns the file does not have."""
        from portal.errors import InvalidSpec

        for fld, wanted in (
            ("key_columns", list(self.key_columns)),
            ("scope", list(self.scope.values())),
            ("time_column", [self.time_column] if self.time_column else []),
        ):
            for k in wanted:
                if k not in names:
                    raise InvalidSpec(f"{fld}: the file has no column {k!r}", field=fld)

    def column_override(self, name: str) -> ColumnSchema | None:
        """The user's settings for column ``name``, if any."""
        for c in self.columns or ():
            if c.name == name:
                return c
        return None
