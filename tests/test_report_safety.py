"""The flagship report's acute-safety section (issue 9): per arm, peak SBP rise, sedation, window."""

import numpy as np

from ketasim.flagship import run_flagship
from ketasim.runner import RunResult


def test_flagship_report_has_a_safety_section(tmp_path):
    res = run_flagship(tmp_path, quiet=True, n=60, end="2 d", step="30 min")
    ds = res.dataset
    arms = [str(a) for a in ds["arm"].values]
    window = dict(zip(arms, ds["safety_window_h_median"].values))
    # the label's minimum of 2 h holds for every arm; more doses on the first day, more blood pressure
    assert all(w >= 2.0 for w in window.values())
    sbp = dict(zip(arms, ds["safety_peak_dSBP_median"].values))
    assert sbp["dependent-daily"] > sbp["esketamine"] > 0
    share = ds["safety_share_dSBP_ge_40"].values
    assert np.all((ds["safety_share_dSBP_ge_40_low"].values <= share) & (share <= ds["safety_share_dSBP_ge_40_high"].values))
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert 'id="safety-table"' in html and "monitoring window" in html
    # saved and read back with the rest of the results
    back = RunResult.load(tmp_path)
    np.testing.assert_array_equal(back.dataset["safety_window_h_median"].values, ds["safety_window_h_median"].values)
