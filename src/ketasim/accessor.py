"""``ds.ket``: summaries and plots of ketasim results, as an xarray accessor.

>>> import numpy as np, ketasim as ks
>>> ds = ks.simulate("20 mg iv over 20 min", ks.Subject(), np.arange(0, 12, 0.05),
...                  parameters="domino_tci_racemic", outputs=["C_plasma_ketamine"])
>>> round(float(ds.ket.tmax("C_plasma_ketamine")[0]), 2)
0.3
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .errors import unknown

__all__ = ["KetAccessor"]


@xr.register_dataset_accessor("ket")
class KetAccessor:
    """Per-subject summaries of a ketasim result (dimension ``time`` in h)."""

    def __init__(self, ds: xr.Dataset) -> None:
        self._ds = ds

    def _var(self, name: str) -> xr.DataArray:
        if name not in self._ds.data_vars:
            raise unknown("variable", name, list(self._ds.data_vars))
        return self._ds[name]

    def cmax(self, name: str = "C_plasma_ketamine") -> xr.DataArray:
        """Maximum over the output grid, per subject (same units as the variable)."""
        da = self._var(name)
        out = da.max("time")
        out.attrs = {"units": da.attrs.get("units", ""), "long_name": f"maximum of {name} on the output grid"}
        return out

    def tmax(self, name: str = "C_plasma_ketamine") -> xr.DataArray:
        """Time of the maximum (h), per subject (first occurrence)."""
        da = self._var(name)
        idx = da.argmax("time")
        out = da["time"][idx].drop_vars("time", errors="ignore")
        out.attrs = {"units": "h", "long_name": f"time of maximum of {name}"}
        return out

    def auc(self, name: str = "C_plasma_ketamine", start: float | None = None, end: float | None = None) -> xr.DataArray:
        """Area under the curve by the trapezoidal rule on the output grid (units x h).

        Use a fine grid for accuracy; ketasim's concentrations are exact at the
        grid points, so the only error is the quadrature between them.
        """
        da = self._var(name)
        if start is not None or end is not None:
            da = da.sel(time=slice(start, end))
        t = da["time"].values
        y = da.values
        val = np.trapezoid(y, t, axis=da.get_axis_num("time")) if t.size > 1 else np.zeros(y.shape[:-1])
        dims = [d for d in da.dims if d != "time"]
        out = xr.DataArray(val, dims=dims, coords={d: da[d] for d in dims})
        out.attrs = {"units": f"{da.attrs.get('units', '')}*h", "long_name": f"AUC of {name}"}
        return out

    def time_above(self, name: str, threshold: float) -> xr.DataArray:
        """Hours above ``threshold`` per subject (linear interpolation between grid points)."""
        da = self._var(name)
        t = da["time"].values
        y = da.transpose(..., "time").values - threshold
        y0, y1 = y[..., :-1], y[..., 1:]
        dt = np.diff(t)
        both = (y0 > 0) & (y1 > 0)
        cross = (y0 > 0) != (y1 > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.where(cross, np.where(y0 > 0, y0, y1) / np.abs(y1 - y0), 0.0)
        hours = (both * dt).sum(-1) + (frac * dt).sum(-1)
        dims = [d for d in da.transpose(..., "time").dims if d != "time"]
        out = xr.DataArray(hours, dims=dims, coords={d: da[d] for d in dims})
        out.attrs = {"units": "h", "long_name": f"time with {name} above {threshold:g} {da.attrs.get('units', '')}"}
        return out

    def quantiles(self, name: str, q=(0.05, 0.5, 0.95)) -> xr.DataArray:
        """Population quantiles over subjects at each time."""
        return self._var(name).quantile(list(q), dim="subject")

    def plot(self, name: str = "C_plasma_ketamine", ax=None, *, bands=(0.05, 0.95), log: bool = False):
        """Plot the median and a quantile band over subjects (or the single curve)."""
        import matplotlib.pyplot as plt

        da = self._var(name)
        ax = ax or plt.subplots(figsize=(7, 4))[1]
        t = da["time"].values
        if da.sizes.get("subject", 1) > 1:
            qs = da.quantile([bands[0], 0.5, bands[1]], dim="subject").values
            ax.fill_between(t, qs[0], qs[2], alpha=0.3, label=f"{int(bands[0]*100)}-{int(bands[1]*100)}%")
            ax.plot(t, qs[1], label="median")
            ax.legend()
        else:
            ax.plot(t, da.values.reshape(-1, t.size)[0])
        ax.set_xlabel("time (h)")
        ax.set_ylabel(f"{da.attrs.get('long_name', name)} ({da.attrs.get('units', '')})")
        if log:
            ax.set_yscale("log")
        return ax
