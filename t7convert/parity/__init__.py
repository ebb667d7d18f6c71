from t7convert.parity.compare import *  # noqa: F401,F403
from t7convert.parity.compare import DEFAULT_RTOL, difference, observe, random_input, read_torch7_outputs, verify  # noqa: F401
