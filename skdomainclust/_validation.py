"""Checks of method arguments (not constructor parameters, which ``_params`` declares)."""

__all__ = ["check_choice"]


def check_choice(name, value, choices):
    """``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}.")
