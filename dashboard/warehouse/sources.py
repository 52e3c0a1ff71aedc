"""Finding input files, decoding them, recognising what each one is, and reading CSV rows.

A table is recognised by its header row (or XML root), never by its file name.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from dashboard.warehouse.dq import DQ, BuildError

#: SSDA903 CSV tables and their columns (domain.md section 1); keys are warehouse record names
TABLES_903 = {
    "header": ["CHILD", "SEX", "DOB", "ETHNIC", "UPN", "MOTHER", "MC_DOB"],
    "episodes": ["CHILD", "DECOM", "RNE", "LS", "CIN", "PLACE", "PLACE_PROVIDER", "DEC", "REC",
                 "REASON_PLACE_CHANGE", "HOME_POST", "PL_POST", "URN"],
    "reviews": ["CHILD", "DOB", "REVIEW", "REVIEW_CODE"],
    "uasc": ["CHILD", "SEX", "DOB", "DUC"],
    "oc2": ["CHILD", "DOB", "SDQ_SCORE", "SDQ_REASON", "CONVICTED", "HEALTH_CHECK", "IMMUNISATIONS", "TEETH_CHECK",
            "HEALTH_ASSESSMENT", "SUBSTANCE_MISUSE", "INTERVENTION_RECEIVED", "INTERVENTION_OFFERED"],
    "oc3": ["CHILD", "DOB", "IN_TOUCH", "ACTIV", "ACCOM"],
    "ad1": ["CHILD", "DOB", "DATE_INT", "DATE_MATCH", "FOSTER_CARE", "NB_ADOPTR", "SEX_ADOPTR", "LS_ADOPTR"],
    "placed_adoption": ["CHILD", "DOB", "DATE_PLACED", "DATE_PLACED_CEASED", "REASON_PLACED_CEASED"],
    "prev_perm": ["CHILD", "DOB", "PREV_PERM", "LA_PERM", "DATE_PERM"],
    "missing": ["CHILD", "DOB", "MISSING", "MIS_START", "MIS_END"],
    "sw_episodes": ["CHILD", "DOB", "SW_ID", "SW_DECOM", "SW_DEC", "SW_REASON"],
}

#: local case-management extracts (docs/architecture.md)
TABLES_LOCAL = {
    "identifiers": ["child_id", "given_name", "family_name", "address", "postcode", "nhs_number", "upn"],
    "allocations": ["child_id", "team_id", "worker_id", "start_date", "end_date"],
    "objections": ["child_id", "recorded_date", "scope"],
    "school_moves": ["child_id", "move_date", "from_urn", "to_urn", "from_phase", "to_phase"],
    "teams": ["team_id", "team_name", "locality"],
    "population": ["mid_year", "age", "sex", "population"],
}

DATA_SUFFIXES = {".csv", ".xml"}
_YEAR_DIR = re.compile(r"^(19|20)\d\d$")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
_CONTENT = re.compile(rb"[^ \t\r\n\xef\xbb\xbf]")


def discover(sources: list[Path]) -> tuple[list[Path], list[Path]]:
    """(files to load, files skipped). Folders are walked recursively in sorted order and only *.csv / *.xml
    are taken from them (schemas, YAML, README files are not returns); a file named explicitly is always tried."""
    files: list[Path] = []
    skipped: list[Path] = []
    for src in sources:
        src = Path(src)
        if src.is_dir():
            for p in sorted(q for q in src.rglob("*") if q.is_file()):
                (files if p.suffix.lower() in DATA_SUFFIXES and not p.name.startswith(".") else skipped).append(p)
        elif src.is_file():
            files.append(src)
        else:
            raise BuildError(str(src), "no such file or folder")
    seen: set[Path] = set()
    unique = []
    for f in files:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique, skipped


def year_from_path(path: Path) -> int | None:
    """The nearest folder named like a year (the year ending 31 March), e.g. ssda903/2024/episodes.csv."""
    for part in reversed(path.parent.parts):
        if _YEAR_DIR.match(part):
            return int(part)
    return None


@dataclass
class SourceFile:
    path: Path
    name: str                      # path as given to build (stored in data_quality.file)
    data: bytes
    sha256: str
    text: str | None = None        # decoded text for CSV files
    kind: str = ""                 # 903_csv:<table>, 903_xml, cin_xml, local:<table>
    header: list[str] = field(default_factory=list)
    rows: int = 0
    return_year: int | None = None


def read_source(path: Path, dq: DQ) -> SourceFile:
    name = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BuildError(name, f"cannot read file ({exc.strerror or exc})") from None
    sf = SourceFile(path, name, data, hashlib.sha256(data).hexdigest())
    start = _CONTENT.search(data)  # the first byte that is not white space or a byte-order mark (no copy)
    if start is None:
        raise BuildError(name, "empty file")
    head = data[start.start():start.start() + 8]
    if head.startswith(b"<") or head.startswith(b"\xff\xfe<") or head.startswith(b"\xfe\xff\x00<"):
        sf.kind = "xml"
        return sf
    sf.text = decode_text(name, data, dq)
    first = _first_line(sf.text).strip("\r")
    cells = [c.strip().strip('"').strip() for c in next(csv.reader([first]))]
    sf.header = cells
    up = [c.upper() for c in cells]
    low = [c.lower() for c in cells]
    for table, cols in TABLES_903.items():
        if up == cols or (set(up) == set(cols) and len(up) == len(cols)):
            sf.kind = f"903_csv:{table}"
            return sf
    for table, cols in TABLES_LOCAL.items():
        if set(low) == set(cols) and len(low) == len(cols):
            sf.kind = f"local:{table}"
            return sf
    # a superset of a known header: accept the best match, note the extra columns
    best = None
    for table, cols in [*TABLES_903.items(), *TABLES_LOCAL.items()]:
        names = up if table in TABLES_903 else low
        if set(cols) <= set(names) and (best is None or len(cols) > len(best[1])):
            best = (table, cols)
    if best is not None:
        table, cols = best
        extra = [c for c in cells if c.upper() not in cols and c.lower() not in cols]
        dq.add(name, None, table, ",".join(extra), "extra_column", ",".join(extra), "ignored",
               f"header has columns {', '.join(extra)} not in the {table} table; they were ignored")
        sf.kind = f"903_csv:{table}" if table in TABLES_903 else f"local:{table}"
        return sf
    shown = ",".join(cells)[:120]
    raise BuildError(name, f"no known header in row 1 ('{shown}'): not an SSDA903 table or a local extract")


def decode_text(name: str, data: bytes, dq: DQ) -> str:
    """UTF-8 (with or without BOM); otherwise Windows-1252 with a data-quality note; binary refused.

    Why not refuse Latin-1 outright: case-management exports from Windows systems are commonly cp1252 and the
    only non-ASCII text is in names and addresses; decoding them is safe, and the note tells a person to check.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise BuildError(name, "UTF-16 text is not supported for CSV: save the file as UTF-8")
    if b"\x00" in data:
        raise BuildError(name, "binary content (NUL bytes): not a text CSV file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            raise BuildError(name, f"undecodable bytes at offset {exc.start}: neither UTF-8 nor Windows-1252 text") from None
        line = data[: exc.start].count(b"\n")
        dq.add(name, line if line > 0 else None, "file", None, "encoding_cp1252", None, "kept",
               f"file is not UTF-8 (first bad byte at offset {exc.start}); decoded as Windows-1252")
    controls = len(_CONTROL.findall(text, 0, 65536))
    if controls:
        raise BuildError(name, f"binary content ({controls} control characters): not a text CSV file")
    return text


def _first_line(text: str) -> str:
    """The text up to its first line break (without copying the rest, as split would)."""
    end = text.find("\n")
    return text if end < 0 else text[:end]


def read_csv(sf: SourceFile, columns: list[str], record: str, dq: DQ, upper: bool) -> pl.DataFrame:
    """All cells as text, plus _file and _row (1-based data row = file line - 1). Short rows are padded with
    blanks (rule short_row), long rows cut (rule long_row), blank lines skipped.

    Fast path: Polars' CSV reader on the non-blank lines, field counts from separator counts. A file with a
    quoted field spanning lines takes the slower csv-module path (same results)."""
    header = next(csv.reader([_first_line(sf.text)]))
    names = [(h.strip().lstrip("\ufeff").strip().upper() if upper else h.strip().lstrip("\ufeff").strip().lower())
             for h in header]
    width = len(names)
    if '"' not in sf.text and "\r" not in sf.text:
        raw = sf.text.encode("utf-8")
        fields = _plain_fields(raw)
        if fields is not None:  # the usual export, every line counted on the bytes (no frame of lines)
            for n in np.flatnonzero(fields != width):
                _ragged(sf, dq, record, names, int(n) + 1, int(fields[n]))
            return _frame(sf, raw[raw.index(b"\n") + 1:] if len(fields) else b"", names, columns, record, dq,
                          pl.int_range(1, len(fields) + 1, dtype=pl.Int64, eager=True))
    lines = pl.DataFrame({"line": pl.Series([sf.text]).str.split("\n").explode()}).with_row_index("_row").slice(1)
    total = lines.height
    if "\r" in sf.text:
        lines = lines.with_columns(pl.col("line").str.strip_suffix("\r"))
    lines = lines.filter(pl.col("line").str.strip_chars() != "")
    no_blanks = lines.height == total or (lines.height == total - 1 and sf.text.endswith("\n"))
    fields = (pl.col("line").str.count_matches(",", literal=True) + 1).alias("_n")
    if '"' not in sf.text:  # the usual export: no quoted field, so a row's fields are its commas + 1
        counts = lines.select("_row", fields)
    else:
        quotes = lines["line"].str.count_matches('"', literal=True)
        if (quotes % 2 != 0).any():
            return _read_csv_slow(sf, names, columns, record, dq)
        plain = lines.filter(quotes == 0).select("_row", fields)
        quoted = lines.filter(quotes > 0)
        counts = pl.concat([plain, pl.DataFrame({"_row": quoted["_row"], "_n": [
            len(next(csv.reader([x]))) for x in quoted["line"]]}, schema={"_row": pl.UInt32, "_n": pl.UInt32})])
    for n, count in counts.filter(pl.col("_n") != width).sort("_row").iter_rows():
        _ragged(sf, dq, record, names, n, count)
    if not lines.height:
        body = b""
    elif no_blanks:  # the file as it is, minus its header line (the usual case: no copy of the lines)
        body = sf.text.encode("utf-8")
        body = body[body.index(b"\n") + 1:]
    else:
        body = lines["line"].str.join("\n").item().encode("utf-8")
    return _frame(sf, body, names, columns, record, dq, lines["_row"].cast(pl.Int64))


def _frame(sf: SourceFile, body: bytes, names: list[str], columns: list[str], record: str, dq: DQ,
           rows: pl.Series) -> pl.DataFrame:
    """The data lines `body` (`rows` of them, numbered `rows`) as text columns `columns`, with _file and _row."""
    index = [names.index(c) for c in columns]
    sf.rows = len(rows)
    if not len(rows):
        dq.add(sf.name, None, record, None, "no_rows", None, "kept", "file has a header row but no data rows")
        return pl.DataFrame({c: pl.Series(c, [], dtype=pl.Utf8) for c in columns}).with_columns(
            pl.lit(sf.name).alias("_file"), pl.Series("_row", [], dtype=pl.Int64))
    positional = [f"c{i}" for i in range(len(names))]
    df = pl.read_csv(io.BytesIO(body), has_header=False, schema={c: pl.Utf8 for c in positional},
                     truncate_ragged_lines=True, quote_char='"', missing_columns="insert",
                     extra_columns="ignore")
    return df.select([pl.col(f"c{i}").alias(c) for i, c in zip(index, columns, strict=True)]
                     + [pl.lit(sf.name).alias("_file"), rows.alias("_row")])


#: a byte that makes a line not blank to Polars' strip_chars: ASCII and not white space (Rust's char::is_whitespace)
_SOLID = re.compile(rb"[\x00-\x08\x0e-\x1f\x21-\x7f]")


def _plain_fields(raw: bytes) -> np.ndarray | None:
    """Field counts of the data lines of a CSV text without quotes or carriage returns, when no data line is
    blank (bar an empty one after the last line break): each line's commas + 1, worked out on the bytes. None
    when some line may be blank (all white space, or bytes beyond ASCII that might be), for the general path."""
    buf = np.frombuffer(raw, dtype=np.uint8)
    breaks = np.flatnonzero(buf == 10)
    if not len(breaks):
        return np.zeros(0, dtype=np.int64)          # a header alone
    starts = breaks + 1                             # data line k: starts[k] up to ends[k]
    ends = np.append(breaks[1:], len(buf))
    if ends[-1] == starts[-1]:        # the empty "line" after a final line break
        starts, ends = starts[:-1], ends[:-1]
    commas = np.flatnonzero(buf == 44)
    fields = np.searchsorted(commas, ends) - np.searchsorted(commas, starts) + 1
    # a line with a comma is not blank; one without is looked at (a line of non-breaking spaces is blank to
    # strip_chars: anything without an ASCII byte that is not white space goes the general way)
    for k in np.flatnonzero(fields == 1):
        if not _SOLID.search(raw, int(starts[k]), int(ends[k])):
            return None
    return fields


def _ragged(sf: SourceFile, dq: DQ, record: str, names: list[str], n: int, count: int) -> None:
    width = len(names)
    if count < width:
        dq.add(sf.name, n, record, names[count], "short_row", count, "kept",
               f"row has {count} of {width} fields; the missing fields ({', '.join(names[count:])}) "
               "are treated as blank")
    else:
        dq.add(sf.name, n, record, None, "long_row", count, "kept",
               f"row has {count} fields, the header {width}; the extra fields were ignored")


def _read_csv_slow(sf: SourceFile, names: list[str], columns: list[str], record: str, dq: DQ) -> pl.DataFrame:
    reader = csv.reader(io.StringIO(sf.text, newline=""))
    next(reader)
    index = [names.index(c) for c in columns]
    width = len(names)
    out_rows: list[list[str]] = []
    rownums: list[int] = []
    for row in reader:
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        n = reader.line_num - 1
        if len(row) != width:
            _ragged(sf, dq, record, names, n, len(row))
            row = row + [""] * (width - len(row))
        out_rows.append([row[i] for i in index])
        rownums.append(n)
    sf.rows = len(out_rows)
    if not out_rows:
        dq.add(sf.name, None, record, None, "no_rows", None, "kept", "file has a header row but no data rows")
    cols = list(zip(*out_rows, strict=True)) if out_rows else [()] * len(columns)
    df = pl.DataFrame({c: pl.Series(c, list(v), dtype=pl.Utf8) for c, v in zip(columns, cols, strict=True)})
    return df.with_columns(pl.lit(sf.name).alias("_file"), pl.Series("_row", rownums, dtype=pl.Int64))
