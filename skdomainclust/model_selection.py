"""Cross-validation splitters that keep every domain in every fold; a label-free K.

A search over a domain adaptation estimator scores each candidate on the *target* rows of the
held-out fold, and fits it on a training fold that must hold labelled source rows *and*
target rows. scikit-learn's default ``KFold`` cuts the stacked ``X`` into contiguous blocks:
with the sources stacked before the target, whole folds hold no target row (the target
scorers cannot score them) or no source row (the adapters cannot fit), and the search reports
NaN. These splitters split every domain on its own and join the parts, so each training and
each test fold holds rows of every domain in the proportions of the whole.

:class:`SourceHoldOut` is the transductive split of unsupervised domain adaptation: every
target row in both folds (the model adapts to all of them, as it will when deployed) and a
share of the source rows held out, for the scorers that read held-out source labels.

:class:`OneStandardErrorRule` is a ``refit`` rule for such searches: the most regularised
candidate whose score is within one standard error of the best.

The domains come from ``sample_domain`` (routed to ``split`` when metadata routing is on, the
splitters request it), else from ``groups``, else, per the data contract, from ``y`` (rows
labelled ``-1`` are the target).
"""

import numbers

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._metadata_requests import _MetadataRequester

from ._contract import check_sample_domain
from ._n_clusters import estimate_n_clusters

__all__ = ["DomainKFold", "DomainShuffleSplit", "OneStandardErrorRule", "SourceHoldOut",
           "estimate_n_clusters"]


def _domains(X, y, groups, sample_domain):
    n_samples = len(X)
    if sample_domain is None and groups is not None:
        sample_domain = groups
    if sample_domain is None and y is None:
        raise ValueError(
            "A domain splitter needs to know the domain of every row: pass sample_domain "
            "(routed when metadata routing is enabled), groups, or y with -1 on target rows."
        )
    return check_sample_domain(sample_domain, n_samples, y=y, fit=True)


def _check_n_splits(n_splits, *, minimum):
    if isinstance(n_splits, bool) or not isinstance(n_splits, numbers.Integral) \
            or n_splits < minimum:
        raise ValueError(f"n_splits must be an int >= {minimum}, got {n_splits!r}.")
    return int(n_splits)


def _check_fraction(test_size):
    if not isinstance(test_size, numbers.Real) or not 0 < test_size < 1:
        raise ValueError(f"test_size must be a fraction in (0, 1), got {test_size!r}.")
    return float(test_size)


def _n_test(test_size, n_rows):
    """Rows of a domain to test: ``test_size`` of them, at least one, never all."""
    return min(max(1, int(round(test_size * n_rows))), n_rows - 1)


class _DomainSplitter(_MetadataRequester):
    """Shared plumbing: domain ids, the number of splits, and the routing request."""

    __metadata_request__split = {"sample_domain": True}

    def get_n_splits(self, X=None, y=None, groups=None, sample_domain=None):
        """The number of splits (independent of the data)."""
        return self.n_splits

    def split(self, X, y=None, groups=None, sample_domain=None):
        """Yield ``(train, test)`` row indices; both hold rows of every domain.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
        y : array-like of shape (n_samples,) or None
            Used only to infer the domains when neither ``sample_domain`` nor ``groups`` is
            given (rows with ``y == -1`` are the target).
        groups : array-like of int or None
            Domain ids, for searches without metadata routing (``fit(..., groups=...)``).
        sample_domain : array-like of int or None
            Domain ids (``>= 0`` source, ``< 0`` target).
        """
        domains = _domains(X, y, groups, sample_domain)
        members = [np.flatnonzero(domains == d) for d in np.unique(domains)]
        for test in self._test_folds(members):
            test = np.sort(test)
            train = np.setdiff1d(np.arange(len(domains)), test, assume_unique=True)
            yield train, test

    def __repr__(self):
        params = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._params)
        return f"{type(self).__name__}({params})"


class DomainKFold(_DomainSplitter):
    """K folds of every domain: fold ``k`` tests the ``k``-th part of each domain.

    The rows of each domain are (shuffled and) cut into ``n_splits`` near-equal parts; the
    ``k``-th test fold joins the ``k``-th part of every domain, so every row is tested once and
    every fold holds source and target rows, whatever the row order.

    Parameters
    ----------
    n_splits : int, default=3
        At least 2, and at most the number of rows of the smallest domain.
    shuffle : bool, default=True
        Shuffle each domain's rows before cutting them (False keeps their order).
    random_state : int, RandomState or None, default=None
        Seeds the shuffle.

    Examples
    --------
    >>> import numpy as np
    >>> from skdomainclust.model_selection import DomainKFold
    >>> sample_domain = np.array([0, 0, 0, 0, -1, -1, -1, -1])
    >>> for train, test in DomainKFold(n_splits=2, shuffle=False).split(
    ...         np.zeros((8, 1)), sample_domain=sample_domain):
    ...     print(test, sample_domain[test])
    [0 1 4 5] [ 0  0 -1 -1]
    [2 3 6 7] [ 0  0 -1 -1]
    """

    _params = ("n_splits", "shuffle", "random_state")

    def __init__(self, n_splits=3, *, shuffle=True, random_state=None):
        self.n_splits = _check_n_splits(n_splits, minimum=2)
        self.shuffle = shuffle
        self.random_state = random_state

    def _test_folds(self, members):
        smallest = min(len(rows) for rows in members)
        if smallest < self.n_splits:
            raise ValueError(f"n_splits={self.n_splits} but a domain has only {smallest} rows: "
                             "every fold needs rows of every domain.")
        rng = check_random_state(self.random_state)
        parts = [np.array_split(rng.permutation(rows) if self.shuffle else rows, self.n_splits)
                 for rows in members]
        for k in range(self.n_splits):
            yield np.concatenate([domain_parts[k] for domain_parts in parts])


class DomainShuffleSplit(_DomainSplitter):
    """Random splits that hold out ``test_size`` of every domain.

    Parameters
    ----------
    n_splits : int, default=5
    test_size : float, default=0.25
        Share of each domain's rows in the test fold, in (0, 1); at least one row of each
        domain is tested and at least one is trained on.
    random_state : int, RandomState or None, default=None

    Examples
    --------
    >>> import numpy as np
    >>> from skdomainclust.model_selection import DomainShuffleSplit
    >>> sample_domain = np.repeat([0, -1], [8, 4])
    >>> splitter = DomainShuffleSplit(n_splits=2, test_size=0.25, random_state=0)
    >>> [np.bincount(sample_domain[test] + 1).tolist()
    ...  for _, test in splitter.split(np.zeros((12, 1)), sample_domain=sample_domain)]
    [[1, 2], [1, 2]]
    """

    _params = ("n_splits", "test_size", "random_state")

    def __init__(self, n_splits=5, *, test_size=0.25, random_state=None):
        self.n_splits = _check_n_splits(n_splits, minimum=1)
        self.test_size = _check_fraction(test_size)
        self.random_state = random_state

    def _test_folds(self, members):
        if min(len(rows) for rows in members) < 2:
            raise ValueError("Every domain needs two rows at least: one to train on, one to "
                             "test.")
        rng = check_random_state(self.random_state)
        for _ in range(self.n_splits):
            parts = []
            for rows in members:
                parts.append(rng.choice(rows, _n_test(self.test_size, len(rows)),
                                        replace=False))
            yield np.concatenate(parts)


class SourceHoldOut(DomainShuffleSplit):
    """Transductive splits for unsupervised adaptation: every target row in both folds, a
    share of every source domain held out.

    Adaptation fits on the unlabelled target rows it will predict, so holding target rows out
    of ``fit`` (as :class:`DomainKFold` does) scores a setting nobody deploys. Here each
    training fold holds every target row and ``1 - test_size`` of each source domain; each
    test fold holds every target row and the held-out source rows. The target scorers
    (``target_*`` with labels, ``unsupervised_*`` without) score the target rows; the
    ``source_*`` scorers (:mod:`skdomainclust.metrics.source_validation`) score the held-out
    source rows, which the candidate never trained on. Target labels passed to the search
    never reach ``fit`` (the estimators mask them) and never reach a label-free scorer.

    Parameters
    ----------
    n_splits : int, default=1
        Independent random hold-outs.
    test_size : float, default=0.2
        Share of each source domain held out, in (0, 1); at least one row of each source
        domain is held out and at least one is trained on.
    random_state : int, RandomState or None, default=None

    Examples
    --------
    >>> import numpy as np
    >>> from skdomainclust.model_selection import SourceHoldOut
    >>> sample_domain = np.repeat([0, -1], [10, 4])
    >>> train, test = next(SourceHoldOut(random_state=0).split(np.zeros((14, 1)),
    ...                                                      sample_domain=sample_domain))
    >>> [np.bincount(sample_domain[rows] + 1).tolist() for rows in (train, test)]
    [[4, 8], [4, 2]]
    """

    def __init__(self, n_splits=1, *, test_size=0.2, random_state=None):
        super().__init__(n_splits, test_size=test_size, random_state=random_state)

    def split(self, X, y=None, groups=None, sample_domain=None):
        """Yield ``(train, test)`` row indices: both hold every target row; the source rows
        are split (drawn as :class:`DomainShuffleSplit` draws its test rows).

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
        y : array-like of shape (n_samples,) or None
            Used only to infer the domains when neither ``sample_domain`` nor ``groups`` is
            given (rows with ``y == -1`` are the target).
        groups : array-like of int or None
            Domain ids, for searches without metadata routing.
        sample_domain : array-like of int or None
            Domain ids (``>= 0`` source, ``< 0`` target).
        """
        domains = _domains(X, y, groups, sample_domain)
        target = np.flatnonzero(domains < 0)
        if len(target) == 0:
            raise ValueError("SourceHoldOut needs target rows (sample_domain < 0).")
        sources = [np.flatnonzero(domains == d) for d in np.unique(domains[domains >= 0])]
        if not sources or min(len(rows) for rows in sources) < 2:
            raise ValueError("Every source domain needs two rows at least: one to train on, "
                             "one to hold out.")
        for held in self._test_folds(sources):
            kept = np.setdiff1d(np.flatnonzero(domains >= 0), held, assume_unique=True)
            yield np.sort(np.r_[kept, target]), np.sort(np.r_[held, target])


class OneStandardErrorRule:
    """``GridSearchCV(refit=...)`` rule: the most regularised candidate within one standard
    error of the best score (Breiman et al., 1984).

    A held-out *source* score cannot see the shift, and between candidates it cannot tell
    apart it says nothing; under shift the more regularised of them usually transfers better
    (more input dropout, a smaller learning rate). This rule keeps the candidate with the most
    extreme value of ``param`` in the direction ``prefer`` among those whose mean score is
    within one standard error of the best; it is the rule ``SRDCAdapter(input_dropout="auto")``
    applies inside ``fit``.

    The standard error is the binomial one of an accuracy,
    ``sqrt(p (1 - p) / (n_scored * n_splits))``, when ``n_scored`` (rows scored per split) is
    given; otherwise ``std / sqrt(n_splits)`` over the splits, which needs two splits at least.

    Parameters
    ----------
    score : str
        Name of the score in ``scoring`` (``"score"`` for a single unnamed scorer).
    param : str
        Grid parameter ordering the candidates by regularisation, e.g. ``"input_dropout"``.
    prefer : {"larger", "smaller"}, default="larger"
        Which values of ``param`` regularise more.
    n_scored : int or None, default=None
        Rows each split scores (the held-out source rows of :class:`SourceHoldOut`), for the
        binomial standard error of an accuracy.

    Examples
    --------
    >>> from skdomainclust.model_selection import OneStandardErrorRule
    >>> rule = OneStandardErrorRule("acc", "input_dropout", n_scored=100)
    >>> results = {"params": [{"input_dropout": r} for r in (0.0, 0.5, 0.7)],
    ...            "mean_test_acc": [0.80, 0.78, 0.70], "std_test_acc": [0.0] * 3}
    >>> rule(results)  # 0.78 is within 0.04 of 0.80; 0.70 is not
    1
    """

    def __init__(self, score, param, *, prefer="larger", n_scored=None):
        if prefer not in ("larger", "smaller"):
            raise ValueError(f"prefer must be 'larger' or 'smaller', got {prefer!r}.")
        self.score = score
        self.param = param
        self.prefer = prefer
        self.n_scored = n_scored

    def standard_error(self, cv_results):
        """Standard error of the best candidate's mean score."""
        means = np.asarray(cv_results[f"mean_test_{self.score}"], dtype=float)
        n_splits = sum(1 for key in cv_results
                       if key.startswith("split") and key.endswith(f"_test_{self.score}"))
        n_splits = max(n_splits, 1)
        best = np.nanmax(means)
        if self.n_scored is not None:
            return float(np.sqrt(best * (1 - best) / (self.n_scored * n_splits)))
        if n_splits < 2:
            raise ValueError("One split and no n_scored: the standard error is unknown. Use "
                             "two splits or more, or pass n_scored for an accuracy.")
        stds = np.asarray(cv_results[f"std_test_{self.score}"], dtype=float)
        return float(stds[int(np.nanargmax(means))] / np.sqrt(n_splits))

    def __call__(self, cv_results):
        """Index of the candidate kept, as ``GridSearchCV`` expects of a ``refit`` callable."""
        means = np.asarray(cv_results[f"mean_test_{self.score}"], dtype=float)
        if not np.isfinite(means).any():
            raise ValueError(f"No candidate has a finite {self.score!r} score.")
        close = np.flatnonzero(means >= np.nanmax(means) - self.standard_error(cv_results))
        values = np.array([cv_results["params"][i][self.param] for i in close], dtype=float)
        pick = np.argmax(values) if self.prefer == "larger" else np.argmin(values)
        return int(close[pick])

    def __repr__(self):
        extra = "" if self.n_scored is None else f", n_scored={self.n_scored}"
        return (f"OneStandardErrorRule({self.score!r}, {self.param!r}, "
                f"prefer={self.prefer!r}{extra})")
