"""A label-free estimate of the number of clusters, for clusterers that must be told K.

ACIDS and UCDIR used to default to 8 clusters, scikit-learn's ``KMeans`` default, which
serves no real target (a 10-class target clustered in 8, silently). They now require K, and
this estimate is what a user without one can run: k-means for a grid of K, and the K whose
partition has the highest silhouette. The rows are z-scored per domain and L2-normalised
first, the cosine geometry in which pretrained features cluster and in which a shift of the
domain means does not pass for cluster structure.

It is a rough guide, measured (``random_state=0``, one domain at a time) on the benchmark
domains: Office-31 EfficientNet features (31 classes) 32, 32 and 40 (amazon, dslr, webcam;
10 s for amazon's 2817 rows); raw MNIST and USPS digits (10 classes) 20 and 10; Office-Caltech
SURF bags of words (10 classes) 8, 3, 31 and 50: their silhouettes stay near 0.02 for every K,
and features without cluster structure defeat any label-free criterion.
"""

import numbers

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import normalize
from sklearn.utils import check_random_state

from ._contract import check_sample_domain
from .preprocessing import DomainStandardScaler

__all__ = ["estimate_n_clusters"]

# Silhouettes are computed on a subsample: O(n^2) on all rows would make "auto" quadratic.
_SILHOUETTE_ROWS = 2000
# Candidate grid: every K up to 10, then 7 more spaced geometrically to the bound. A finer
# search only fits the silhouette's noise (trying every K from 26 to 39 moved the Office-31
# dslr estimate to 48).
_SMALL = 10
_LARGE_POINTS = 8


def _cosine_geometry(X, sample_domain):
    X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
    return normalize(DomainStandardScaler().fit_transform(X, sample_domain=sample_domain))


def _silhouette(X, k, seed, rows):
    labels = KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(X)
    if len(np.unique(labels)) < 2:
        return -1.0
    return float(silhouette_score(X[rows], labels[rows]))


def estimate_n_clusters(X, *, sample_domain=None, max_clusters=50, random_state=None):
    """Estimate the number of clusters of ``X`` by the silhouette of k-means partitions.

    Rows are z-scored within their domain and L2-normalised; k-means (3 restarts) runs for
    every K from 2 to 10 and 7 values spaced geometrically from there to ``max_clusters``
    (at most a fifth of the rows); the K of the highest silhouette (computed on at most 2000
    rows) is returned. Labels are never read. A rough guide, not an oracle: see the module's
    measurements.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features) or (n_samples, C, H, W)
        Images are flattened.
    sample_domain : array-like of int or None, default=None
        Domain of every row (each is standardised on its own); None: one domain.
    max_clusters : int, default=50
        Largest K considered (at least 2).
    random_state : int, RandomState or None, default=None
        Seeds k-means and the silhouette subsample.

    Returns
    -------
    n_clusters : int

    Examples
    --------
    >>> import numpy as np
    >>> from skdomainclust.model_selection import estimate_n_clusters
    >>> rng = np.random.default_rng(0)
    >>> centres = rng.normal(scale=5.0, size=(4, 6))
    >>> X = np.repeat(centres, 50, axis=0) + rng.normal(size=(200, 6))
    >>> estimate_n_clusters(X, random_state=0)
    4
    """
    if isinstance(max_clusters, bool) or not isinstance(max_clusters, numbers.Integral) \
            or max_clusters < 2:
        raise ValueError(f"max_clusters must be an int >= 2, got {max_clusters!r}.")
    n_samples = len(X)
    if n_samples < 4:
        raise ValueError(f"Estimating the number of clusters needs 4 rows at least, got "
                         f"{n_samples}.")
    domains = (np.zeros(n_samples, dtype=np.int64) if sample_domain is None
               else check_sample_domain(sample_domain, n_samples))
    X = _cosine_geometry(X, domains)
    bound = int(max(2, min(max_clusters, n_samples // 5, n_samples - 1)))
    rng = check_random_state(random_state)
    seed = int(rng.randint(np.iinfo(np.int32).max))
    rows = np.sort(rng.permutation(n_samples)[:_SILHOUETTE_ROWS])

    grid = set(range(2, min(bound, _SMALL) + 1))
    if bound > _SMALL:
        grid |= {int(round(k)) for k in np.geomspace(_SMALL, bound, _LARGE_POINTS)}
    grid = sorted(grid)
    scores = [_silhouette(X, k, seed, rows) for k in grid]
    return int(grid[int(np.argmax(scores))])


def check_n_clusters_given(estimator, rows):
    """Raise the one clear error of a clusterer fitted without its required ``n_clusters``."""
    if estimator.n_clusters is None:
        raise ValueError(
            f"{type(estimator).__name__} needs n_clusters, the number of clusters to find in "
            f"the {rows}: it has no default because no number serves every target (8, "
            "KMeans' default, clustered 10-class targets in 8). If you do not know it, "
            "skdomainclust.model_selection.estimate_n_clusters(X) gives a rough label-free "
            "estimate, or search n_clusters with an unsupervised scorer."
        )
