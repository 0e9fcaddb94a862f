"""Model selection on held-out *source* rows: what the labelled domain says about the target.

The label-free scores of :mod:`.unsupervised` read only the target's predictions. The scores
here read the labels of source rows that the model did *not* train on, so they need a split
that keeps some source rows out of ``fit``:
:class:`~skdomainclust.model_selection.SourceHoldOut` does, and keeps every target row in
both folds as transductive adaptation does. Scored on source rows the model was fitted on,
they measure training accuracy, which says little.

- :func:`source accuracy <make_source_scorer>` (``"source_accuracy"``; ``"source_pairwise_f1"``
  for clusterers trained with source labels): plain hold-out accuracy. It ignores the shift,
  and is often hard to beat (Musgrave et al., ECCV 2022).
- :func:`importance_weighted_score` (IWV; Sugiyama et al., JMLR 2007,
  ``"source_iwv_accuracy"``): hold-out accuracy with each source row weighted by the density
  ratio ``p_target(x) / p_source(x)`` (:func:`density_ratio`), so that source rows that look
  like target rows count more.
- :func:`deep_embedded_validation_risk` (DEV; You et al., ICML 2019, ``"source_dev"``): the
  importance-weighted cross-entropy with a control variate that removes most of the variance
  the weights add; the scorer negates the risk, so greater is better. The scorer divides the
  weights by their maximum first ("DEVN", Musgrave et al., ECCV 2022): on a learned
  embedding the domain classifier is often near-certain, raw weights then span many orders
  of magnitude and the raw DEV risk swings by thousands between candidates.

The density ratio comes from a logistic-regression domain classifier on the model's own
embedding (``transform``, else ``predict_proba``) of the held-out source rows and the target
rows, with out-of-fold probabilities so that a row never weighs itself. Target rows enter only
as unlabelled features: their labels are never read.
"""

import functools
import warnings
from typing import NamedTuple

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .._contract import _is_mask, check_sample_domain
from ..exceptions import DomainInferenceWarning
from .clustering import pairwise_f1
from .scorers import _FunctionScorer, _respond

__all__ = [
    "SourceScorer",
    "deep_embedded_validation_risk",
    "density_ratio",
    "importance_weighted_score",
    "make_source_scorer",
]

# Domain-classifier probabilities are kept inside [EPS, 1 - EPS]: a row the classifier is
# certain about would otherwise carry an infinite (or zero) weight.
_EPS = 1e-6


def density_ratio(source_features, target_features, *, n_folds=5, random_state=0):
    """Importance weights ``p_target(x) / p_source(x)`` of the source rows.

    A logistic-regression domain classifier (standardised features) separates the source rows
    from the target rows; with ``d(x)`` its out-of-fold probability that ``x`` is a target
    row, the weight of a source row is ``d / (1 - d) * n_source / n_target`` (Bayes' rule),
    so the weights average about one when the domains are alike.

    Parameters
    ----------
    source_features : array-like of shape (n_source, n_features)
    target_features : array-like of shape (n_target, n_features)
    n_folds : int, default=5
        Folds of the out-of-fold probabilities (fewer when a domain has fewer rows).
    random_state : int, default=0
        Seeds the folds, fixed so that every candidate model is weighted alike.

    Returns
    -------
    weights : ndarray of shape (n_source,)

    Examples
    --------
    >>> import numpy as np
    >>> from skdomainclust.metrics import density_ratio
    >>> rng = np.random.default_rng(0)
    >>> source = rng.normal(size=(200, 1))
    >>> target = rng.normal(loc=1.0, size=(200, 1))
    >>> weights = density_ratio(source, target)
    >>> bool(weights[source[:, 0] > 1].mean() > weights[source[:, 0] < 0].mean())
    True
    """
    source = np.asarray(source_features, dtype=np.float64)
    target = np.asarray(target_features, dtype=np.float64)
    if source.ndim != 2 or target.ndim != 2 or source.shape[1] != target.shape[1]:
        raise ValueError(f"Expected two feature matrices with the same columns, got shapes "
                         f"{source.shape} and {target.shape}.")
    n_source, n_target = len(source), len(target)
    folds = min(n_folds, n_source, n_target)
    if folds < 2:
        raise ValueError("The density ratio needs at least two source and two target rows.")
    X = np.vstack([source, target])
    is_target = np.r_[np.zeros(n_source, dtype=int), np.ones(n_target, dtype=int)]
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    cv = StratifiedKFold(folds, shuffle=True, random_state=random_state)
    p_target = cross_val_predict(classifier, X, is_target, cv=cv,
                                 method="predict_proba")[:n_source, 1]
    p_target = np.clip(p_target, _EPS, 1 - _EPS)
    return p_target / (1 - p_target) * (n_source / n_target)


def importance_weighted_score(values, weights):
    """Self-normalised importance-weighted mean ``sum(w * v) / sum(w)`` (IWV).

    Parameters
    ----------
    values : array-like of shape (n_source,)
        Per-row scores of the held-out source rows (1 for a correct prediction, 0 otherwise).
    weights : array-like of shape (n_source,)
        Non-negative importance weights (:func:`density_ratio`).

    Returns
    -------
    score : float

    Examples
    --------
    >>> from skdomainclust.metrics import importance_weighted_score
    >>> importance_weighted_score([1, 0, 1], [1.0, 1.0, 2.0])
    0.75
    """
    values, weights = _check_pair(values, weights)
    return float(np.sum(weights * values) / np.sum(weights))


def deep_embedded_validation_risk(losses, weights):
    """Deep embedded validation risk: importance-weighted loss with a control variate.

    With ``l`` the per-row losses and ``w`` the weights, the weighted loss ``w * l`` has mean
    ``R`` (the target risk, if the weights are right) and the weights have known mean one;
    DEV subtracts ``eta * (mean(w) - 1)`` with ``eta = cov(w * l, w) / var(w)``, the
    coefficient that minimises the variance of the estimate (You et al., ICML 2019).

    Parameters
    ----------
    losses : array-like of shape (n_source,)
        Per-row losses of the held-out source rows (cross-entropy).
    weights : array-like of shape (n_source,)
        Importance weights (:func:`density_ratio`).

    Returns
    -------
    risk : float
        Lower is better.

    Examples
    --------
    >>> from skdomainclust.metrics import deep_embedded_validation_risk
    >>> deep_embedded_validation_risk([0.5, 0.5], [1.0, 1.0])  # equal weights: the mean loss
    0.5
    """
    losses, weights = _check_pair(losses, weights)
    weighted = weights * losses
    variance = np.var(weights, ddof=1) if len(weights) > 1 else 0.0
    eta = 0.0 if variance == 0 else -np.cov(weighted, weights)[0, 1] / variance
    return float(np.mean(weighted) + eta * np.mean(weights) - eta)


def _check_pair(values, weights):
    values = np.asarray(values, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    if values.ndim != 1 or values.shape != weights.shape or len(values) == 0:
        raise ValueError(f"Expected two non-empty 1-D arrays of the same length, got shapes "
                         f"{values.shape} and {weights.shape}.")
    if (weights < 0).any() or weights.sum() <= 0:
        raise ValueError("Importance weights must be non-negative and not all zero.")
    return values, weights


# -- scorers ------------------------------------------------------------------------------


def _embedding(estimator, X, domains):
    return np.asarray(_respond(estimator, ("transform", "predict_proba"), X, domains),
                      dtype=np.float64).reshape(len(X), -1)


def _class_columns(estimator, y_source):
    """Column of each source label in ``predict_proba`` (labels unknown to the model: -1)."""
    classes = getattr(estimator, "classes_", None)
    if classes is None:
        raise AttributeError(f"{type(estimator).__name__} has no classes_: the source-validated "
                             "scores need a classifier.")
    lookup = {label: column for column, label in enumerate(np.asarray(classes).tolist())}
    return np.array([lookup.get(label, -1) for label in y_source.tolist()])


def _weights(estimator, source, target):
    return density_ratio(_embedding(estimator, source.X, source.domains),
                         _embedding(estimator, target.X, target.domains))


def _iwv_accuracy(estimator, source, target):
    correct = np.asarray(_respond(estimator, "predict", source.X, source.domains)) == source.y
    return importance_weighted_score(correct.astype(np.float64),
                                     _weights(estimator, source, target))


def _dev(estimator, source, target):
    proba = np.asarray(_respond(estimator, "predict_proba", source.X, source.domains),
                       dtype=np.float64)
    columns = _class_columns(estimator, source.y)
    p_true = np.where(columns >= 0, proba[np.arange(len(proba)), np.maximum(columns, 0)], 0.0)
    losses = -np.log(np.clip(p_true, _EPS, 1.0))
    weights = _weights(estimator, source, target)
    return -deep_embedded_validation_risk(losses, weights / weights.max())


class _Rows(NamedTuple):
    """Some rows of the scored data: features, labels (None for target rows), domains."""

    X: object
    y: object
    domains: object


def _select(X, y, domains, rows):
    return _Rows(X[rows], None if y is None else y[rows],
                 None if domains is None else domains[rows])


class SourceScorer(_FunctionScorer):
    """Scorer ``scorer(estimator, X, y, sample_domain=None)`` of the labelled source rows.

    It scores the rows with ``sample_domain >= 0`` and a label other than ``-1``; without
    ``sample_domain``, the rows whose label is not ``-1`` (the ``y == -1`` workflow, where
    target labels are masked). The target rows (``sample_domain < 0``) are passed to
    ``score_func`` as unlabelled features only. Use it with a split that holds source rows out
    of ``fit``, such as :class:`~skdomainclust.model_selection.SourceHoldOut`. Get the
    predefined ones with :func:`~skdomainclust.metrics.get_scorer`: ``"source_accuracy"``,
    ``"source_pairwise_f1"``, ``"source_iwv_accuracy"`` and ``"source_dev"``; build others
    with :func:`make_source_scorer`.

    Parameters
    ----------
    score_func : callable
        ``score_func(estimator, source, target) -> float``, greater is better, where
        ``source`` has the fields ``X``, ``y`` and ``domains`` of the labelled source rows and
        ``target`` the fields ``X`` and ``domains`` (``y`` None) of the target rows; pass
        ``domains`` on to the estimator's methods that take ``sample_domain``.
    name : str
        Shown in the repr.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.dummy import DummyClassifier
    >>> from skdomainclust.metrics import get_scorer
    >>> X = np.zeros((4, 1))
    >>> clf = DummyClassifier(strategy="constant", constant=1).fit(X, [1, 0, 1, 1])
    >>> scorer = get_scorer("source_accuracy")
    >>> scorer(clf, X, [1, 0, 7, 7], sample_domain=[0, 0, -1, -1])  # rows 0 and 1 only
    0.5
    """

    def __call__(self, estimator, X, y, sample_domain=None):
        """Score ``estimator`` on the labelled source rows of ``X``.

        Parameters
        ----------
        estimator : object
            Fitted estimator.
        X : array-like of shape (n_samples, ...)
            Source and target rows stacked.
        y : array-like of shape (n_samples,)
            Labels; only those of source rows are read.
        sample_domain : array-like of int, int or None, default=None
            ``>= 0`` source, ``< 0`` target.

        Returns
        -------
        score : float
        """
        if y is None:
            raise ValueError(f"{self!r} needs the source labels y, got None.")
        y = np.asarray(y)
        X = X if hasattr(X, "shape") else np.asarray(X)
        labelled = ~_is_mask(y)
        if sample_domain is None:
            domains = None
            source, target = labelled, ~labelled
            if not target.any():
                warnings.warn(
                    "A source scorer got no sample_domain and no row of y is -1: every row is "
                    "scored as a source row, target rows (and their labels) included. Enable "
                    "metadata routing so that sample_domain reaches the scorer, or mask the "
                    "target labels with -1.", DomainInferenceWarning, stacklevel=2)
        else:
            domains = check_sample_domain(sample_domain, len(y), fit=False)
            source, target = (domains >= 0) & labelled, domains < 0
        if not source.any():
            raise ValueError("No labelled source rows to score: hold some source rows out of "
                             "fit (SourceHoldOut) and pass their labels.")
        return float(self._score_func(estimator, _select(X, y, domains, source),
                                      _select(X, None, domains, target)))


def make_source_scorer(metric, *, response_method="predict"):
    """A :class:`SourceScorer` applying ``metric(y_true, y_pred)`` to the held-out source rows.

    Parameters
    ----------
    metric : callable
        ``metric(y_true, y_pred) -> float``, greater is better.
    response_method : str, default="predict"

    Returns
    -------
    scorer : SourceScorer

    Examples
    --------
    >>> from sklearn.metrics import balanced_accuracy_score
    >>> from skdomainclust.metrics import make_source_scorer
    >>> make_source_scorer(balanced_accuracy_score)
    SourceScorer(balanced_accuracy_score on source rows)
    """
    name = getattr(metric, "__name__", repr(metric))
    # A partial of a module-level function, not a closure: scorers are pickled with searches.
    return SourceScorer(functools.partial(_metric_score, metric, response_method),
                        name=f"{name} on source rows")


def _metric_score(metric, response_method, estimator, source, target):
    return metric(source.y, np.asarray(_respond(estimator, response_method, source.X,
                                                source.domains)))


SOURCE_SCORERS = {
    "source_accuracy": make_source_scorer(accuracy_score),
    "source_pairwise_f1": make_source_scorer(pairwise_f1),
    "source_iwv_accuracy": SourceScorer(_iwv_accuracy, name="importance-weighted accuracy"),
    "source_dev": SourceScorer(_dev, name="deep embedded validation"),
}
