"""The flagship report's "Benefit and harm outcomes" section: per-arm outcome table, saved and shown."""

import numpy as np

from ketasim.flagship import run_flagship
from ketasim.runner import RunResult


def test_flagship_report_has_a_benefit_and_harm_section(tmp_path):
    res = run_flagship(tmp_path, quiet=True, n=12, end="1 d", step="1 h")
    ds = res.dataset
    arms = [str(a) for a in ds["arm"].values]
    assert ds.attrs["outcome_subjects"] == 12
    for v in ("outcome_p_urinary_end", "outcome_p_dependence_end", "outcome_cognitive_burden_end"):
        x = dict(zip(arms, ds[v].values))
        assert np.all(np.isfinite(list(x.values()))), v
        # dependent daily use carries the largest harm, recreational weekend more than the esketamine course
        assert x["dependent-daily"] > x["recreational-weekend"] > x["esketamine"] >= 0, (v, x)
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert 'id="outcomes-table"' in html and "Benefit and harm outcomes" in html
    back = RunResult.load(tmp_path)
    np.testing.assert_allclose(back.dataset["outcome_p_dependence_end"].values, ds["outcome_p_dependence_end"].values)
