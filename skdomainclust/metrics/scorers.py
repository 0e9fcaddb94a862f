"""Scorers for ``GridSearchCV`` that score only the target-domain rows.

The data contract of skdomainclust stacks source and target rows in one ``X``;
``sample_domain`` marks them (``>= 0`` source, ``< 0`` target, as in skada) and ``y`` holds
``-1`` on unlabelled rows. Target labels given to ``GridSearchCV`` never reach ``fit`` (the
estimators ignore target rows of ``y``), so the scorers below can use them to evaluate
unsupervised domain adaptation honestly:

- when ``sample_domain`` reaches the scorer, only target rows are scored (and, among them,
  rows labelled ``-1``, which carry no ground truth, are dropped);
- without ``sample_domain``, rows labelled ``-1`` are ignored. In the workflow where the target
  rows of ``y`` are masked with ``-1`` this means the *source* rows are scored.

``sample_domain`` reaches a scorer through scikit-learn's metadata routing. Every scorer here
requests it by default, so enabling routing is all it takes::

    import sklearn
    from sklearn.model_selection import GridSearchCV
    from skdomainclust.metrics import get_scorer

    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(estimator, param_grid, scoring=get_scorer("target_nmi"))
        search.fit(X, y, sample_domain=sample_domain)

Pass scorer *objects* (``get_scorer(name)`` or a dict of them): scikit-learn's own string
lookup (``scoring="target_nmi"``) does not know these names.
"""

import copy
import inspect
import warnings

import numpy as np
from sklearn.metrics import accuracy_score, adjusted_rand_score
from sklearn.metrics import get_scorer as _sklearn_get_scorer
from sklearn.metrics import get_scorer_names as _sklearn_get_scorer_names
from sklearn.utils.metadata_routing import UNCHANGED, MetadataRequest

from .._contract import MASK_LABEL, _is_mask, check_sample_domain
from ..exceptions import DomainInferenceWarning
from .clustering import bcubed_f1, cluster_accuracy, nmi, pairwise_f1

__all__ = [
    "RoutedScorer",
    "TargetScorer",
    "get_scorer",
    "get_scorer_names",
    "make_target_scorer",
    "target_accuracy_scorer",
    "target_ari_scorer",
    "target_bcubed_f1_scorer",
    "target_cluster_accuracy_scorer",
    "target_nmi_scorer",
    "target_pairwise_f1_scorer",
]


def _accepts(method, param):
    """Whether ``method`` names a parameter ``param`` in its signature.

    A bare ``**kwargs`` does not count: a ``Pipeline.predict(X, **params)`` would forward
    ``sample_domain`` to a final step that may not take it (or, with routing enabled, reject
    it as unrequested).
    """
    try:
        return param in inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False


def _scored_rows(y_true, sample_domain):
    """Boolean mask of the rows to score (see the module docstring)."""
    labelled = ~_is_mask(y_true)
    if sample_domain is None:
        if not labelled.any():
            raise ValueError(f"No rows to score: every label is the mask {MASK_LABEL}.")
        if labelled.all():
            warnings.warn(
                "A target scorer got no sample_domain and no row of y is -1: every row is "
                "scored, source rows included. Enable metadata routing so that sample_domain "
                "reaches the scorer, or score on the target rows only.",
                DomainInferenceWarning, stacklevel=3,
            )
        return labelled
    target = check_sample_domain(sample_domain, len(y_true), fit=False) < 0
    if not target.any():
        raise ValueError("No rows to score: sample_domain marks no target row (< 0).")
    rows = target & labelled
    if not rows.any():
        raise ValueError(
            f"No rows to score: every target row is labelled {MASK_LABEL}. Pass the true "
            "target labels in y (estimators never train on target labels)."
        )
    return rows


class RoutedScorer:
    """Base of the scorers here: requests ``sample_domain`` from metadata routing.

    Subclasses call ``super().__init__()`` and implement ``__call__``. The request is the
    scorer's counterpart of ``__metadata_request__score`` on scikit-learn estimators.
    """

    #: Metadata requested for ``score`` unless :meth:`set_score_request` says otherwise.
    _default_score_request = {"sample_domain": True}

    def __init__(self):
        self._score_request = dict(self._default_score_request)

    # -- metadata routing (public scikit-learn API only) ----------------------------------

    def set_score_request(self, **requests):
        """Set which metadata this scorer requests from metadata routing.

        Parameters
        ----------
        **requests : dict
            ``param=alias`` pairs as in scikit-learn: ``True`` (request), ``False`` (do not
            request), ``None`` (error if passed), a string (request under another name), or
            ``sklearn.utils.metadata_routing.UNCHANGED``. ``sample_domain=True`` is the
            default.

        Returns
        -------
        self : RoutedScorer
        """
        updated = dict(self._score_request)
        updated.update({param: alias for param, alias in requests.items()
                        if alias is not UNCHANGED})
        self._build_request(updated)  # validate before storing
        self._score_request = updated
        return self

    def _build_request(self, requests):
        request = MetadataRequest(owner=self)
        for param, alias in requests.items():
            request.score.add_request(param=param, alias=alias)
        return request

    def get_metadata_routing(self):
        """Metadata requested by this scorer (``sample_domain`` by default).

        Returns
        -------
        routing : sklearn.utils.metadata_routing.MetadataRequest
        """
        return self._build_request(self._score_request)


class _FunctionScorer(RoutedScorer):
    """A routed scorer around ``score_func``, shown by ``name``: the base of the label-free
    scorers (:class:`~skdomainclust.metrics.UnsupervisedScorer`,
    :class:`~skdomainclust.metrics.SourceScorer`), which differ in the rows they pass on."""

    def __init__(self, score_func, *, name):
        super().__init__()
        self._score_func = score_func
        self._name = name

    def __repr__(self):
        return f"{type(self).__name__}({self._name})"


def _respond(estimator, response_method, X, sample_domain):
    """Call the first of ``response_method`` the estimator has, passing ``sample_domain`` on
    when that method takes it (skdomainclust's estimators do)."""
    names = (response_method,) if isinstance(response_method, str) else tuple(response_method)
    for name in names:
        method = getattr(estimator, name, None)
        if method is not None:
            break
    else:
        raise AttributeError(
            f"{type(estimator).__name__} has none of the response methods {names}."
        )
    if sample_domain is not None and _accepts(method, "sample_domain"):
        return method(X, sample_domain=sample_domain)
    return method(X)


class TargetScorer(RoutedScorer):
    """Scorer ``scorer(estimator, X, y_true, sample_domain=None, **kwargs)`` of target rows.

    It calls the estimator's response method on all of ``X`` (passing ``sample_domain`` on when
    the method has a ``sample_domain`` parameter, as skdomainclust's estimators do; otherwise
    the estimator's own default applies, which for them is "every row is target"), keeps the
    rows to score, and applies ``score_func`` to them:

    - with ``sample_domain``: the target rows (``sample_domain < 0``) whose label is not -1;
    - without ``sample_domain``, rows labelled -1 are ignored (in the ``y == -1`` workflow,
      where target labels are masked, the source rows are the ones scored).

    ``sample_domain`` is requested from scikit-learn's metadata routing by default, so a
    ``GridSearchCV`` fitted with ``sample_domain=...`` under
    ``sklearn.config_context(enable_metadata_routing=True)`` routes it here; with routing
    disabled none arrives and the -1 rule applies. Other routed metadata (requested with
    :meth:`set_score_request`) is passed to ``score_func``; arrays with one entry per row
    (such as ``sample_weight``) are sliced to the scored rows, following the rule
    scikit-learn uses to split metadata across folds.

    Build one with :func:`make_target_scorer`, or get a predefined one with
    :func:`get_scorer`.

    Parameters
    ----------
    score_func : callable
        ``score_func(y_true, y_pred, **kwargs) -> float``.
    response_method : str or tuple of str, default="predict"
        Estimator method giving ``y_pred``; with a tuple, the first method the estimator has.
    sign : {1, -1}, default=1
        Multiplies the score, so that greater is always better for model selection.
    kwargs : dict, default=None
        Fixed keyword arguments of ``score_func``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.dummy import DummyClassifier
    >>> from skdomainclust.metrics import TargetScorer
    >>> from sklearn.metrics import accuracy_score
    >>> X = np.zeros((4, 1))
    >>> clf = DummyClassifier(strategy="constant", constant=1).fit(X, [1, 1, 0, 1])
    >>> scorer = TargetScorer(accuracy_score)
    >>> scorer(clf, X, [1, 1, 0, 1], sample_domain=[0, 0, -1, -1])  # rows 2 and 3 only
    0.5
    >>> scorer(clf, X, [1, -1, 0, -1])  # no sample_domain: rows 0 and 2
    0.5
    """

    def __init__(self, score_func, *, response_method="predict", sign=1, kwargs=None):
        super().__init__()
        self._score_func = score_func
        self._response_method = response_method
        self._sign = sign
        self._kwargs = dict(kwargs or {})

    def __call__(self, estimator, X, y_true, sample_domain=None, **kwargs):
        """Score ``estimator`` on the target rows of ``X``.

        Parameters
        ----------
        estimator : object
            Fitted estimator with the response method.
        X : array-like of shape (n_samples, ...)
            Source and target rows stacked.
        y_true : array-like of shape (n_samples,)
            True labels; -1 marks an unlabelled row.
        sample_domain : array-like of int, int or None, default=None
            ``>= 0`` source, ``< 0`` target.
        **kwargs : dict
            Metadata for ``score_func``.

        Returns
        -------
        score : float
        """
        if y_true is None:
            raise ValueError(f"{self!r} needs the true labels y to score, got None.")
        y_true = np.asarray(y_true)
        if y_true.ndim != 1:
            raise ValueError(f"y_true must be 1-D, got an array of shape {y_true.shape}.")
        n_samples = len(y_true)
        rows = _scored_rows(y_true, sample_domain)
        y_pred = np.asarray(_respond(estimator, self._response_method, X, sample_domain))
        if len(y_pred) != n_samples:
            raise ValueError(
                f"The estimator returned {len(y_pred)} predictions for y_true of length "
                f"{n_samples}."
            )
        params = {**self._kwargs}
        for name, value in kwargs.items():
            per_row = (hasattr(value, "__len__") and not isinstance(value, (str, dict))
                       and np.ndim(value) >= 1 and len(value) == n_samples)
            params[name] = np.asarray(value)[rows] if per_row else value
        return self._sign * float(self._score_func(y_true[rows], y_pred[rows], **params))

    def _accept_sample_weight(self):
        # Queried by scikit-learn's multimetric scorer and search objects when routing is
        # disabled and sample_weight is passed to fit.
        return _accepts(self._score_func, "sample_weight")

    def __repr__(self):
        name = getattr(self._score_func, "__name__", repr(self._score_func))
        sign = "" if self._sign > 0 else ", greater_is_better=False"
        kwargs = "".join(f", {key}={value!r}" for key, value in self._kwargs.items())
        return (f"make_target_scorer({name}{sign}, "
                f"response_method={self._response_method!r}{kwargs})")


def make_target_scorer(score_func, *, response_method="predict", greater_is_better=True,
                       **kwargs):
    """Make a scorer of the target rows from a metric ``score_func(y_true, y_pred)``.

    Parameters
    ----------
    score_func : callable
        ``score_func(y_true, y_pred, **kwargs) -> float``.
    response_method : str or tuple of str, default="predict"
        Estimator method whose output is ``y_pred`` (e.g. ``"predict_proba"``); with a tuple,
        the first method the estimator has.
    greater_is_better : bool, default=True
        If False the score is negated, so that model selection can always maximise it.
    **kwargs : dict
        Fixed keyword arguments of ``score_func``.

    Returns
    -------
    scorer : TargetScorer
        Scores only target rows when given ``sample_domain``; see :class:`TargetScorer`.

    Examples
    --------
    >>> from skdomainclust.metrics import make_target_scorer, nmi
    >>> make_target_scorer(nmi, average_method="geometric")
    make_target_scorer(nmi, response_method='predict', average_method='geometric')
    """
    return TargetScorer(score_func, response_method=response_method,
                        sign=1 if greater_is_better else -1, kwargs=kwargs)


target_accuracy_scorer = make_target_scorer(accuracy_score)
target_cluster_accuracy_scorer = make_target_scorer(cluster_accuracy)
target_nmi_scorer = make_target_scorer(nmi)
target_pairwise_f1_scorer = make_target_scorer(pairwise_f1)
target_bcubed_f1_scorer = make_target_scorer(bcubed_f1)
target_ari_scorer = make_target_scorer(adjusted_rand_score)

_SCORERS = {
    "target_accuracy": target_accuracy_scorer,
    "target_cluster_accuracy": target_cluster_accuracy_scorer,
    "target_nmi": target_nmi_scorer,
    "target_pairwise_f1": target_pairwise_f1_scorer,
    "target_bcubed_f1": target_bcubed_f1_scorer,
    "target_ari": target_ari_scorer,
}


def _named_scorers():
    # The label-free and source-validated scorers build on this module, so they join the
    # registry lazily.
    from .source_validation import SOURCE_SCORERS
    from .unsupervised import UNSUPERVISED_SCORERS

    return {**_SCORERS, **UNSUPERVISED_SCORERS, **SOURCE_SCORERS}


def get_scorer(scoring):
    """Get a scorer by name: one of this package's, else scikit-learn's.

    Parameters
    ----------
    scoring : str or callable
        One of :func:`get_scorer_names` (a fresh copy is returned, so changing its metadata
        requests leaves the predefined scorer alone), a name known to
        ``sklearn.metrics.get_scorer``, or a callable (returned as is).

    Returns
    -------
    scorer : callable

    Examples
    --------
    >>> from skdomainclust.metrics import get_scorer
    >>> get_scorer("target_nmi")
    make_target_scorer(nmi, response_method='predict')
    >>> get_scorer("accuracy")
    make_scorer(accuracy_score, response_method='predict')
    """
    if isinstance(scoring, str):
        named = _named_scorers()
        if scoring in named:
            return copy.deepcopy(named[scoring])
        if scoring not in _sklearn_get_scorer_names():
            raise ValueError(
                f"{scoring!r} is not a valid scoring value. Use one of {get_scorer_names()} "
                "(target rows only) or of sklearn.metrics.get_scorer_names()."
            )
    return _sklearn_get_scorer(scoring)


def get_scorer_names():
    """Names of the scorers of this package: ``target_*`` (target labels), label-free
    ``unsupervised_*`` and ``source_*`` (held-out source rows).

    :func:`get_scorer` also accepts every name of ``sklearn.metrics.get_scorer_names()``.

    Returns
    -------
    names : list of str

    Examples
    --------
    >>> from skdomainclust.metrics import get_scorer_names
    >>> [name for name in get_scorer_names() if name.startswith("target_")][:2]
    ['target_accuracy', 'target_ari']
    """
    return sorted(_named_scorers())
