"""Cross-validation splitters that keep every domain in every fold; a label-free K.

A search over a domain adaptation estimator scores each candidate on the *target* rows of the
held-out fold, and fits it on a training fold that must hold labelled source rows *and*
target rows. scikit-learn's default ``KFold`` cuts the stacked ``X`` into contiguous blocks:
with the sources stacked before the target, whole folds hold no target row (the target
scorers cannot score them) or no source row (the adapters cannot fit), and the search reports
NaN. These splitters split every domain on its own and join the parts, so each training and
each test fold holds rows of every domain in the proportions of the whole.

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

__all__ = ["DomainKFold", "DomainShuffleSplit", "estimate_n_clusters"]


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
        if isinstance(n_splits, bool) or not isinstance(n_splits, numbers.Integral) \
                or n_splits < 2:
            raise ValueError(f"n_splits must be an int >= 2, got {n_splits!r}.")
        self.n_splits = int(n_splits)
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
        if isinstance(n_splits, bool) or not isinstance(n_splits, numbers.Integral) \
                or n_splits < 1:
            raise ValueError(f"n_splits must be an int >= 1, got {n_splits!r}.")
        if not isinstance(test_size, numbers.Real) or not 0 < test_size < 1:
            raise ValueError(f"test_size must be a fraction in (0, 1), got {test_size!r}.")
        self.n_splits = int(n_splits)
        self.test_size = float(test_size)
        self.random_state = random_state

    def _test_folds(self, members):
        if min(len(rows) for rows in members) < 2:
            raise ValueError("Every domain needs two rows at least: one to train on, one to "
                             "test.")
        rng = check_random_state(self.random_state)
        for _ in range(self.n_splits):
            parts = []
            for rows in members:
                n_test = min(max(1, int(round(self.test_size * len(rows)))), len(rows) - 1)
                parts.append(rng.choice(rows, n_test, replace=False))
            yield np.concatenate(parts)
