"""Per-domain preprocessing: standardise (or centre) every domain with its own statistics.

A shift between domains often lives in the first two moments of the features (another camera,
another scanner). ``StandardScaler`` over the stacked rows keeps that shift; z-scoring every
domain on its own removes it, and several methods depend on it (the benchmark runner feeds
them per-domain standardised features). :class:`DomainStandardScaler` does it inside a
``Pipeline``, reading ``sample_domain`` like the estimators do.
"""

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from ._contract import check_sample_domain

__all__ = ["DomainStandardScaler"]


def _moments(X, with_mean=True, with_std=True):
    mean = X.mean(axis=0) if with_mean else np.zeros(X.shape[1])
    std = X.std(axis=0) if with_std else np.ones(X.shape[1])
    return mean, np.where(std > 0, std, 1.0)


class DomainStandardScaler(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Z-score (or only centre) the features of every domain with that domain's own statistics.

    ``fit`` learns the mean and (population) standard deviation of every domain of
    ``sample_domain``; ``transform`` applies to each row the statistics of its domain. A domain
    not seen in ``fit`` is standardised with the statistics of its own rows in the call (it
    needs two rows at least). Constant features are centred, not scaled. Without
    ``sample_domain``, per the data contract, ``fit`` takes rows with ``y == -1`` as the target
    and ``transform`` takes every row as target (domain ``-1``).

    Parameters
    ----------
    with_mean : bool, default=True
        Subtract each domain's mean.
    with_std : bool, default=True
        Divide by each domain's standard deviation. ``with_std=False`` only centres every
        domain: it removes the shift of the means and keeps the features' relative scales,
        which suits features whose scale means something (pixel intensities, where a nearly
        constant border pixel would otherwise be blown up to unit variance; L2-normalised
        embeddings, whose cosine geometry the scaling distorts).

    Attributes
    ----------
    domains_ : ndarray of int
        The domain ids seen in ``fit``.
    mean_, scale_ : ndarray of shape (n_domains, n_features)
        Their statistics, in the order of ``domains_``.
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from skdomainclust.preprocessing import DomainStandardScaler
    >>> X = np.array([[0.0], [2.0], [10.0], [14.0]])
    >>> sample_domain = np.array([0, 0, -1, -1])
    >>> DomainStandardScaler().fit_transform(X, sample_domain=sample_domain).ravel()
    array([-1.,  1., -1.,  1.])
    >>> DomainStandardScaler(with_std=False).fit_transform(
    ...     X, sample_domain=sample_domain).ravel()
    array([-1.,  1., -2.,  2.])
    """

    __metadata_request__fit = {"sample_domain": True}
    __metadata_request__transform = {"sample_domain": True}

    _parameter_constraints = {"with_mean": ["boolean"], "with_std": ["boolean"]}

    def __init__(self, *, with_mean=True, with_std=True):
        self.with_mean = with_mean
        self.with_std = with_std

    def fit(self, X, y=None, sample_domain=None):
        """Learn the mean and std of every domain."""
        self._validate_params()
        X = validate_data(self, X, dtype=np.float64, reset=True)
        domains = check_sample_domain(sample_domain, len(X), y=y, fit=True)
        self.domains_ = np.unique(domains)
        moments = [_moments(X[domains == d], self.with_mean, self.with_std)
                   for d in self.domains_]
        self.mean_ = np.stack([m for m, _ in moments])
        self.scale_ = np.stack([s for _, s in moments])
        return self

    def transform(self, X, sample_domain=None):
        """Standardise every row with the statistics of its domain."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        domains = check_sample_domain(sample_domain, len(X), fit=False)
        out = np.empty_like(X)
        for d in np.unique(domains):
            rows = domains == d
            position = np.searchsorted(self.domains_, d)
            if position < len(self.domains_) and self.domains_[position] == d:
                mean, scale = self.mean_[position], self.scale_[position]
            elif rows.sum() >= 2:
                mean, scale = _moments(X[rows], self.with_mean, self.with_std)
            else:
                raise ValueError(f"Domain {d} was not seen in fit and has a single row here: "
                                 "its statistics cannot be estimated.")
            out[rows] = (X[rows] - mean) / scale
        return out

    def fit_transform(self, X, y=None, sample_domain=None):
        """Fit, then standardise the same rows with their domains' statistics."""
        X = np.asarray(X)
        # The domains are inferred once (from y when sample_domain is None) and serve both.
        domains = check_sample_domain(sample_domain, len(X),
                                      y=None if y is None else np.asarray(y), fit=True)
        return self.fit(X, sample_domain=domains).transform(X, sample_domain=domains)
