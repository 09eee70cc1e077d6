"""Exception classes of ketasim.

Every error is also a built-in exception (``ValueError``, ``KeyError`` ...) so
that generic ``except`` clauses keep working, and every message names the field,
the value given, what was expected and, where it helps, how to fix it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "KetasimError",
    "InputError",
    "UnknownNameError",
    "RegimenParseError",
    "ParameterSetError",
    "RouteNotSupportedError",
    "DataFileError",
    "suggest",
]


class KetasimError(Exception):
    """Base class of all ketasim errors."""


class InputError(KetasimError, ValueError):
    """A value given by the user is out of range, of the wrong type or unit."""


class UnknownNameError(InputError, KeyError):
    """A name (route, drug, parameter set, output variable ...) is not known."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class RegimenParseError(InputError):
    """Regimen text could not be parsed; the message points at the offending word."""


class ParameterSetError(KetasimError, ValueError):
    """A parameter-set file is malformed or inconsistent."""


class RouteNotSupportedError(InputError):
    """The chosen parameter set cannot simulate the requested route or drug."""


class DataFileError(InputError):
    """A user data file (NONMEM dataset, observations ...) is malformed."""


def suggest(name: str, valid: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest valid name, or ``""``.

    Examples
    --------
    >>> suggest("intranasl", ["iv", "intranasal", "oral"])
    " Did you mean 'intranasal'?"
    """
    close = difflib.get_close_matches(str(name), list(valid), n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


def unknown(field: str, value: object, valid: Iterable[str]) -> UnknownNameError:
    """Build the standard "unknown name" error for ``field``."""
    valid = list(valid)
    return UnknownNameError(
        f"{field} must be one of {', '.join(repr(v) for v in valid)}; got {value!r}."
        + suggest(str(value), valid)
    )
