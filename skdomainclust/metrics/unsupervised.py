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
- :func:`batch_nuclear_norm` (BNM; Cui et al., CVPR 2020, as a validator in Musgrave et al.,
  ECCV 2022): the nuclear norm of the target prediction matrix per row, high when
  predictions are both confident and spread over many classes (entropy alone rewards
  putting every row in one confident class).
- :func:`class_ami` (ClassAMI; Musgrave et al., 2022): adjusted mutual information between
  the model's labels and k-means with one cluster per *class* on the target embedding.
  Unlike :func:`kmeans_agreement` it is chance-corrected and its k-means does not follow the
  number of labels the model happens to use, so collapsing onto few classes does not pay.

Scores that read held-out *source* labels (source accuracy, importance-weighted validation,
deep embedded validation) are in :mod:`skdomainclust.metrics.source_validation`.

The scorers take ``(estimator, X, y=None, sample_domain=None)``. They score the target rows:
``sample_domain < 0`` when ``sample_domain`` is routed to them (they request it, like the
``target_*`` scorers); without it, the rows labelled ``-1`` when ``y`` has some, else every
row. ``y`` is otherwise ignored: true target labels passed to ``GridSearchCV`` never reach
these scores.
"""

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_mutual_info_score

from .._contract import _is_mask, check_sample_domain
from .clustering import nmi
from .scorers import _FunctionScorer, _respond

__all__ = [
    "UnsupervisedScorer",
    "batch_nuclear_norm",
    "class_ami",
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
    labels = np.asarray(labels)
    if n_clusters is None:
        n_clusters = max(2, len(np.unique(labels)))
    reference = _kmeans_partition(embedding, labels, n_clusters, n_init, random_state)
    # None: every row embedded alike, the embedding carries no partition.
    return 0.0 if reference is None else float(nmi(reference, labels))


def _kmeans_partition(embedding, labels, n_clusters, n_init, random_state):
    """k-means labels of ``embedding`` (validated against ``labels``), or None when fewer
    than two distinct rows leave nothing to partition."""
    embedding = np.asarray(embedding, dtype=np.float64)
    if embedding.ndim != 2 or len(embedding) != len(labels):
        raise ValueError(f"Expected an embedding of shape (n_samples, n_features) and "
                         f"n_samples labels, got shapes {embedding.shape} and {labels.shape}.")
    n_clusters = min(int(n_clusters), len(np.unique(embedding, axis=0)))
    if n_clusters < 2:
        return None
    return KMeans(n_clusters, n_init=n_init, random_state=random_state).fit_predict(embedding)


def batch_nuclear_norm(proba):
    """Nuclear norm of the prediction matrix divided by its number of rows; higher is better.

    The nuclear norm (sum of singular values) of ``proba`` grows both with the confidence of
    each row and with the rank of the matrix, i.e. the number of classes that receive rows
    (Cui et al., CVPR 2020). Dividing by the number of rows keeps the scale of their batch
    loss.

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_classes)
        Predicted class probabilities of the target rows.

    Returns
    -------
    bnm : float

    Examples
    --------
    >>> import numpy as np
    >>> from skdomainclust.metrics import batch_nuclear_norm
    >>> spread = np.eye(2)[[0, 1, 0, 1]]         # confident, both classes: sqrt(2) + sqrt(2)
    >>> collapsed = np.eye(2)[[0, 0, 0, 0]]      # confident, one class: sqrt(4)
    >>> round(batch_nuclear_norm(spread), 4), round(batch_nuclear_norm(collapsed), 4)
    (0.7071, 0.5)
    """
    proba = _check_proba(proba)
    return float(np.linalg.svd(proba, compute_uv=False).sum() / len(proba))


def class_ami(embedding, labels, n_classes, *, n_init=4, random_state=0):
    """Adjusted mutual information between ``labels`` and k-means with ``n_classes`` clusters
    on ``embedding``; higher is better.

    Parameters
    ----------
    embedding : array-like of shape (n_samples, n_features)
        The model's representation of the target rows.
    labels : array-like of shape (n_samples,)
        The model's labels for the same rows.
    n_classes : int
        Number of classes the model can predict (``len(estimator.classes_)``): the clusters of
        k-means, whatever number of labels the model actually uses.
    n_init : int, default=4
        k-means restarts.
    random_state : int, default=0
        Seed of k-means, fixed so that every candidate model is scored alike.

    Returns
    -------
    ami : float, at most 1 (about 0 for unrelated partitions)

    Examples
    --------
    >>> import numpy as np
    >>> from skdomainclust.metrics import class_ami
    >>> embedding = np.repeat([[0.0], [1.0], [2.0]], 4, axis=0)
    >>> class_ami(embedding, np.repeat([0, 1, 2], 4), 3)
    1.0
    >>> class_ami(embedding, np.repeat([0, 0, 0], 4), 3)  # one label for three groups
    0.0
    """
    labels = np.asarray(labels)
    reference = _kmeans_partition(embedding, labels, n_classes, n_init, random_state)
    return 0.0 if reference is None else float(adjusted_mutual_info_score(reference, labels))


def _n_classes(estimator, labels):
    """The classes a fitted estimator can predict: ``classes_``, else ``n_clusters_`` or
    ``n_clusters``, else the labels it used."""
    if getattr(estimator, "classes_", None) is not None:
        return len(estimator.classes_)
    for name in ("n_clusters_", "n_clusters"):
        value = getattr(estimator, name, None)
        if isinstance(value, (int, np.integer)):
            return int(value)
    return len(np.unique(labels))


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


def _bnm_score(estimator, X):
    return batch_nuclear_norm(_respond(estimator, "predict_proba", X, None))


def _class_ami_score(estimator, X):
    labels = _respond(estimator, "predict", X, None)
    embedding = _respond(estimator, ("transform", "predict_proba"), X, None)
    return class_ami(embedding, labels, _n_classes(estimator, labels))


class UnsupervisedScorer(_FunctionScorer):
    """Scorer ``scorer(estimator, X, y=None, sample_domain=None)`` that needs no labels.

    It keeps the target rows (see the module docstring) and returns
    ``score_func(estimator, X_target)``. Get the predefined ones with
    :func:`~skdomainclust.metrics.get_scorer`: ``"unsupervised_entropy"`` (negated mean
    prediction entropy), ``"unsupervised_snd"``, ``"unsupervised_kmeans_agreement"``,
    ``"unsupervised_bnm"`` and ``"unsupervised_class_ami"``.

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


UNSUPERVISED_SCORERS = {
    "unsupervised_entropy": UnsupervisedScorer(_entropy_score, name="negated entropy"),
    "unsupervised_snd": UnsupervisedScorer(_snd_score, name="soft neighbourhood density"),
    "unsupervised_kmeans_agreement": UnsupervisedScorer(_kmeans_agreement_score,
                                                        name="k-means agreement"),
    "unsupervised_bnm": UnsupervisedScorer(_bnm_score, name="batch nuclear norm"),
    "unsupervised_class_ami": UnsupervisedScorer(_class_ami_score, name="ClassAMI"),
}
