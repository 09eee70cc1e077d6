"""The acute-safety example of docs/user-guide.md runs as written and gives the numbers the guide states."""

import re
from pathlib import Path

import numpy as np
import pytest

import ketasim as ks

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "user-guide.md"


def test_user_guide_acute_safety_example_and_numbers():
    text = GUIDE.read_text(encoding="utf-8")
    sec = text[text.index("### Acute safety"):text.index("## Command line")]
    code = re.search(r"```python\n(.*?)```", sec, re.S).group(1)
    ns = {"ks": ks, "np": np}
    exec(compile(code, str(GUIDE), "exec"), ns)  # the snippet as printed in the guide
    res = ns["res"]
    peaks = {v: float(res[v].max()) for v in ("delta_SBP", "delta_DBP", "delta_HR")}
    assert peaks["delta_SBP"] == pytest.approx(10.3, abs=0.05) and "SBP +10.3" in sec
    assert peaks["delta_DBP"] == pytest.approx(6.0, abs=0.05) and "DBP +6.0" in sec
    assert peaks["delta_HR"] == pytest.approx(2.8, abs=0.05) and "HR +2.8 bpm" in sec
    t_peak = float(res["time"][int(np.argmax(res["delta_SBP"].values[0]))])
    assert t_peak == pytest.approx(0.75, abs=0.05)
    assert float(res["sedation"].min()) == pytest.approx(4.43, abs=0.005) and "MOAA/S 4.43" in sec
    w = ks.monitoring_window(res, criteria="label")
    assert w["window_h"].iloc[0] == 2.0 and w["set_by"].iloc[0] == "minimum observation"
    assert w["moaas_min_h"].iloc[0] == pytest.approx(1.04, abs=0.005) and "1.04 h" in sec
    assert w["dissociation_max_h"].iloc[0] == pytest.approx(1.24, abs=0.005) and "1.24 h" in sec
    s = ks.share_exceeding(res, "delta_SBP", 40)
    assert s["count"] == 0 and s["low"] == 0 and 0 < s["high"] < 1
