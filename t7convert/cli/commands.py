"""Imports every command module so that each registers itself on the ``cli`` group."""
from . import inspect_cmd  # noqa: F401
