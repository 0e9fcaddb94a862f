"""Exceptions raised by skdomainclust."""

__all__ = ["DivergenceError"]


class DivergenceError(FloatingPointError):
    """Training stopped because it diverged.

    Raised by every estimator, instead of returning a model with NaN or exploding weights,
    when a loss term becomes NaN or infinite, when the loss grows far past its first steps, or
    when a parameter becomes non-finite. The message names the epoch and what diverged; the
    estimator is left as it was before ``fit``. Lowering the learning rate or standardising
    the features usually helps.
    """
