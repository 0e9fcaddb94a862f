"""Model selection without target labels: scores computed from the target rows alone.

Unsupervised domain adaptation has no target labels to grid-search with; these scores rank
fitted models by properties that correlate with target accuracy, and plug into
``GridSearchCV`` like any scorer:

- :func:`prediction_entropy`: mean Shannon entropy of the predicted class distributions
  (confident predictions score better; Morerio et al., ICLR 2018, used it to pick
  hyperparameters). The scorer negates it, so greater is better.
- :func:`soft_neighborhood_density`: entropy of each row's soft neighbourhood in the space of
  predicted distributions (Saito et al., ICCV 2021, "SND"): high when rows sit in dense
  groups of similar predictions.
- :func:`kmeans_agreement`: NMI between the model's labels and k-means (same number of
  clusters) on the model's target embedding; high when the predicted partition follows the
  structure of the representation the model learned.

The scorers take ``(estimator, X, y=None, sample_domain=None)``. They score the target rows:
``sample_domain < 0`` when ``sample_domain`` is routed to them (they request it, like the
``target_*`` scorers); without it, the rows labelled ``-1`` when ``y`` has some, else every
row. ``y`` is otherwise ignored: true target labels passed to ``GridSearchCV`` never reach
these scores.
"""

import numpy as np
from sklearn.cluster import KMeans

from .._contract import _is_mask, check_sample_domain
from .clustering import nmi
from .scorers import RoutedScorer, _respond

__all__ = [
    "UnsupervisedScorer",
    "kmeans_agreement",
    "prediction_entropy",
    "soft_neighborhood_density",
]


def _check_proba(proba):
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2:
        raise ValueError(f"Expected class probabilities of shape (n_samples, n_classes), got "
                         f"shape {proba.shape}.")
    if len(proba) == 0:
        raise ValueError("Expected at least one row of probabilities, got none.")
    return proba


def prediction_entropy(proba):
    """Mean Shannon entropy (nats) of the rows of ``proba``; lower means more confident.

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_classes)
        Predicted class (or cluster) probabilities, rows summing to one.

    Returns
    -------
    entropy : float

    Examples
    --------
    >>> from skdomainclust.metrics import prediction_entropy
    >>> round(prediction_entropy([[0.5, 0.5], [1.0, 0.0]]), 4)  # (log 2 + 0) / 2
    0.3466
    """
    proba = _check_proba(proba)
    # xlogy-style: 0 * log 0 = 0 without a warning.
    logs = np.log(np.where(proba > 0, proba, 1.0))
    return float(-np.mean(np.sum(proba * logs, axis=1)))


def soft_neighborhood_density(proba, *, temperature=0.05, chunk_size=2048):
    """Soft neighbourhood density (SND) of predicted distributions; higher is better.

    Each row's distribution is L2-normalised; its cosine similarities to every *other* row,
    divided by ``temperature``, go through a softmax, and SND is the mean entropy of those
    neighbourhood distributions (Saito et al., ICCV 2021). Computed in row chunks, so memory is
    ``O(chunk_size * n)``, not ``O(n^2)``.

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_classes)
        Predicted class probabilities (or any per-row embedding) of the target rows.
    temperature : float, default=0.05
        Softmax temperature of the paper.
    chunk_size : int, default=2048
        Rows per chunk of the similarity matrix.

    Returns
    -------
    snd : float

    Examples
    --------
    >>> import numpy as np
    >>> from skdomainclust.metrics import soft_neighborhood_density
    >>> dense = np.repeat(np.eye(2), 5, axis=0)    # two groups of five alike rows
    >>> sparse = np.repeat(np.eye(5), 2, axis=0)   # five pairs
    >>> round(soft_neighborhood_density(dense), 4)  # log 4: four equal neighbours each
    1.3863
    >>> soft_neighborhood_density(sparse) < 1e-3    # one near neighbour each
    True
    """
    proba = _check_proba(proba)
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}.")
    n = len(proba)
    if n < 2:
        raise ValueError("Soft neighbourhood density needs at least two rows.")
    norms = np.linalg.norm(proba, axis=1, keepdims=True)
    unit = proba / np.where(norms > 0, norms, 1.0)
    total = 0.0
    for start in range(0, n, chunk_size):
        logits = unit[start:start + chunk_size] @ unit.T / temperature
        rows = np.arange(logits.shape[0])
        logits[rows, start + rows] = -np.inf  # a row is not its own neighbour
        logits -= logits.max(axis=1, keepdims=True)
        weights = np.exp(logits)
        weights /= weights.sum(axis=1, keepdims=True)
        logs = np.log(np.where(weights > 0, weights, 1.0))
        total += float(-np.sum(weights * logs))
    return total / n


def kmeans_agreement(embedding, labels, *, n_clusters=None, n_init=4, random_state=0):
    """NMI between ``labels`` and k-means on ``embedding``; higher is better.

    Parameters
    ----------
    embedding : array-like of shape (n_samples, n_features)
        The model's representation of the target rows (``transform``, or predicted
        probabilities).
    labels : array-like of shape (n_samples,)
        The model's labels for the same rows.
    n_clusters : int, default=None
        Clusters of k-means; by default the number of distinct ``labels`` (at least 2).
    n_init : int, default=4
        k-means restarts.
    random_state : int, default=0
        Seed of k-means, fixed so that every candidate model is scored alike.

    Returns
    -------
    agreement : float in [0, 1]

    Examples
    --------
    >>> import numpy as np
    >>> from skdomainclust.metrics import kmeans_agreement
    >>> embedding = np.r_[np.zeros((5, 2)), np.ones((5, 2))]
    >>> kmeans_agreement(embedding, [0] * 5 + [1] * 5)
    1.0
    """
    embedding = np.asarray(embedding, dtype=np.float64)
    labels = np.asarray(labels)
    if embedding.ndim != 2 or len(embedding) != len(labels):
        raise ValueError(f"Expected an embedding of shape (n_samples, n_features) and "
                         f"n_samples labels, got shapes {embedding.shape} and {labels.shape}.")
    if n_clusters is None:
        n_clusters = max(2, len(np.unique(labels)))
    n_clusters = min(n_clusters, len(np.unique(embedding, axis=0)))
    if n_clusters < 2:
        return 0.0  # every row embedded alike: the embedding carries no partition
    reference = KMeans(n_clusters, n_init=n_init, random_state=random_state).fit_predict(
        embedding)
    return float(nmi(reference, labels))


def _scored_rows(n_samples, y, sample_domain):
    if sample_domain is not None:
        rows = check_sample_domain(sample_domain, n_samples, fit=False) < 0
        if not rows.any():
            raise ValueError("No rows to score: sample_domain marks no target row (< 0).")
        return rows
    if y is not None:
        masked = _is_mask(np.asarray(y))
        if masked.any():
            return masked
    return np.ones(n_samples, dtype=bool)


def _entropy_score(estimator, X):
    return -prediction_entropy(_respond(estimator, "predict_proba", X, None))


def _snd_score(estimator, X):
    return soft_neighborhood_density(_respond(estimator, "predict_proba", X, None))


def _kmeans_agreement_score(estimator, X):
    labels = _respond(estimator, "predict", X, None)
    embedding = _respond(estimator, ("transform", "predict_proba"), X, None)
    return kmeans_agreement(embedding, labels)


class UnsupervisedScorer(RoutedScorer):
    """Scorer ``scorer(estimator, X, y=None, sample_domain=None)`` that needs no labels.

    It keeps the target rows (see the module docstring) and returns
    ``score_func(estimator, X_target)``. Get the predefined ones with
    :func:`~skdomainclust.metrics.get_scorer`: ``"unsupervised_entropy"`` (negated mean
    prediction entropy), ``"unsupervised_snd"`` and ``"unsupervised_kmeans_agreement"``.

    Parameters
    ----------
    score_func : callable
        ``score_func(estimator, X_target) -> float``, greater is better.
    name : str
        Shown in the repr.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skdomainclust.metrics import get_scorer
    >>> X = np.r_[np.zeros((5, 1)), np.ones((5, 1))]
    >>> clf = LogisticRegression().fit(X, [0] * 5 + [1] * 5)
    >>> scorer = get_scorer("unsupervised_entropy")
    >>> scorer(clf, X, sample_domain=[0] * 5 + [-1] * 5) < 0
    True
    """

    def __init__(self, score_func, *, name):
        super().__init__()
        self._score_func = score_func
        self._name = name

    def __call__(self, estimator, X, y=None, sample_domain=None):
        """Score ``estimator`` on the target rows of ``X`` without their labels.

        Parameters
        ----------
        estimator : object
            Fitted estimator.
        X : array-like of shape (n_samples, ...)
            Source and target rows stacked.
        y : array-like of shape (n_samples,), default=None
            Only used to find target rows (``-1``) when ``sample_domain`` is not given.
        sample_domain : array-like of int, int or None, default=None
            ``>= 0`` source, ``< 0`` target.

        Returns
        -------
        score : float
        """
        n_samples = len(X)
        rows = _scored_rows(n_samples, y, sample_domain)
        return float(self._score_func(estimator, X[rows] if hasattr(X, "shape")
                                      else np.asarray(X)[rows]))

    def __repr__(self):
        return f"UnsupervisedScorer({self._name})"


UNSUPERVISED_SCORERS = {
    "unsupervised_entropy": UnsupervisedScorer(_entropy_score, name="negated entropy"),
    "unsupervised_snd": UnsupervisedScorer(_snd_score, name="soft neighbourhood density"),
    "unsupervised_kmeans_agreement": UnsupervisedScorer(_kmeans_agreement_score,
                                                        name="k-means agreement"),
}
