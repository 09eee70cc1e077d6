"""The README's five-minute tour runs as printed: its Python examples are doctests (real output)."""

import doctest
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_examples_give_the_printed_output():
    res = doctest.testfile(str(README), module_relative=False, report=True,
                           optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.attempted >= 10
    assert res.failed == 0
