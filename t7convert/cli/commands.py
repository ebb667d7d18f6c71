"""Imports every command module so that each registers itself on the ``cli`` group."""
from t7convert.cli import classify_cmd, convert_cmd, evaluate_cmd, inspect_cmd, parity_cmd, sample_cmd, synth_cmd  # noqa: F401
