"""Exceptions raised by skdomainclust."""

__all__ = ["DivergenceError", "DomainInferenceWarning", "GeometryDisagreementWarning"]


class DivergenceError(FloatingPointError):
    """Training stopped because it diverged.

    Raised by every estimator, instead of returning a model with NaN or exploding weights,
    when a loss term becomes NaN or infinite, when the loss grows far past its first steps, or
    when a parameter becomes non-finite. The message names the epoch and what diverged; the
    estimator is left as it was before ``fit``. Lowering the learning rate or standardising
    the features usually helps.
    """


class DomainInferenceWarning(UserWarning):
    """The domains of the rows were inferred in a way that may not be what was meant.

    Raised when ``fit`` gets no ``sample_domain`` and no row of ``y`` is ``-1`` (every row is
    then a labelled source row, trained on), and when a target scorer gets no
    ``sample_domain`` and no masked label (every row is then scored, source rows included).
    Pass ``sample_domain`` (target rows ``< 0``), or mark the target rows with ``y == -1``.
    """


class GeometryDisagreementWarning(UserWarning):
    """A fitted clustering agrees little with the structure the target rows already have.

    Raised by :class:`~skdomainclust.CCNClusterer` when its clusters and k-means on the
    target's own input features (same number of clusters) share little information
    (``geometry_agreement_``, an NMI, below 0.5). Either the learned pair similarity does
    not transfer to these rows (too few or too different auxiliary classes: G fitted on
    scikit-learn's digits 0-4 clusters digits 5-9 at 42 % where k-means reaches 89 %), or the
    input features carry little class structure (raw pixels of new characters, where G is
    what makes clustering possible). The message says which remedy to try.
    """
