"""The reference execution's layer families: one module each, registered by Torch7 class name and
found by :func:`t7convert.common.registry.discover` (no import list to edit)."""
