"""Units at the boundary.

Inside ketasim everything is in canonical units: time h, amount mg, volume L,
plasma concentration ng/mL (= mg/m^3 = ug/L), receptor-level concentration nM,
rates 1/h. Quantities given by users as strings (``"40 min"``, ``"3.5 d"``,
``"70 kg"``) or pint quantities are converted once, here.
"""

from __future__ import annotations

import math
from functools import lru_cache
from numbers import Real

import pint

from .errors import InputError

__all__ = ["ureg", "to_canonical", "to_hours", "to_mg", "to_kg", "MOLAR_MASS", "ng_per_ml_to_nM"]

ureg = pint.UnitRegistry()
ureg.define("kg_bw = kilogram = kgbw")  # body weight, for mg/kg doses

#: Molar masses in g/mol (physchem.csv: ketamine 237.73 [S/D], norketamine 223.70 [C/D],
#: hydroxynorketamine 239.70 [S], dehydronorketamine 221.68 [D/U]).
MOLAR_MASS = {
    "ketamine": 237.73,
    "norketamine": 223.70,
    "hnk": 239.70,
    "dhnk": 221.68,
}

_CANONICAL = {"time": "hour", "amount": "milligram", "mass": "kilogram", "volume": "liter"}


@lru_cache(maxsize=512)
def _parse(text: str) -> pint.Quantity:
    return ureg.Quantity(text)


def to_canonical(value: object, kind: str, field: str) -> float:
    """Convert ``value`` to the canonical unit of ``kind`` and return a float.

    A bare number is taken to be in the canonical unit already.

    Examples
    --------
    >>> to_canonical("40 min", "time", "duration")
    0.6666666666666666
    >>> to_canonical(2, "time", "duration")
    2.0
    """
    unit = _CANONICAL[kind]
    if isinstance(value, bool):
        raise InputError(f"{field} must be a number or a quantity in {unit}; got {value!r}.")
    if isinstance(value, Real):
        out = float(value)
    else:
        try:
            q = _parse(str(value).strip()) if isinstance(value, str) else value
            if not isinstance(q, pint.Quantity):
                out = float(q)
            else:
                out = float(q.to(unit).magnitude)
        except (pint.errors.DimensionalityError,) as exc:
            raise InputError(
                f"{field} must be a {kind} (e.g. in {unit}); got {value!r} ({exc.units1} is not a {kind})."
            ) from None
        except Exception:
            raise InputError(
                f"{field} must be a number or a quantity such as '1 {unit}'; got {value!r}."
            ) from None
    if not math.isfinite(out):
        raise InputError(f"{field} must be finite; got {value!r}.")
    return out


def to_hours(value: object, field: str = "time") -> float:
    """Convert a duration to hours (bare numbers are hours)."""
    return to_canonical(value, "time", field)


def to_mg(value: object, field: str = "amount") -> float:
    """Convert an amount to mg (bare numbers are mg)."""
    return to_canonical(value, "amount", field)


def to_kg(value: object, field: str = "weight") -> float:
    """Convert a body weight to kg (bare numbers are kg)."""
    return to_canonical(value, "mass", field)


def ng_per_ml_to_nM(conc_ng_ml: float, analyte: str = "ketamine") -> float:
    """Convert a mass concentration in ng/mL to nM using the analyte's molar mass.

    Examples
    --------
    >>> round(ng_per_ml_to_nM(237.73), 6)
    1000.0
    """
    return conc_ng_ml / MOLAR_MASS[analyte] * 1000.0
