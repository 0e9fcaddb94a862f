"""Exceptions raised by skdomainclust."""

__all__ = ["DivergenceError"]


class DivergenceError(FloatingPointError):
    """Training stopped because the loss became NaN or infinite.

    Raised by every estimator instead of returning a model with NaN weights. Lowering the
    learning rate or standardising the features usually helps.
    """
