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

    Raised by :class:`~skdomainclust.CCNClusterer` when k-means on the target's own input
    features gives a partition that is stable across seeds (``geometry_stability_``, an
    ARI, at least 0.5) and the fitted clusters share little information with it
    (``geometry_agreement_``, an NMI, below 0.5): the features hold structure the
    clustering does not follow, and k-means may score better on these rows. For CCN this is
    the sign of a similarity network that does not transfer (G fitted on scikit-learn's
    digits 0-4 clusters digits 5-9 at 42 % where k-means reaches 89 %). The message names
    the remedy to try; see ``skdomainclust._geometry`` for the measured thresholds.
    """
