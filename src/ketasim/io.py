"""Reading and writing ketasim data files.

Integer event codes (EVID, CMT) exist only here, at the file boundary; inside
ketasim doses are typed :class:`~ketasim.dosing.Bolus` / :class:`~ketasim.dosing.Infusion`
events in a :class:`~ketasim.dosing.Regimen`.
"""

from __future__ import annotations

import csv
import difflib
import io as _stdio
import math
import os
from collections.abc import Mapping
from pathlib import Path

from .dosing import DRUGS, ROUTES, Bolus, Infusion, Regimen
from .errors import DataFileError, InputError, suggest
from .output import atomic_write_bytes
from .regimen_text import DRUG_ALIASES, ROUTE_ALIASES, normalise_drug, normalise_route

__all__ = ["read_nonmem", "write_nonmem", "NONMEM_COLUMNS"]


# --- dosing records (NONMEM) ---------------------------------------------------------
#
# Conventions of read_nonmem / write_nonmem (one row per record, comma-separated, header
# in the first line; column names are matched case-insensitively):
#
# - ID: subject identifier, kept as text (the keys of the returned dict).
# - TIME: hours since the subject's time origin. AMT: mg (never mg/kg: write_nonmem
#   multiplies mg/kg doses by the subject's weight).
# - RATE: 0 (or empty / ".") for a bolus; > 0 an infusion of AMT at RATE mg/h, i.e. over
#   AMT/RATE h (recovered to the nearest second when within 1e-9 of it, so that written
#   durations read back exactly). RATE = -1 / -2 (rate or duration modelled in $PK) are
#   not supported.
# - EVID: 1 dose; 0 observation and 2 other event (both skipped); 3 reset and 4 reset +
#   dose are not supported (an error). Without an EVID column a record with AMT > 0 is a
#   dose and any other record an observation.
# - ROUTE (optional text column, recommended): the route, one of ketasim.dosing.ROUTES or
#   an alias (see ketasim.regimen_text.ROUTE_ALIASES); it takes precedence over CMT.
#   Without it CMT gives the route: CMT 1 = depot -> "oral", CMT 2 = central -> "iv".
# - DRUG (optional text column): racemic (default), esketamine, arketamine or an alias.
# - II, ADDL: ADDL more doses every II h after the record's dose (ADDL > 0 needs II > 0).
# - SS (optional): only 0 is supported (no steady-state doses).
# - DV, MDV and any other column are ignored for dosing.
# - Lines whose first field starts with "#" are comments, blank lines are skipped.
# - Dose records need not be sorted: TIME may decrease within an ID (NONMEM would refuse
#   that without EVID 4); ketasim sorts each subject's doses by time.
# - Every ID found in the file gets a Regimen, with no events if it has only observations.
#
# Error messages name the file, the line (1-based, the header is line 1), the column,
# the value found and what is allowed.

#: Columns write_nonmem writes, in order.
NONMEM_COLUMNS = ("ID", "TIME", "AMT", "RATE", "CMT", "EVID", "II", "ADDL", "MDV", "ROUTE", "DRUG")
_REQUIRED = ("ID", "TIME", "AMT")
_MISSING = ("", ".")
_CMT_ROUTE = {1: "oral", 2: "iv"}


def _source_name(src) -> str:
    if isinstance(src, (str, os.PathLike)):
        return os.fspath(src)
    return str(getattr(src, "name", "<buffer>"))


class _Row:
    """One record, with enough context to point at a bad field."""

    def __init__(self, name: str, line: int, header: dict[str, int], fields: list[str]) -> None:
        self.name, self.line, self.header, self.fields = name, line, header, fields

    def raw(self, col: str) -> str | None:
        j = self.header.get(col)
        return None if j is None else self.fields[j].strip()

    def error(self, col: str, problem: str, fix: str = "") -> DataFileError:
        value = self.raw(col)
        got = f"; got {value!r}" if value is not None else ""
        return DataFileError(f"{self.name}, line {self.line}, column {col}: {problem}{got}.{fix and ' ' + fix}")

    def number(self, col: str, default: float | None = None, what: str = "a number") -> float:
        value = self.raw(col)
        if value is None or value in _MISSING:
            if default is None:
                raise self.error(col, f"{col} must be {what}", "Fill in the value.")
            return default
        try:
            x = float(value)
        except ValueError:
            raise self.error(col, f"{col} must be {what}") from None
        if not math.isfinite(x):
            raise self.error(col, f"{col} must be a finite number")
        return x

    def integer(self, col: str, allowed: str) -> int | None:
        x = self.number(col, default=math.nan)
        if math.isnan(x):
            return None
        if x != int(x):
            raise self.error(col, f"{col} must be a whole number ({allowed})")
        return int(x)


def _read_rows(src):
    """Yield (line number, fields) of a CSV file or buffer."""
    if isinstance(src, (str, os.PathLike)):
        with open(src, newline="", encoding="utf-8-sig") as fh:
            yield from _iter_csv(fh)
    else:
        yield from _iter_csv(src)


def _iter_csv(fh):
    reader = csv.reader(fh)
    start = 1
    for fields in reader:
        line = start
        start = reader.line_num + 1
        if not fields or all(not f.strip() for f in fields) or fields[0].lstrip().startswith("#"):
            continue
        yield line, fields


def read_nonmem(path_or_buffer) -> dict[str, Regimen]:
    """Read dose records from a NONMEM-style CSV dataset.

    Conventions are listed in the section comment of this module (TIME in h, AMT in mg,
    ROUTE column before CMT, EVID 1 dose, II/ADDL expanded).

    Parameters
    ----------
    path_or_buffer : str, os.PathLike or text file object
        The CSV file.

    Returns
    -------
    dict[str, Regimen]
        One regimen per ID (as text), in order of first appearance.

    Raises
    ------
    DataFileError
        Naming the file, line, column and value of the first malformed record.

    Examples
    --------
    >>> import io
    >>> text = "ID,TIME,AMT,RATE,CMT,EVID,II,ADDL,ROUTE\\n1,0,35,52.5,2,1,84,1,iv\\n1,2,.,0,2,0,0,0,\\n"
    >>> r = read_nonmem(io.StringIO(text))["1"]
    >>> [(e.time, e.amount, e.duration) for e in r.events]
    [(0.0, 35.0, 0.6666666666666666), (84.0, 35.0, 0.6666666666666666)]
    """
    name = _source_name(path_or_buffer)
    try:
        rows = iter(_read_rows(path_or_buffer))
        first = next(rows, None)
        if first is None:
            raise DataFileError(f"{name}: the file is empty; expected a header line with {', '.join(_REQUIRED)} ...")
        header = _header(name, *first)
        events: dict[str, list] = {}
        for line, fields in rows:
            if len(fields) != len(header):
                raise DataFileError(f"{name}, line {line}: {len(fields)} fields, but the header has "
                                    f"{len(header)}; every record needs one value per column.")
            row = _Row(name, line, header, fields)
            sid = row.raw("ID")
            if not sid:
                raise row.error("ID", "ID must not be empty")
            evs = events.setdefault(sid, [])
            evs.extend(_dose_events(row))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataFileError(f"{name}: cannot read the file ({exc}).") from None
    return {sid: Regimen(tuple(evs)) for sid, evs in events.items()}


def _header(name: str, line: int, fields: list[str]) -> dict[str, int]:
    header: dict[str, int] = {}
    for j, f in enumerate(fields):
        col = f.strip().upper()
        if col in header:
            raise DataFileError(f"{name}, line {line} (header): column {col} appears twice; "
                                "each column name must be unique.")
        header[col] = j
    for col in _REQUIRED:
        if col not in header:
            raise DataFileError(
                f"{name}, line {line} (header): missing column {col}; the header has "
                f"{', '.join(header) or 'no columns'}. Required: {', '.join(_REQUIRED)}; optional: "
                f"RATE, CMT, EVID, II, ADDL, SS, ROUTE, DRUG (DV, MDV ignored)."
                + _misspelt(col, header))
    if "ROUTE" not in header and "CMT" not in header:
        raise DataFileError(f"{name}, line {line} (header): missing column ROUTE (or CMT); one of them "
                            "gives the route of each dose. Add a ROUTE column (recommended).")
    return header


def _misspelt(col: str, header: Mapping[str, int]) -> str:
    others = [c for c in header if c not in NONMEM_COLUMNS and c not in ("DV", "SS")]
    close = difflib.get_close_matches(col, others, n=1, cutoff=0.6)
    return f" Is {close[0]!r} meant to be {col}?" if close else ""


def _dose_events(row: _Row) -> list:
    """The dose events of one record (none for observations)."""
    time = row.number("TIME", what="a number (hours)")
    evid = row.integer("EVID", "0, 1 or 2") if "EVID" in row.header else None
    if evid is None:
        amt = row.number("AMT", default=0.0)
        evid = 1 if amt > 0 else 0
    if evid in (0, 2):
        return []
    if evid in (3, 4):
        kind = "reset" if evid == 3 else "reset and dose"
        raise row.error("EVID", f"EVID {evid} ({kind}) is not supported; EVID must be 0, 1 or 2",
                        "Give each treatment period its own ID instead.")
    if evid != 1:
        raise row.error("EVID", "EVID must be 0 (observation), 1 (dose) or 2 (other event)")
    amt = row.number("AMT", what="a dose in mg for EVID 1")
    if amt < 0:
        raise row.error("AMT", "AMT must be > 0 mg")
    if amt == 0:
        raise row.error("AMT", "AMT must be > 0 mg for a dose record (EVID 1)",
                        "Remove the record or set EVID to 0 for an observation.")
    if time < 0:
        raise row.error("TIME", "TIME must be >= 0 h for a dose")
    rate = row.number("RATE", default=0.0) if "RATE" in row.header else 0.0
    if rate in (-1.0, -2.0):
        what = "rate" if rate == -1 else "duration"
        raise row.error("RATE", f"RATE {rate:g} ({what} modelled in $PK) is not supported; RATE must be 0 "
                        "(bolus) or > 0 mg/h", "Give the rate itself: RATE = AMT / duration in h.")
    if rate < 0:
        raise row.error("RATE", "RATE must be 0 (bolus) or > 0 mg/h")
    ss = row.number("SS", default=0.0) if "SS" in row.header else 0.0
    if ss != 0:
        raise row.error("SS", "SS must be 0; steady-state doses are not supported",
                        "Write out the doses with II and ADDL instead.")
    route, drug = _route(row), _drug(row)
    ii = row.number("II", default=0.0) if "II" in row.header else 0.0
    addl = row.integer("ADDL", "0 or more") if "ADDL" in row.header else None
    addl = addl or 0
    if addl < 0:
        raise row.error("ADDL", "ADDL must be a whole number >= 0")
    if ii < 0:
        raise row.error("II", "II must be >= 0 h")
    if addl > 0 and ii <= 0:
        raise row.error("II", f"II must be > 0 h when ADDL > 0 (ADDL is {addl})",
                        "Give the dosing interval in hours, or set ADDL to 0.")
    if addl > 200_000:
        raise row.error("ADDL", "ADDL must be <= 200000")
    try:
        if rate > 0:
            ev = Infusion(time, amt, _duration(amt, rate), route=route, drug=drug)
        else:
            ev = Bolus(time, amt, route=route, drug=drug)
    except InputError as exc:
        col = "RATE" if str(exc).startswith("duration") else "AMT"
        raise DataFileError(f"{row.name}, line {row.line}, column {col}: {exc}") from None
    return [ev] + [ev.shift(k * ii) for k in range(1, addl + 1)]


def _duration(amt: float, rate: float) -> float:
    d = amt / rate
    snapped = round(d * 3600) / 3600  # whole seconds, when that is what was meant
    return snapped if snapped > 0 and abs(snapped - d) <= 1e-9 * d else d


def _route(row: _Row) -> str:
    value = row.raw("ROUTE")
    if value not in (None, *_MISSING):
        route = normalise_route(value)
        if route is None:
            raise row.error("ROUTE", f"ROUTE must be one of {', '.join(ROUTES)}",
                            suggest(value.lower(), list(ROUTES) + list(ROUTE_ALIASES)).strip())
        return route
    cmt = row.integer("CMT", "1 or 2") if "CMT" in row.header else None
    if cmt is None:
        raise row.error("CMT" if "CMT" in row.header else "ROUTE",
                        "a dose needs its route: a ROUTE value, or CMT 1 (depot, oral) or 2 (central, iv)")
    if cmt not in _CMT_ROUTE:
        raise row.error("CMT", "CMT must be 1 (depot, read as oral) or 2 (central, iv) when there is no ROUTE",
                        "Add a ROUTE column to give other routes.")
    return _CMT_ROUTE[cmt]


def _drug(row: _Row) -> str:
    value = row.raw("DRUG")
    if value in (None, *_MISSING):
        return "racemic"
    drug = normalise_drug(value)
    if drug is None:
        raise row.error("DRUG", f"DRUG must be one of {', '.join(DRUGS)}",
                        suggest(value.lower(), list(DRUGS) + list(DRUG_ALIASES)).strip())
    return drug


def _fmt(x: float) -> str:
    x = float(x)
    return str(int(x)) if x.is_integer() and abs(x) < 1e15 else repr(x)


def write_nonmem(regimens: Regimen | Mapping[str, Regimen], path_or_buffer,
                 weights: Mapping[str, float] | None = None) -> None:
    """Write regimens as NONMEM-style dose records, one per event.

    Columns are :data:`NONMEM_COLUMNS`: AMT in mg, RATE 0 for a bolus or mg/h for an
    infusion, CMT 2 for iv and 1 (depot) for every other route (ROUTE names it), EVID 1,
    II 0, ADDL 0, MDV 1. :func:`read_nonmem` reads the file back to the same events
    (mg/kg doses come back in mg).

    Parameters
    ----------
    regimens : Regimen or mapping of ID to Regimen
        A single regimen is written with ID ``1``.
    path_or_buffer : str, os.PathLike or text file object
        A path is written atomically (a temporary file in the same folder, then renamed).
    weights : mapping of ID to body weight in kg, optional
        Needed for doses in mg/kg.

    Examples
    --------
    >>> import io
    >>> from ketasim.dosing import Infusion
    >>> buf = io.StringIO()
    >>> write_nonmem(Regimen((Infusion(0.0, 0.5, 40/60, per_kg=True),)), buf, weights={"1": 70})
    >>> print(buf.getvalue().strip())
    ID,TIME,AMT,RATE,CMT,EVID,II,ADDL,MDV,ROUTE,DRUG
    1,0,35,52.5,2,1,0,0,1,iv,racemic
    """
    if isinstance(regimens, Regimen):
        regimens = {"1": regimens}
    if not isinstance(regimens, Mapping):
        raise InputError(f"regimens must be a Regimen or a dict of ID to Regimen; got {type(regimens).__name__}.")
    weights = {str(k): v for k, v in (weights or {}).items()}
    out = _stdio.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(NONMEM_COLUMNS)
    for sid, reg in regimens.items():
        sid = str(sid)
        if not isinstance(reg, Regimen):
            raise InputError(f"regimens[{sid!r}] must be a Regimen; got {type(reg).__name__}.")
        for ev in reg.events:
            weight = weights.get(sid)
            if ev.per_kg and weight is None:
                raise InputError(
                    f"weights[{sid!r}] is needed for the dose of {ev.amount:g} mg/kg at {ev.time:g} h of ID "
                    f"{sid}; got {'no weights' if not weights else 'weights for ' + ', '.join(weights)}. "
                    "Give weights={ID: kg}.")
            amt = ev.amount_mg(weight)
            rate = amt / ev.duration if isinstance(ev, Infusion) else 0.0
            cmt = 2 if ev.route == "iv" else 1
            w.writerow([sid, _fmt(ev.time), _fmt(amt), _fmt(rate), cmt, 1, 0, 0, 1, ev.route, ev.drug])
    _write_text(out.getvalue(), path_or_buffer)


def _write_text(text: str, path_or_buffer) -> None:
    if not isinstance(path_or_buffer, (str, os.PathLike)):
        path_or_buffer.write(text)
        return
    atomic_write_bytes(path_or_buffer, text.encode("utf-8"))
