"""NONMEM-style dose records: read_nonmem / write_nonmem."""

import io
import os
import re

import pytest

from ketasim.dosing import Bolus, Infusion, Regimen
from ketasim.errors import DataFileError, InputError
from ketasim.io import read_nonmem, write_nonmem
from ketasim.regimen_text import parse_regimen

HEADER = "ID,TIME,AMT,RATE,CMT,EVID,II,ADDL,DV,MDV"


def read(text):
    return read_nonmem(io.StringIO(text))


def write_file(tmp_path, text, name="doses.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


# --- reading ------------------------------------------------------------------------

def test_bolus_infusion_observation_and_cmt_routes():
    got = read(f"""{HEADER}
1,0,35,52.5,2,1,0,0,.,1
1,1,0,0,2,0,0,0,120.5,0
1,2,25,0,1,1,0,0,.,1
2,0,84,0,1,1,0,0,.,1
""")
    assert list(got) == ["1", "2"]
    assert got["1"].events == (Infusion(0.0, 35.0, 40 / 60, route="iv"), Bolus(2.0, 25.0, route="oral"))
    assert got["2"].events == (Bolus(0.0, 84.0, route="oral"),)


def test_route_and_drug_columns_take_precedence_over_cmt():
    got = read(f"""{HEADER},ROUTE,DRUG
1,0,56,0,1,1,0,0,.,1,intranasal,esketamine
1,1,20,0,2,1,0,0,.,1,snorted,S-ketamine
1,2,10,0,2,1,0,0,.,1,,
""")
    assert got["1"].events == (
        Bolus(0.0, 56.0, route="intranasal", drug="esketamine"),
        Bolus(1.0, 20.0, route="insufflated", drug="esketamine"),
        Bolus(2.0, 10.0, route="iv", drug="racemic"),
    )


def test_ii_addl_expand():
    got = read(f"""{HEADER},ROUTE
1,0,56,0,1,1,84,7,.,1,intranasal
""")
    assert [e.time for e in got["1"].events] == [84.0 * k for k in range(8)]


def test_decreasing_time_is_sorted():
    got = read(f"""{HEADER}
1,24,25,0,1,1,0,0,.,1
1,0,25,0,1,1,0,0,.,1
""")
    assert [e.time for e in got["1"].events] == [0.0, 24.0]


def test_minimal_columns_comments_blank_lines_and_case():
    got = read("""# dosing for study X
id,time,amt,cmt

1,0,25,1
1,3,.,1
""")
    # no EVID column: AMT > 0 is a dose, the rest are observations
    assert got["1"].events == (Bolus(0.0, 25.0, route="oral"),)


def test_ids_with_only_observations_get_an_empty_regimen():
    got = read(f"""{HEADER}
7,0,0,0,2,0,0,0,12,0
""")
    assert got == {"7": Regimen()}


def test_evid_2_is_skipped():
    got = read(f"""{HEADER}
1,0,0,0,2,2,0,0,.,1
""")
    assert got["1"].events == ()


def test_read_from_path(tmp_path):
    p = write_file(tmp_path, f"{HEADER}\n1,0,25,0,1,1,0,0,.,1\n")
    assert read_nonmem(p)["1"].events == (Bolus(0.0, 25.0, route="oral"),)
    assert read_nonmem(str(p))["1"].events == (Bolus(0.0, 25.0, route="oral"),)


# --- writing and round trips --------------------------------------------------------------

def test_write_columns_and_values():
    buf = io.StringIO()
    r = Regimen((Bolus(0.0, 56.0, route="intranasal", drug="esketamine"), Infusion(2.0, 35.0, 40 / 60)))
    write_nonmem({"A": r}, buf)
    assert buf.getvalue().splitlines() == [
        "ID,TIME,AMT,RATE,CMT,EVID,II,ADDL,MDV,ROUTE,DRUG",
        "A,0,56,0,1,1,0,0,1,intranasal,esketamine",
        "A,2,35,52.5,2,1,0,0,1,iv,racemic",
    ]


@pytest.mark.parametrize("text", [
    "56 mg esketamine intranasal twice weekly for 1 week, then 84 mg esketamine intranasal twice weekly for 3 weeks",
    "(100 mg insufflated every 30 min x 4) weekly for 12 weeks",
    "35 mg iv over 40 min every 84 h x 8 + 25 mg oral at 2 h",
    "10 mg/h iv for 72 h + 0.3 mg sublingual every 7 min x 3",
    "12.345678 mg im over 17 s + 20 mg rectal over 1.1 h",
])
def test_round_trip_read_write(tmp_path, text):
    x = {"1": parse_regimen(text), "subject-2": parse_regimen("25 mg arketamine oral daily x 3")}
    path = tmp_path / "out.csv"
    write_nonmem(x, path)
    assert read_nonmem(path) == x


def test_round_trip_single_regimen_gets_id_1():
    r = parse_regimen("25 mg oral daily x 3")
    buf = io.StringIO()
    write_nonmem(r, buf)
    buf.seek(0)
    assert read_nonmem(buf) == {"1": r}


def test_mg_per_kg_written_in_mg():
    r = parse_regimen("0.5 mg/kg iv over 40 min + 2 mg/kg intranasal at 1 h")
    buf = io.StringIO()
    write_nonmem({1: r}, buf, weights={1: 70.0})
    buf.seek(0)
    assert read_nonmem(buf)["1"].events == (Infusion(0.0, 35.0, 40 / 60), Bolus(1.0, 140.0, route="intranasal"))


def test_mg_per_kg_without_weight_is_an_error():
    r = parse_regimen("0.5 mg/kg iv")
    with pytest.raises(InputError, match=re.escape(
            "weights['1'] is needed for the dose of 0.5 mg/kg at 0 h of ID 1; got no weights. "
            "Give weights={ID: kg}.")):
        write_nonmem(r, io.StringIO())


def test_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "out.csv"
    path.write_text("old contents\n")
    r = parse_regimen("0.5 mg/kg iv")

    with pytest.raises(InputError):
        write_nonmem(r, path)  # fails before anything is written (no weight)
    assert path.read_text() == "old contents\n"

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        write_nonmem(parse_regimen("25 mg oral"), path)
    assert path.read_text() == "old contents\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]  # temp file removed


# --- malformed files -------------------------------------------------------------------

BAD = [
    ("ID,TIME,CMT\n1,0,1\n",
     "doses.csv, line 1 (header): missing column AMT; the header has ID, TIME, CMT. Required: ID, TIME, AMT; "
     "optional: RATE, CMT, EVID, II, ADDL, SS, ROUTE, DRUG (DV, MDV ignored)."),
    ("ID,TIEM,AMT,CMT\n1,0,1,1\n",
     "doses.csv, line 1 (header): missing column TIME; the header has ID, TIEM, AMT, CMT. Required: ID, TIME, "
     "AMT; optional: RATE, CMT, EVID, II, ADDL, SS, ROUTE, DRUG (DV, MDV ignored). Is 'TIEM' meant to be TIME?"),
    ("ID,TIME,AMT\n1,0,1\n",
     "doses.csv, line 1 (header): missing column ROUTE (or CMT); one of them gives the route of each dose. "
     "Add a ROUTE column (recommended)."),
    ("ID,TIME,AMT,CMT,CMT\n1,0,1,1,1\n",
     "doses.csv, line 1 (header): column CMT appears twice; each column name must be unique."),
    ("",
     "doses.csv: the file is empty; expected a header line with ID, TIME, AMT ..."),
    (f"{HEADER}\n1,0,25,0,1,1,0,0,.,1\n1,abc,25,0,1,1,0,0,.,1\n",
     "doses.csv, line 3, column TIME: TIME must be a number (hours); got 'abc'."),
    (f"{HEADER}\n1,0,-25,0,1,1,0,0,.,1\n",
     "doses.csv, line 2, column AMT: AMT must be > 0 mg; got '-25'."),
    (f"{HEADER}\n1,0,0,0,1,1,0,0,.,1\n",
     "doses.csv, line 2, column AMT: AMT must be > 0 mg for a dose record (EVID 1); got '0'. "
     "Remove the record or set EVID to 0 for an observation."),
    (f"{HEADER}\n1,0,25,0,1,1,0,3,.,1\n",
     "doses.csv, line 2, column II: II must be > 0 h when ADDL > 0 (ADDL is 3); got '0'. "
     "Give the dosing interval in hours, or set ADDL to 0."),
    (f"{HEADER},ROUTE\n1,0,25,0,1,1,0,0,.,1,intranasl\n",
     "doses.csv, line 2, column ROUTE: ROUTE must be one of iv, im, intranasal, insufflated, oral, sublingual, "
     "rectal, inhaled, ip, sc; got 'intranasl'. Did you mean 'intranasal'?"),
    (f"{HEADER},DRUG\n1,0,25,0,1,1,0,0,.,1,esketamin\n",
     "doses.csv, line 2, column DRUG: DRUG must be one of racemic, esketamine, arketamine; got 'esketamin'. "
     "Did you mean 'esketamine'?"),
    (f"{HEADER}\n1,0,25,-2,1,1,0,0,.,1\n",
     "doses.csv, line 2, column RATE: RATE -2 (duration modelled in $PK) is not supported; RATE must be 0 "
     "(bolus) or > 0 mg/h; got '-2'. Give the rate itself: RATE = AMT / duration in h."),
    (f"{HEADER}\n1,0,25,-1,1,1,0,0,.,1\n",
     "doses.csv, line 2, column RATE: RATE -1 (rate modelled in $PK) is not supported; RATE must be 0 "
     "(bolus) or > 0 mg/h; got '-1'. Give the rate itself: RATE = AMT / duration in h."),
    (f"{HEADER}\n1,0,25,0,1,4,0,0,.,1\n",
     "doses.csv, line 2, column EVID: EVID 4 (reset and dose) is not supported; EVID must be 0, 1 or 2; got '4'. "
     "Give each treatment period its own ID instead."),
    (f"{HEADER}\n1,0,25,0,1,3,0,0,.,1\n",
     "doses.csv, line 2, column EVID: EVID 3 (reset) is not supported; EVID must be 0, 1 or 2; got '3'. "
     "Give each treatment period its own ID instead."),
    (f"{HEADER}\n1,0,25,0,1,7,0,0,.,1\n",
     "doses.csv, line 2, column EVID: EVID must be 0 (observation), 1 (dose) or 2 (other event); got '7'."),
    (f"{HEADER}\n1,0,25,0,3,1,0,0,.,1\n",
     "doses.csv, line 2, column CMT: CMT must be 1 (depot, read as oral) or 2 (central, iv) when there is no "
     "ROUTE; got '3'. Add a ROUTE column to give other routes."),
    (f"{HEADER}\n1,0,25,0,1,1,0,0,.\n",
     "doses.csv, line 2: 9 fields, but the header has 10; every record needs one value per column."),
    (f"{HEADER}\n,0,25,0,1,1,0,0,.,1\n",
     "doses.csv, line 2, column ID: ID must not be empty; got ''."),
    (f"{HEADER}\n1,0,50000,0,1,1,0,0,.,1\n",
     "doses.csv, line 2, column AMT: amount must be <= 20000 mg for one dose; got 50000 mg. "
     "Check the unit (g vs mg, mg vs mg/kg)."),
    (f"{HEADER}\n1,-1,25,0,1,1,0,0,.,1\n",
     "doses.csv, line 2, column TIME: TIME must be >= 0 h for a dose; got '-1'."),
    (f"{HEADER},SS\n1,0,25,0,1,1,12,0,.,1,1\n",
     "doses.csv, line 2, column SS: SS must be 0; steady-state doses are not supported; got '1'. "
     "Write out the doses with II and ADDL instead."),
    (f"{HEADER}\n1,0,25,0,1,1,12,1.5,.,1\n",
     "doses.csv, line 2, column ADDL: ADDL must be a whole number (0 or more); got '1.5'."),
    (f"{HEADER}\n1,0,nan,0,1,1,0,0,.,1\n",
     "doses.csv, line 2, column AMT: AMT must be a finite number; got 'nan'."),
]


@pytest.mark.parametrize("text, message", BAD)
def test_malformed_file_messages(tmp_path, text, message):
    p = write_file(tmp_path, text)
    with pytest.raises(DataFileError) as info:
        read_nonmem(p)
    assert str(info.value) == message.replace("doses.csv", str(p))


def test_line_numbers_count_comments_and_blank_lines():
    text = f"{HEADER}\n# comment\n\n1,x,25,0,1,1,0,0,.,1\n"
    with pytest.raises(DataFileError, match=r"^<buffer>, line 4, column TIME: "):
        read_nonmem(io.StringIO(text))


def test_missing_file_is_a_data_file_error(tmp_path):
    with pytest.raises(DataFileError, match="cannot read the file"):
        read_nonmem(tmp_path / "nope.csv")
