"""What a CSV file looks like, from its first megabyte: encoding, delimiter, header, column types.

Pure functions over bytes and text (the only I/O is :func:`sniff_file` reading the head), so
every rule is unit-tested without a server. What the user says in :class:`ImportOptions`
(encoding, delimiter, decimal, date format, header, column types) always wins over a guess.

Dates: ISO (``2024-03-31``), ``dd/mm/yyyy`` and ``mm/dd/yyyy``; a slash date is day-first
when some first part is above 12, month-first when some second part is, and day-first when
nothing tells (the ambiguity is reported so the preview can show it). Numbers with a decimal
comma (``1.234,56``) make a ``float`` column read with ``,`` as the decimal separator.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from portal.errors import InvalidSpec
from portal.ingest.schema import DELIMITERS, MAX_COLUMNS, ColumnKind, ImportOptions

HEAD_BYTES = 1024 * 1024  #: how much of a file detection reads
PREVIEW_ROWS = 20
SAMPLE_ROWS = 5000  #: rows of the head used to infer column types

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_INT_RE = re.compile(r"^[+-]?\d{1,18}$")
_FLOAT_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_COMMA_FLOAT_RE = re.compile(r"^[+-]?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?$")
_ISO_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?$")
_SLASH_DATE_RE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_SLASH_DATETIME_RE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4}) \d{1,2}:\d{2}(:\d{2})?$")
_LEADING_ZERO_RE = re.compile(r"^[+-]?0\d")
_BOOLS = frozenset({"true", "false", "t", "f"})
_IDENT_BAD = re.compile(r"[^a-z0-9_]+")


@dataclass(frozen=True)
class ColumnGuess:
    """A column as detected: the name queries use, the header text, the type and how to read it."""

    name: str
    label: str
    type: ColumnKind
    #: strptime format for a date/datetime that is not ISO (None: ISO, read natively).
    date_format: str | None = None
    #: A float written with a decimal comma (``1.234,56``).
    decimal_comma: bool = False
    #: The day/month order could not be told from the sample (it read day-first).
    ambiguous: bool = False


@dataclass(frozen=True)
class Sniffed:
    """Everything the load needs to read the file, and the preview the user checks."""

    encoding: str
    bom: bool
    delimiter: str
    quotechar: str
    header: bool
    decimal: str
    columns: tuple[ColumnGuess, ...]
    preview: list[list[str]] = field(default_factory=list)
    #: Bytes per data row in the head (estimates the row count from file size for progress).
    avg_row_bytes: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON form for the upload answer's ``preview``."""
        out = asdict(self)
        out["columns"] = [asdict(c) for c in self.columns]
        return out


# --------------------------------------------------------------------------- encoding
def detect_encoding(head: bytes, override: str | None = None) -> tuple[str, int]:
    """``(encoding, bom_length)``: a BOM decides, then strict UTF-8, then charset-normalizer."""
    for bom, name in _BOMS:
        if head.startswith(bom):
            if override and codecs.lookup(override).name != codecs.lookup(name).name:
                # The user named another encoding: trust them, but never feed the BOM as data.
                return codecs.lookup(override).name, len(bom)
            return name, len(bom)
    if override:
        name = codecs.lookup(override).name
        # Without a BOM the byte order must be named: UTF-16 files from Windows are little-endian.
        return ("utf-16-le" if name == "utf-16" else name), 0
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(head, final=False)  # a character cut by the 1 MB boundary is fine
        return "utf-8", 0
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(head[:HEAD_BYTES]).best()
    name = codecs.lookup(best.encoding).name if best is not None else "cp1252"
    if name != "cp1252" and _single_byte(name):
        # Single-byte code pages read the same bytes as different letters and detection often
        # picks a Central European one for Portuguese or French text: Windows-1252 (Western
        # Europe, the spreadsheets' default) wins whenever it can read the bytes at all.
        try:
            head.decode("cp1252")
            return "cp1252", 0
        except UnicodeDecodeError:
            pass
    return name, 0


def _single_byte(encoding: str) -> bool:
    return encoding.startswith(("cp12", "iso8859", "latin", "mac-", "mac_", "cp8", "kz1048"))


def decode_head(head: bytes, encoding: str, bom: int, *, truncated: bool) -> str:
    """The head as text; a trailing partial line is dropped when the file goes on."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    # The utf-16 codec learns the byte order from the BOM itself.
    text = decoder.decode(head if encoding == "utf-16" else head[bom:], final=not truncated)
    if truncated:
        text = text[: text.rfind("\n") + 1]  # no newline at all: nothing complete was read
    return text


# --------------------------------------------------------------------------- dialect
def parse_rows(text: str, delimiter: str, quotechar: str = '"', limit: int | None = None) -> list[list[str]]:
    """CSV records of ``text`` (quotes and embedded newlines handled by :mod:`csv`)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar=quotechar)
    rows: list[list[str]] = []
    try:
        for row in reader:
            if not row:
                continue
            rows.append(row)
            if limit is not None and len(rows) >= limit:
                break
    except csv.Error:
        pass  # an unterminated quote at the end of the head: what was read still tells
    return rows


def detect_delimiter(text: str, override: str | None = None) -> str:
    """The delimiter among ``, ; \\t |`` that splits the first records most consistently."""
    if override:
        return override
    best, best_score = ",", (-1.0, 0)
    sample = text[:200_000]
    for d in DELIMITERS:
        rows = parse_rows(sample, d, limit=50)
        if not rows:
            continue
        counts = Counter(len(r) for r in rows)
        width, freq = counts.most_common(1)[0]
        if width < 2:
            continue
        score = (freq / len(rows), width)
        if score > best_score:
            best, best_score = d, score
    return best


# --------------------------------------------------------------------------- names
def column_name(label: str, index: int) -> str:
    """An identifier for a header text: ascii lower-case, ``_`` for the rest; ``col_N`` if empty."""
    ascii_text = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode()
    name = _IDENT_BAD.sub("_", ascii_text.strip().lower()).strip("_")[:60]
    if not name:
        return f"col_{index + 1}"
    return f"c_{name}"[:63] if name[0].isdigit() else name


def column_names(header: Sequence[str]) -> list[str]:
    """Unique identifiers for a header row (a repeated name gets ``_2``, ``_3``...)."""
    out: list[str] = []
    seen: set[str] = set()
    for i, label in enumerate(header):
        base = column_name(label, i)
        name, n = base, 1
        while name in seen:
            n += 1
            name = f"{base[:58]}_{n}"
        seen.add(name)
        out.append(name)
    return out


# --------------------------------------------------------------------------- types
def _slash_order(values: Sequence[str], pattern: re.Pattern[str]) -> tuple[str, bool] | None:
    """``("dmy"|"mdy", ambiguous)`` if every value is a slash date; None otherwise."""
    first_big = second_big = False
    for v in values:
        m = pattern.match(v)
        if m is None:
            return None
        a, b = int(m.group(1)), int(m.group(2))
        if a > 31 or b > 31:
            return None
        first_big |= a > 12
        second_big |= b > 12
    if first_big and second_big:
        return None  # 13/01 and 01/13 in one column: not one date format
    if second_big:
        return "mdy", False
    return "dmy", not first_big


#: Share of sampled values that must fit a type for the column to get it; the others are bad
#: rows at load time (a "n/a" among prices keeps the column numeric, it does not make it text).
MAJORITY = 0.9
_TYPED = (
    _INT_RE,
    _FLOAT_RE,
    _COMMA_FLOAT_RE,
    _ISO_DATE_RE,
    _ISO_DATETIME_RE,
    _SLASH_DATE_RE,
    _SLASH_DATETIME_RE,
)


def infer_type(values: Sequence[str], *, decimal: str | None = None) -> ColumnGuess:
    """The narrowest type all, or at least :data:`MAJORITY` of at least 10, non-empty values fit
    (name/label are filled in by the caller)."""
    guess = _infer_all(values, decimal=decimal)
    vals = [v.strip() for v in values if v.strip()]
    if guess.type != "string" or len(vals) < 10:
        return guess
    typed = [v for v in vals if any(p.match(v) for p in _TYPED)]
    if len(typed) < MAJORITY * len(vals):
        return guess
    majority = _infer_all(typed, decimal=decimal)
    return majority if majority.type not in ("string", "bool") else guess


def _infer_all(values: Sequence[str], *, decimal: str | None = None) -> ColumnGuess:
    """The narrowest type every non-empty value fits."""
    vals = [v.strip() for v in values if v.strip()]
    if not vals:
        return ColumnGuess("", "", "string")
    if all(v.lower() in _BOOLS for v in vals):
        return ColumnGuess("", "", "bool")
    # "007" is a code, not the number 7: leading zeros keep a column text.
    if any(_LEADING_ZERO_RE.match(v) for v in vals):
        return _dates(vals) or ColumnGuess("", "", "string")
    if all(_INT_RE.match(v) for v in vals):
        return ColumnGuess("", "", "int")
    if decimal != "," and all(_FLOAT_RE.match(v) for v in vals):
        return ColumnGuess("", "", "float")
    if (
        decimal != "."
        and all(_COMMA_FLOAT_RE.match(v) for v in vals)
        and any("," in v or re.search(r"\.\d{3}$", v) for v in vals)
    ):
        return ColumnGuess("", "", "float", decimal_comma=True)
    return _dates(vals) or ColumnGuess("", "", "string")


def _dates(vals: Sequence[str]) -> ColumnGuess | None:
    """A date or datetime column in one of the known formats, else None."""
    if all(_ISO_DATE_RE.match(v) for v in vals):
        return ColumnGuess("", "", "date")
    if all(_ISO_DATETIME_RE.match(v) or _ISO_DATE_RE.match(v) for v in vals):
        return ColumnGuess("", "", "datetime")
    order = _slash_order(vals, _SLASH_DATE_RE)
    if order is not None:
        fmt = "%d/%m/%Y" if order[0] == "dmy" else "%m/%d/%Y"
        return ColumnGuess("", "", "date", date_format=fmt, ambiguous=order[1])
    matched = [_SLASH_DATETIME_RE.match(v) for v in vals]
    if all(matched):
        order = _slash_order([v.split(" ")[0] for v in vals], _SLASH_DATE_RE)
        if order is not None:
            with_seconds = all(m is not None and m.group(4) for m in matched)
            day = "%d/%m/%Y" if order[0] == "dmy" else "%m/%d/%Y"
            fmt = f"{day} %H:%M:%S" if with_seconds else f"{day} %H:%M"
            if all(m is not None and bool(m.group(4)) == with_seconds for m in matched):
                return ColumnGuess("", "", "datetime", date_format=fmt, ambiguous=order[1])
    return None


def _comma_column(values: Sequence[str], decimal: str | None) -> bool:
    """Whether a column the user made ``float`` is written with decimal commas (most values say)."""
    if decimal is not None:
        return decimal == ","
    vals = [v.strip() for v in values if v.strip()]
    comma = sum(1 for v in vals if _COMMA_FLOAT_RE.match(v) and ("," in v or re.search(r"\.\d{3}$", v)))
    dot = sum(1 for v in vals if _FLOAT_RE.match(v) and "." in v)
    return comma > dot


def _looks_like_header(rows: Sequence[Sequence[str]]) -> bool:
    """The first row names columns when it is all text and some column below it is not."""
    if len(rows) < 2:
        return True
    first = rows[0]
    if any(not v.strip() for v in first):
        return False
    typed_below = False
    for i, v in enumerate(first):
        below = infer_type([r[i] for r in rows[1:] if i < len(r)])
        if below.type != "string":
            typed_below = True
            if infer_type([v]).type == below.type:
                return False  # the first row is data of that column's type
    if typed_below:
        return True
    return len(set(first)) == len(first)


# --------------------------------------------------------------------------- the whole head
def sniff_bytes(head: bytes, options: ImportOptions | None = None, *, truncated: bool = False) -> Sniffed:
    """Detect everything from the first bytes of a file (``truncated``: the file goes on)."""
    if not head:
        raise InvalidSpec("file: the file is empty (0 bytes)", field="file")
    opts = options
    encoding, bom = detect_encoding(head, opts.encoding if opts else None)
    text = decode_head(head, encoding, bom, truncated=truncated)
    if not text.strip():
        if truncated:
            raise InvalidSpec("file: the first line is longer than 1 MB; is this a CSV file?", field="file")
        raise InvalidSpec("file: the file holds no rows", field="file")
    first_line = text.split("\n", 1)[0]
    delimiter = detect_delimiter(text, opts.delimiter if opts else None)
    n_cols = first_line.count(delimiter) + 1
    if n_cols > MAX_COLUMNS:
        raise InvalidSpec(
            f"file: the file has {n_cols} columns; an import takes at most {MAX_COLUMNS}",
            field="file",
        )
    rows = parse_rows(text, delimiter, limit=SAMPLE_ROWS + 1)
    if not rows:
        raise InvalidSpec("file: the file holds no rows", field="file")
    width = max(Counter(len(r) for r in rows[:200]).most_common(1)[0][0], len(rows[0]))
    header = opts.header if opts and opts.header is not None else _looks_like_header(rows)
    labels = [*rows[0], *[""] * (width - len(rows[0]))] if header else [""] * width
    data = rows[1:] if header else rows
    names = column_names([lab or f"column {i + 1}" for i, lab in enumerate(labels)])
    decimal = opts.decimal if opts else None
    columns: list[ColumnGuess] = []
    for i, name in enumerate(names):
        values = [r[i] for r in data if i < len(r)]
        guess = infer_type(values, decimal=decimal)
        if opts and opts.date_format and guess.type in ("date", "datetime", "string"):
            kind: ColumnKind = "datetime" if "%H" in opts.date_format else "date"
            fits = infer_type(values).type in ("date", "datetime")
            if fits:
                guess = ColumnGuess("", "", kind, date_format=opts.date_format)
        over = opts.column_override(name) if opts else None
        if over is not None:
            guess = ColumnGuess(
                "",
                "",
                over.type,
                date_format=over.date_format or (guess.date_format if over.type == guess.type else None),
                decimal_comma=over.type == "float" and _comma_column(values, decimal),
            )
        label = (over.label if over is not None and over.label else labels[i].strip()) or name
        columns.append(
            ColumnGuess(
                name, label[:200], guess.type, guess.date_format, guess.decimal_comma, guess.ambiguous
            )
        )
    consumed = len(text.encode(encoding if encoding != "utf-16" else "utf-16-le", "replace"))
    avg = consumed / max(1, len(rows))
    return Sniffed(
        encoding=encoding,
        bom=bom > 0,
        delimiter=delimiter,
        quotechar='"',
        header=header,
        decimal="," if any(c.decimal_comma for c in columns) else ".",
        columns=tuple(columns),
        preview=[list(r) for r in data[:PREVIEW_ROWS]],
        avg_row_bytes=avg,
    )


def sniff_file(path: Path, options: ImportOptions | None = None) -> Sniffed:
    """:func:`sniff_bytes` over the first megabyte of ``path``."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(HEAD_BYTES)
    return sniff_bytes(head, options, truncated=size > len(head))
