"""Parameter checks shared by the estimators' ``fit``, each a ValueError naming the parameter."""

import numpy as np

__all__ = ["check_choice", "check_int"]


def check_int(name, value, minimum=1):
    """``value`` is an integer (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}.")


def check_choice(name, value, choices):
    """``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}.")
