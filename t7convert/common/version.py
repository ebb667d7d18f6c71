"""The package version, in one place (files t7convert writes record it)."""
__version__ = "0.1.0"
