"""The contingency matrix of two labellings, built in O(n), and the label checks it relies on.

Every clustering metric of this package is a function of the contingency matrix ``N`` alone
(``N[i, j]`` = number of samples of class ``i`` put in cluster ``j``), of its row sums ``a`` and
of its column sums ``b``, so they all cost ``O(n + k_true * k_pred)`` or less and never loop
over pairs of samples.
"""

import numpy as np
import scipy.sparse as sp

__all__ = ["contingency_matrix"]

# A dense matrix is used while it has at most max(n_samples, _MIN_DENSE_CELLS) cells: then it
# costs no more memory than the labels themselves (8 MiB at least, so small inputs with many
# labels stay dense), and `np.bincount` fills it without sorting.
_MIN_DENSE_CELLS = 1 << 20


def check_label_pair(labels_true, labels_pred, *, names=("y_true", "y_pred")):
    """Return both labellings as 1-D arrays of the same, non-zero length.

    Parameters
    ----------
    labels_true, labels_pred : array-like of shape (n_samples,)
        Labels of any hashable type.
    names : tuple of str
        How the two arguments are called in error messages.

    Returns
    -------
    labels_true, labels_pred : ndarray of shape (n_samples,)
    """
    arrays = []
    for name, labels in zip(names, (labels_true, labels_pred)):
        labels = np.asarray(labels)
        if labels.ndim != 1:
            raise ValueError(f"{name} must be 1-D, got an array of shape {labels.shape}.")
        if not _all_finite(labels):
            raise ValueError(f"{name} contains NaN or infinity: labels must be finite.")
        arrays.append(labels)
    if len(arrays[0]) != len(arrays[1]):
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same length, got {len(arrays[0])} and "
            f"{len(arrays[1])}."
        )
    if len(arrays[0]) == 0:
        raise ValueError(f"{names[0]} and {names[1]} are empty: there is nothing to score.")
    return arrays[0], arrays[1]


def _all_finite(labels):
    """No NaN or infinite float among the labels (an object array is checked element-wise)."""
    if labels.dtype.kind in "fc":
        return bool(np.isfinite(labels).all())
    if labels.dtype.kind == "O":
        return not any(isinstance(v, (float, np.floating)) and not np.isfinite(v)
                       for v in labels.tolist())
    return True


def _offset_codes(labels):
    """``labels - min(labels)`` for integer labels whose range is small relative to n.

    Returns
    -------
    codes : ndarray of intp, shape (n_samples,) or None
        None when the labels are not integers or span too wide a range.
    values : ndarray of shape (span,)
        ``values[c]`` is the label with code ``c``; values inside the range that do not occur
        get a code too.
    """
    n_samples = len(labels)
    if labels.dtype.kind not in "biu" or not n_samples:
        return None, None
    dtype = labels.dtype
    if dtype.kind == "b":  # numpy cannot subtract booleans
        labels = labels.view(np.uint8)
    low, high = labels.min(), labels.max()
    span = int(high) - int(low) + 1  # Python ints: no overflow at the ends of int64/uint64
    if span > max(2 * n_samples, 1024):
        return None, None
    if labels.dtype.kind == "i":
        codes = labels.astype(np.intp, copy=False)
        if low != 0:
            codes = codes - int(low)
        values = (np.arange(span) + int(low)).astype(dtype)
    else:  # unsigned: subtract in the label dtype, which cannot go negative here
        codes = (labels - low).astype(np.intp, copy=False)
        values = (np.arange(span, dtype=np.uint64) + np.uint64(low)).astype(dtype)
    return codes, values


def factorize(labels):
    """Encode 1-D labels as integer codes ``0..k-1``.

    Integer labels whose range is small relative to their number are offset and counted with
    ``np.bincount`` (O(n), no sort); anything else goes through ``np.unique`` (O(n log n)), and
    labels that cannot be sorted (mixed types in an object array) through a dictionary.

    Returns
    -------
    codes : ndarray of intp, shape (n_samples,)
    uniques : ndarray of shape (k,)
        ``uniques[codes]`` equals ``labels``; sorted unless the labels cannot be sorted (then in
        order of first appearance).
    counts : ndarray of int64, shape (k,)
        Number of samples per code (all positive).
    """
    codes, uniques = _offset_codes(labels)
    if codes is not None:
        counts = np.bincount(codes, minlength=len(uniques))
        present = counts > 0
        if not present.all():  # close the gaps left by values that do not occur
            codes = (np.cumsum(present) - 1)[codes]
            uniques, counts = uniques[present], counts[present]
        return codes, uniques, counts.astype(np.int64, copy=False)
    try:
        uniques, codes = np.unique(labels, return_inverse=True)
    except TypeError:  # unorderable (mixed-type) objects: hash them instead
        index = {}
        codes = np.fromiter((index.setdefault(label, len(index)) for label in labels.tolist()),
                            dtype=np.intp, count=len(labels))
        uniques = np.empty(len(index), dtype=object)
        uniques[:] = list(index)
    codes = codes.reshape(-1).astype(np.intp, copy=False)
    return codes, uniques, np.bincount(codes, minlength=len(uniques)).astype(np.int64)


def _count_dense(codes_true, codes_pred, n_classes, n_clusters):
    cells = codes_true * n_clusters  # a new array: the codes may be the caller's labels
    cells += codes_pred
    counts = np.bincount(cells, minlength=n_classes * n_clusters)
    return counts.astype(np.int64, copy=False).reshape(n_classes, n_clusters)


def _build(labels_true, labels_pred, sparse):
    """Contingency matrix plus the labels of its rows and columns and its marginals."""
    dense_limit = max(len(labels_true), _MIN_DENSE_CELLS)
    if not sparse:
        # Fast path for small-range integer labels: count over the whole value ranges, then
        # drop the values that do not occur. Marginals come from the matrix (O(k_true k_pred))
        # instead of two more passes over the n labels.
        codes_true, classes = _offset_codes(labels_true)
        codes_pred, clusters = _offset_codes(labels_pred)
        if (codes_true is not None and codes_pred is not None
                and len(classes) * len(clusters) <= dense_limit):
            matrix = _count_dense(codes_true, codes_pred, len(classes), len(clusters))
            row_sums, col_sums = matrix.sum(axis=1), matrix.sum(axis=0)
            rows, cols = row_sums > 0, col_sums > 0
            if not rows.all():
                matrix, classes, row_sums = matrix[rows], classes[rows], row_sums[rows]
            if not cols.all():
                matrix, clusters, col_sums = matrix[:, cols], clusters[cols], col_sums[cols]
            return matrix, classes, clusters, row_sums, col_sums
    codes_true, classes, row_sums = factorize(labels_true)
    codes_pred, clusters, col_sums = factorize(labels_pred)
    n_classes, n_clusters = len(classes), len(clusters)
    if sparse is None:
        sparse = n_classes * n_clusters > dense_limit
    if sparse:
        ones = np.ones(len(codes_true), dtype=np.int64)
        # COO -> CSR sums the duplicate (i, j) entries, which is exactly the counting we need.
        matrix = sp.coo_matrix((ones, (codes_true, codes_pred)),
                               shape=(n_classes, n_clusters)).tocsr()
        matrix.sum_duplicates()
    else:
        matrix = _count_dense(codes_true, codes_pred, n_classes, n_clusters)
    return matrix, classes, clusters, row_sums, col_sums


def contingency_parts(y_true, y_pred):
    """Non-zero cells of the contingency matrix with their indices, and its marginals.

    Returns
    -------
    counts : ndarray of int64, shape (n_nonzero,)
    rows, cols : ndarray of intp, shape (n_nonzero,)
        Class and cluster code of each non-zero cell.
    row_sums : ndarray of int64, shape (n_classes,)
        ``a_i``, the size of each class.
    col_sums : ndarray of int64, shape (n_clusters,)
        ``b_j``, the size of each cluster.
    """
    matrix, _, _, row_sums, col_sums = _build(y_true, y_pred, None)
    if sp.issparse(matrix):
        rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
        cols, counts = matrix.indices, matrix.data
    else:
        rows, cols = np.nonzero(matrix)
        counts = matrix[rows, cols]
    return counts.astype(np.int64, copy=False), rows, cols, row_sums, col_sums


def labelled_contingency(y_true, y_pred):
    """Contingency matrix, dense while small and sparse beyond (see ``contingency_matrix``),
    with the class and cluster label of each row and column."""
    matrix, classes, clusters, _, _ = _build(y_true, y_pred, None)
    return matrix, classes, clusters


def contingency_matrix(labels_true, labels_pred, *, sparse=None):
    """Contingency matrix of two labellings, built in O(n).

    ``C[i, j]`` is the number of samples whose true label is the ``i``-th class and whose
    predicted label is the ``j``-th cluster. Classes and clusters are in sorted order (in
    order of first appearance for labels that cannot be sorted), and only labels that occur
    get a row or a column.

    Parameters
    ----------
    labels_true : array-like of shape (n_samples,)
        Ground-truth labels, of any hashable type.
    labels_pred : array-like of shape (n_samples,)
        Predicted cluster labels, of any hashable type.
    sparse : bool or None, default=None
        ``True`` returns a ``scipy.sparse.csr_matrix``, ``False`` a dense ndarray. ``None``
        picks dense while the matrix has no more cells than ``max(n_samples, 2**20)`` and
        sparse beyond, so memory stays ``O(n_samples)``.

    Returns
    -------
    contingency : ndarray or scipy.sparse.csr_matrix of int64, shape (n_classes, n_clusters)

    Examples
    --------
    >>> from skdomainclust.metrics import contingency_matrix
    >>> contingency_matrix([0, 0, 1, 1, 2], ["a", "b", "b", "b", "b"])
    array([[1, 1],
           [0, 2],
           [0, 1]])
    >>> contingency_matrix([0, 0, 1], [5, 5, 5], sparse=True).toarray()
    array([[2],
           [1]])
    """
    labels_true, labels_pred = check_label_pair(labels_true, labels_pred,
                                                names=("labels_true", "labels_pred"))
    return _build(labels_true, labels_pred, sparse)[0]
