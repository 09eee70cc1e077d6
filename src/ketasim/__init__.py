"""ketasim: a quantitative systems pharmacology simulator of ketamine.

From a dose to plasma and effect-site concentrations of ketamine, its
enantiomers and metabolites, exactly and fast, for one person or a population.
See the README for a five-minute tour and ``docs/`` for the model description.
"""

__version__ = "0.1.0"

from .dosing import DRUGS, ROUTES, Bolus, Infusion, Regimen  # noqa: E402
from .errors import (  # noqa: E402
    DataFileError,
    InputError,
    KetasimError,
    ParameterSetError,
    RegimenParseError,
    RouteNotSupportedError,
    UnknownNameError,
)
from .parameters import ParameterSet, get_parameter_set, list_parameter_sets, load_parameter_set  # noqa: E402
from .population import Population, Subject, sample_population  # noqa: E402
from .simulate import default_parameter_set, simulate  # noqa: E402
from .acute_safety import (  # noqa: E402  (issue 9: acute safety)
    LABEL_CRITERIA,
    monitoring_window,
    share_exceeding,
    with_safety_variability,
)
from .outcomes import with_outcome_variability, with_relapse_clock  # noqa: E402  (issue 4: random effects, relapse clock)
from . import accessor as _accessor  # noqa: E402,F401  (registers ds.ket)
from .regimen_text import parse_regimen  # noqa: E402
from .io import read_nonmem, write_nonmem  # noqa: E402
from . import trials  # noqa: E402  (ks.trials.run / sweep / sensitivity)
from . import epidemiology  # noqa: E402  (ks.epidemiology.fit / project / compare)
from .behaviour import self_administration  # noqa: E402  (issue 4: the agent chooses its doses)
from .compare_patterns import compare_patterns  # noqa: E402  (issue 4: benefit and harm by pattern of use)

__all__ = [
    "__version__",
    "Bolus",
    "Infusion",
    "Regimen",
    "ROUTES",
    "DRUGS",
    "Subject",
    "Population",
    "sample_population",
    "ParameterSet",
    "get_parameter_set",
    "list_parameter_sets",
    "load_parameter_set",
    "simulate",
    "monitoring_window",
    "share_exceeding",
    "with_safety_variability",
    "with_outcome_variability", "with_relapse_clock",
    "LABEL_CRITERIA",
    "parse_regimen",
    "read_nonmem",
    "write_nonmem",
    "trials",
    "epidemiology",
    "self_administration",
    "compare_patterns",
    "default_parameter_set",
    "KetasimError",
    "InputError",
    "UnknownNameError",
    "RegimenParseError",
    "ParameterSetError",
    "RouteNotSupportedError",
    "DataFileError",
]
