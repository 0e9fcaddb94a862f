"""External clustering metrics: Hungarian accuracy, NMI, pairwise and BCubed precision/recall/F.

All of them are computed from the contingency matrix ``N`` (``N[i, j]`` = number of samples of
class ``i`` in cluster ``j``), its row sums ``a_i`` (class sizes) and its column sums ``b_j``
(cluster sizes), so they cost ``O(n + k_true * k_pred)`` and never enumerate pairs of samples.
The definitions are those of section 6 of the methods specification. Labels may be of any
hashable type (integers, strings, ...), and the two labellings need not use the same values or
the same number of distinct values.
"""

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linear_sum_assignment
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

from ._contingency import (
    check_label_pair,
    contingency_parts,
    labelled_contingency,
)

__all__ = [
    "apply_cluster_mapping",
    "bcubed_f1",
    "bcubed_precision_recall_f1",
    "cluster_accuracy",
    "nmi",
    "pairwise_f1",
    "pairwise_precision_recall_f1",
]

_AVERAGE_METHODS = ("arithmetic", "geometric", "min", "max")


def _f1(precision, recall):
    """Harmonic mean of precision and recall, 0 when both are 0."""
    total = precision + recall
    return 2.0 * precision * recall / total if total > 0 else 0.0


def cluster_accuracy(y_true, y_pred, *, return_mapping=False):
    """Clustering accuracy under the best one-to-one matching of clusters to classes.

    The matching maximises the number of correctly matched samples (the Hungarian algorithm,
    ``scipy.optimize.linear_sum_assignment``, on the contingency matrix). Solving the
    rectangular problem is equivalent to padding the matrix to a square with zeros, as in
    L2C's ``Confusion.optimal_assignment``, without the padding: when there are more clusters
    than classes, the clusters left unmatched count as errors; when there are fewer, the
    unmatched classes are simply never predicted.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Ground-truth class labels.
    y_pred : array-like of shape (n_samples,)
        Cluster labels; their values need not relate to the class labels.
    return_mapping : bool, default=False
        Also return the matching, as a dict ``{cluster label: class label}``.

    Returns
    -------
    accuracy : float
        Fraction of samples whose cluster is matched to their class, in [0, 1].
    mapping : dict
        Only when ``return_mapping=True``. Clusters left unmatched are not keys.

    See Also
    --------
    apply_cluster_mapping : Relabel clusters with a mapping fitted on other data.

    Notes
    -----
    To evaluate a train/test split as L2C does, fit the mapping on one set and apply it to the
    other, instead of matching the test set on its own labels::

        _, mapping = cluster_accuracy(y_train, clusters_train, return_mapping=True)
        test_accuracy = np.mean(apply_cluster_mapping(clusters_test, mapping) == y_test)

    Examples
    --------
    >>> from skdomainclust.metrics import cluster_accuracy
    >>> cluster_accuracy([0, 0, 1, 1, 2, 2], [1, 1, 0, 0, 0, 2])
    0.8333333333333334
    >>> accuracy, mapping = cluster_accuracy(["a", "a", "b"], [7, 7, 3], return_mapping=True)
    >>> accuracy, mapping
    (1.0, {3: 'b', 7: 'a'})
    """
    y_true, y_pred = check_label_pair(y_true, y_pred)
    matrix, classes, clusters = labelled_contingency(y_true, y_pred)
    if sp.issparse(matrix):
        rows, cols = _sparse_assignment(matrix)
        matched = np.asarray(matrix[rows, cols]).ravel()
    else:
        rows, cols = linear_sum_assignment(matrix, maximize=True)
        matched = matrix[rows, cols]
    accuracy = float(matched.sum() / len(y_true))
    if not return_mapping:
        return accuracy
    cluster_labels, class_labels = clusters.tolist(), classes.tolist()
    mapping = {cluster_labels[j]: class_labels[i] for i, j in sorted(zip(rows, cols),
                                                                       key=lambda ij: ij[1])}
    return accuracy, mapping


def _sparse_assignment(matrix):
    """Maximum-weight matching of a sparse contingency matrix, in ``O(nnz)`` memory.

    A cell worth at least everything else in its row and column together,
    ``N_ij >= (a_i - N_ij) + (b_j - N_ij)``, belongs to an optimal matching (swapping it in
    for the two edges it displaces never loses), so such cells are fixed first, a few passes
    over the shrinking problem; most of a good clustering goes that way. The rest is solved
    exactly by ``scipy.sparse.csgraph.min_weight_full_bipartite_matching``, with one private
    dummy column per row (weight below ``1 / (2 n_rows)`` in all) so that a full matching always
    exists and a real cell always wins over leaving a row unmatched.
    """
    coo = matrix.tocoo()
    counts, r, c = coo.data.astype(np.float64), coo.row, coo.col
    fixed_rows, fixed_cols = [], []
    for _ in range(8):
        row_sums = np.bincount(r, weights=counts, minlength=matrix.shape[0])
        col_sums = np.bincount(c, weights=counts, minlength=matrix.shape[1])
        dominant = np.flatnonzero(3 * counts >= row_sums[r] + col_sums[c])
        # Ties can make two cells of one row (or column) dominant: keep one of each.
        dominant = dominant[np.unique(r[dominant], return_index=True)[1]]
        dominant = dominant[np.unique(c[dominant], return_index=True)[1]]
        if not len(dominant):
            break
        fixed_rows.append(r[dominant])
        fixed_cols.append(c[dominant])
        taken_r = np.zeros(matrix.shape[0], bool)
        taken_c = np.zeros(matrix.shape[1], bool)
        taken_r[r[dominant]] = True
        taken_c[c[dominant]] = True
        keep = ~(taken_r[r] | taken_c[c])
        counts, r, c = counts[keep], r[keep], c[keep]
    rows = [np.concatenate(fixed_rows)] if fixed_rows else []
    cols = [np.concatenate(fixed_cols)] if fixed_cols else []
    if len(counts):
        # Solve what is left on its own rows and columns, renumbered.
        row_ids, r = np.unique(r, return_inverse=True)
        col_ids, c = np.unique(c, return_inverse=True)
        n_r, n_c = len(row_ids), len(col_ids)
        eps = 0.5 / (n_r + 1)
        rest = sp.csr_matrix(
            (np.concatenate([counts, np.full(n_r, eps)]),
             (np.concatenate([r, np.arange(n_r)]), np.concatenate([c, n_c + np.arange(n_r)]))),
            shape=(n_r, n_c + n_r))
        left, right = min_weight_full_bipartite_matching(rest, maximize=True)
        real = right < n_c
        rows.append(row_ids[left[real]])
        cols.append(col_ids[right[real]])
    if not rows:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    order = np.argsort(rows)
    return rows[order], cols[order]


def apply_cluster_mapping(y_pred, mapping, *, default=-1):
    """Relabel clusters with a ``{cluster: class}`` mapping, e.g. from :func:`cluster_accuracy`.

    Parameters
    ----------
    y_pred : array-like of shape (n_samples,)
        Cluster labels.
    mapping : dict
        ``{cluster label: class label}``.
    default : object, default=-1
        Label given to clusters that are not in ``mapping`` (unmatched, or not seen when the
        mapping was fitted). Use a value of the same type as the class labels (for string
        classes, e.g. ``"unknown"``), or the output is converted to a common type by numpy.

    Returns
    -------
    y_mapped : ndarray of shape (n_samples,)

    Examples
    --------
    >>> from skdomainclust.metrics import apply_cluster_mapping, cluster_accuracy
    >>> _, mapping = cluster_accuracy([0, 0, 1, 1], [5, 5, 9, 9], return_mapping=True)
    >>> apply_cluster_mapping([9, 5, 4], mapping)
    array([ 1,  0, -1])
    """
    y_pred = np.asarray(y_pred)
    if y_pred.ndim != 1:
        raise ValueError(f"y_pred must be 1-D, got an array of shape {y_pred.shape}.")
    try:
        clusters, codes = np.unique(y_pred, return_inverse=True)
    except TypeError:  # unorderable objects: map them one by one
        return np.asarray([mapping.get(label, default) for label in y_pred.tolist()])
    lookup = np.asarray([mapping.get(label, default) for label in clusters.tolist()])
    return lookup[codes.reshape(-1)]


def nmi(y_true, y_pred, *, average_method="arithmetic"):
    """Normalised mutual information between two labellings.

    ``NMI = I(Y; C) / norm(H(Y), H(C))`` with natural logarithms, where the normaliser is the
    arithmetic mean of the two entropies (scikit-learn's default since 0.22), their geometric
    mean (Strehl & Ghosh, used by CCN), their minimum or their maximum. Equal, up to rounding,
    to ``sklearn.metrics.normalized_mutual_info_score``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Ground-truth class labels.
    y_pred : array-like of shape (n_samples,)
        Cluster labels.
    average_method : {"arithmetic", "geometric", "min", "max"}, default="arithmetic"
        How the two entropies are combined into the normaliser.

    Returns
    -------
    nmi : float
        In [0, 1]. 1.0 when both labellings have a single label (both entropies are 0), and
        0.0 when only one of them has.

    Examples
    --------
    >>> from skdomainclust.metrics import nmi
    >>> nmi([0, 0, 1, 1], ["b", "b", "a", "a"])
    1.0
    >>> round(nmi([0, 0, 1, 1], [0, 1, 1, 1], average_method="geometric"), 6)
    0.345592
    """
    if average_method not in _AVERAGE_METHODS:
        raise ValueError(
            f"average_method must be one of {_AVERAGE_METHODS}, got {average_method!r}."
        )
    y_true, y_pred = check_label_pair(y_true, y_pred)
    counts, rows, cols, class_sizes, cluster_sizes = contingency_parts(y_true, y_pred)
    if len(counts) == len(class_sizes) == len(cluster_sizes):
        # One non-zero cell per row and per column: the labellings are equal up to renaming
        # (this includes a single label on both sides, where both entropies are 0). Say so
        # exactly rather than with the rounding error of I / norm.
        return 1.0
    if len(class_sizes) == 1 or len(cluster_sizes) == 1:
        return 0.0  # one labelling is constant, so I(Y; C) = 0 while the normaliser is not
    n_samples = len(y_true)
    log_n = np.log(n_samples)
    log_class_sizes, log_cluster_sizes = np.log(class_sizes), np.log(cluster_sizes)
    # I = sum_ij (N_ij / n) log(n N_ij / (a_i b_j)), summed over the non-zero cells only.
    mutual_info = float(np.dot(
        counts / n_samples,
        np.log(counts) + log_n - log_class_sizes[rows] - log_cluster_sizes[cols],
    ))
    h_true = float(-np.dot(class_sizes / n_samples, log_class_sizes - log_n))
    h_pred = float(-np.dot(cluster_sizes / n_samples, log_cluster_sizes - log_n))
    if average_method == "arithmetic":
        normaliser = (h_true + h_pred) / 2.0
    elif average_method == "geometric":
        normaliser = np.sqrt(h_true * h_pred)
    elif average_method == "min":
        normaliser = min(h_true, h_pred)
    else:
        normaliser = max(h_true, h_pred)
    # Rounding can push I a hair below 0 or above the normaliser.
    return float(np.clip(mutual_info / normaliser, 0.0, 1.0))


def pairwise_precision_recall_f1(y_true, y_pred):
    """Pairwise precision, recall and F1 (the "pairwise F-score" of face clustering).

    Over all unordered pairs of samples, a pair is predicted positive when both samples share
    a cluster and truly positive when they share a class:
    ``TP = sum_ij C(N_ij, 2)``, ``P = TP / sum_j C(b_j, 2)``, ``R = TP / sum_i C(a_i, 2)``
    and ``F = 2 P R / (P + R)``. Counts are exact 64-bit integers.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Ground-truth class labels.
    y_pred : array-like of shape (n_samples,)
        Cluster labels.

    Returns
    -------
    precision, recall, f1 : float
        Conventions for undefined ratios: when every predicted cluster is a singleton (no
        predicted pair) the precision is 0; when every class is a singleton the recall is 0;
        and F is 0 when ``P + R = 0``. So an all-singleton labelling scores 0, even against
        itself.

    Examples
    --------
    >>> from skdomainclust.metrics import pairwise_precision_recall_f1
    >>> pairwise_precision_recall_f1([0, 0, 0, 1], [0, 0, 1, 1])
    (0.5, 0.3333333333333333, 0.4)
    >>> pairwise_precision_recall_f1([0, 0, 1], [0, 1, 2])
    (0.0, 0.0, 0.0)
    """
    y_true, y_pred = check_label_pair(y_true, y_pred)
    counts, _, _, class_sizes, cluster_sizes = contingency_parts(y_true, y_pred)
    n_samples = len(y_true)
    # sum C(m, 2) = (sum m^2 - n) / 2; the halves cancel in the ratios.
    true_positives = int(np.dot(counts, counts)) - n_samples
    predicted_pairs = int(np.dot(cluster_sizes, cluster_sizes)) - n_samples
    true_pairs = int(np.dot(class_sizes, class_sizes)) - n_samples
    precision = true_positives / predicted_pairs if predicted_pairs else 0.0
    recall = true_positives / true_pairs if true_pairs else 0.0
    return precision, recall, _f1(precision, recall)


def pairwise_f1(y_true, y_pred):
    """Pairwise F1 score; see :func:`pairwise_precision_recall_f1` for the definition.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Ground-truth class labels.
    y_pred : array-like of shape (n_samples,)
        Cluster labels.

    Returns
    -------
    f1 : float
        In [0, 1]; 0 when there is no predicted pair or no true pair.

    Examples
    --------
    >>> from skdomainclust.metrics import pairwise_f1
    >>> pairwise_f1([0, 0, 0, 1], [0, 0, 1, 1])
    0.4
    """
    return pairwise_precision_recall_f1(y_true, y_pred)[2]


def bcubed_precision_recall_f1(y_true, y_pred):
    """BCubed precision, recall and F1 (the F-score reported by L-GCN and XDC).

    Each sample's precision is the fraction of its cluster that shares its class, and its
    recall the fraction of its class that shares its cluster (both counting the sample
    itself); P and R are their means over samples:
    ``P = (1/n) sum_ij N_ij^2 / b_j`` and ``R = (1/n) sum_ij N_ij^2 / a_i``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Ground-truth class labels.
    y_pred : array-like of shape (n_samples,)
        Cluster labels.

    Returns
    -------
    precision, recall, f1 : float
        Each in (0, 1].

    Examples
    --------
    >>> from skdomainclust.metrics import bcubed_precision_recall_f1
    >>> p, r, f = bcubed_precision_recall_f1([0, 0, 0, 1], [0, 0, 1, 1])
    >>> round(p, 4), round(r, 4), round(f, 4)
    (0.75, 0.6667, 0.7059)
    """
    y_true, y_pred = check_label_pair(y_true, y_pred)
    counts, rows, cols, class_sizes, cluster_sizes = contingency_parts(y_true, y_pred)
    squares = counts.astype(np.float64) ** 2
    n_samples = len(y_true)
    precision = float(np.sum(squares / cluster_sizes[cols]) / n_samples)
    recall = float(np.sum(squares / class_sizes[rows]) / n_samples)
    return precision, recall, _f1(precision, recall)


def bcubed_f1(y_true, y_pred):
    """BCubed F1 score; see :func:`bcubed_precision_recall_f1` for the definition.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Ground-truth class labels.
    y_pred : array-like of shape (n_samples,)
        Cluster labels.

    Returns
    -------
    f1 : float
        In (0, 1].

    Examples
    --------
    >>> from skdomainclust.metrics import bcubed_f1
    >>> round(bcubed_f1([0, 0, 0, 1], [0, 0, 1, 1]), 4)
    0.7059
    """
    return bcubed_precision_recall_f1(y_true, y_pred)[2]
