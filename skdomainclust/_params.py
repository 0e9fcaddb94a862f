"""Declarative parameter constraints: scikit-learn's machinery plus what deep estimators need.

Every public estimator declares ``_parameter_constraints`` (one entry per constructor
parameter, checked by :meth:`~skdomainclust._base.DeepDomainEstimator.fit`'s decorator before
any data is looked at), in the vocabulary of ``sklearn.utils._param_validation``: the same
error type (``InvalidParameterError``, a ``ValueError`` and ``TypeError``), the same messages,
and sklearn's ``check_param_validation`` can run over the tables. scikit-learn keeps that module
private but stable since 1.2, and imbalanced-learn builds on it the same way.

Constraints sklearn lacks (layer widths, fractions of training) subclass ``Options``, the one
extensible constraint its ``make_constraint`` passes through unchanged.
"""

from numbers import Integral, Real

import torch
from sklearn.utils._param_validation import (
    HasMethods,
    Hidden,
    Interval,
    InvalidParameterError,
    Options,
    RealNotInt,
    StrOptions,
)

__all__ = [
    "COMMON_CONSTRAINTS",
    "Fractions",
    "HasMethods",
    "Hidden",
    "Interval",
    "InvalidParameterError",
    "Integral",
    "Real",
    "RealNotInt",
    "StrOptions",
    "Widths",
    "optimizer_constraint",
    "positive_int",
    "non_negative_int",
    "positive_real",
    "non_negative_real",
    "unit_interval",
]


def _is_int(value):
    return isinstance(value, Integral) and not isinstance(value, bool)


class Widths(Options):
    """A tuple or list of positive ints: the hidden widths of an MLP (may be empty)."""

    def __init__(self, *, allow_empty=True):
        super().__init__(tuple, set())
        self.allow_empty = allow_empty

    def is_satisfied_by(self, val):
        return (isinstance(val, (tuple, list)) and (self.allow_empty or len(val) > 0)
                and all(_is_int(v) and v >= 1 for v in val))

    def __str__(self):
        return "a tuple of ints >= 1" + ("" if self.allow_empty else " (not empty)")


class Fractions(Options):
    """A tuple or list of numbers in the open interval (0, 1): points in training."""

    def __init__(self):
        super().__init__(tuple, set())

    def is_satisfied_by(self, val):
        return (isinstance(val, (tuple, list))
                and all(isinstance(v, Real) and not isinstance(v, bool) and 0 < v < 1
                        for v in val))

    def __str__(self):
        return "a tuple of fractions of training in (0, 1)"


def positive_int(minimum=1):
    return Interval(Integral, minimum, None, closed="left")


def non_negative_int():
    return Interval(Integral, 0, None, closed="left")


def positive_real():
    return Interval(Real, 0, None, closed="neither")


def non_negative_real():
    return Interval(Real, 0, None, closed="left")


def unit_interval(closed="both"):
    return Interval(Real, 0, 1, closed=closed)


def optimizer_constraint():
    """An optimizer name or a ``torch.optim.Optimizer`` subclass (checked when resolved)."""
    return [StrOptions({"adam", "adamw", "sgd"}), type]


#: Parameters every deep estimator shares, with the same meaning everywhere.
COMMON_CONSTRAINTS = {
    "encoder": [None, torch.nn.Module, callable],
    "optimizer": optimizer_constraint(),
    "lr": [positive_real()],
    "weight_decay": [non_negative_real()],
    "momentum": [unit_interval(closed="left")],
    "max_epochs": [positive_int()],
    "batch_size": [positive_int(2)],
    "hidden_dims": [Widths()],
    "dropout": [unit_interval(closed="left")],
    # "cuda:1" and torch.device("cuda") are valid too: resolve_device checks the value.
    "device": [str, torch.device],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}
