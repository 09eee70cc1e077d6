"""Writing results to disk: atomically, so an interrupted write never leaves a half file.

Every writer writes to a temporary file in the destination directory and
renames it over the target with :func:`os.replace` (atomic on POSIX and
Windows for files on one file system).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import xarray as xr

__all__ = ["atomic_write_bytes", "atomic_path", "write_netcdf", "read_netcdf"]


class atomic_path:
    """Context manager yielding a temporary path that replaces ``path`` on success.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_path(d / "x.txt") as tmp:
    ...     _ = tmp.write_text("hello")
    >>> (d / "x.txt").read_text()
    'hello'
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def __enter__(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        os.close(fd)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)  # as an ordinary new file, not mkstemp's 0600
        self.tmp = Path(tmp)
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                os.replace(self.tmp, self.path)
        finally:
            # on any failure (in the body or in the rename) the temporary file goes
            try:
                self.tmp.unlink()
            except FileNotFoundError:
                pass


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())


def write_netcdf(ds: xr.Dataset, path: str | os.PathLike, *, compress: bool = True) -> None:
    """Write a result Dataset to NetCDF-4 (h5netcdf engine) atomically, zlib-compressed."""
    enc = {}
    if compress:
        for v in ds.data_vars:
            if ds[v].dtype.kind in "fiu":
                enc[v] = {"zlib": True, "complevel": 4}
    ds = ds.copy()
    for k, v in list(ds.attrs.items()):
        if not isinstance(v, (str, int, float)):
            ds.attrs[k] = str(v)
    for name in list(ds.coords) + list(ds.data_vars):
        if ds[name].dtype == object:
            ds[name] = ds[name].astype(str)
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine="h5netcdf", encoding=enc)


def read_netcdf(path: str | os.PathLike) -> xr.Dataset:
    """Read a result written by :func:`write_netcdf` (loaded into memory, file closed)."""
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return ds.load()
