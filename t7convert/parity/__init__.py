from t7convert.parity.compare import *  # noqa: F401,F403
from t7convert.parity.compare import (  # noqa: F401
    DEFAULT_RTOL,
    NonFiniteReference,
    check_finite_reference,
    difference,
    observe,
    read_torch7_outputs,
    verify,
)
