"""Cross-domain retrieval metrics: precision at k (standard and UCDIR's variant) and mAP.

Each query ranks the whole gallery by decreasing similarity (the cosine similarity of
L2-normalised embeddings, or a precomputed similarity matrix); a gallery item is relevant when
it has the query's label. Ties are broken deterministically by a stable sort: the item with the
lower gallery index ranks first. Queries are processed in chunks, so memory stays
``O(chunk * n_gallery)`` however many queries there are. For cross-domain retrieval, compute
A->B and B->A separately by swapping the roles of the two domains.
"""

import numbers

import numpy as np

from ._contingency import factorize

__all__ = ["cross_domain_retrieval_scores", "mean_average_precision", "precision_at_k"]

# Rows per chunk are chosen so that one (chunk, n_gallery) float64 array stays near 32 MiB.
_CHUNK_CELLS = 1 << 22
_MAX_CHUNK_ROWS = 1024
_VARIANTS = ("standard", "truncated")


def _check_labels(labels, name):
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got an array of shape {labels.shape}.")
    if len(labels) == 0:
        raise ValueError(f"{name} is empty.")
    return labels


def _check_cutoff(k, name="k"):
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"{name} must be a positive integer, got {k!r}.")
    return int(k)


def _similarity_source(n_queries, n_gallery, similarity, query_embeddings, gallery_embeddings):
    """A function ``rows(start, stop) -> (stop - start, n_gallery) float64 similarities``."""
    if similarity is not None:
        if query_embeddings is not None or gallery_embeddings is not None:
            raise ValueError("Pass either similarity or query_embeddings and "
                             "gallery_embeddings, not both.")
        if not hasattr(similarity, "shape"):  # keep memmaps and arrays as they are
            similarity = np.asarray(similarity)
        if len(similarity.shape) != 2 or tuple(similarity.shape) != (n_queries, n_gallery):
            raise ValueError(
                f"similarity must have shape (n_queries, n_gallery) = ({n_queries}, "
                f"{n_gallery}), got {tuple(similarity.shape)}."
            )
        return lambda start, stop: np.asarray(similarity[start:stop], dtype=np.float64)
    if query_embeddings is None or gallery_embeddings is None:
        raise ValueError("Pass a similarity matrix, or both query_embeddings and "
                         "gallery_embeddings.")
    normalised = []
    for name, embeddings, n_rows in (("query_embeddings", query_embeddings, n_queries),
                                     ("gallery_embeddings", gallery_embeddings, n_gallery)):
        embeddings = np.asarray(embeddings, dtype=np.float64)
        if embeddings.ndim != 2:
            raise ValueError(f"{name} must be 2-D, got an array of shape {embeddings.shape}.")
        if len(embeddings) != n_rows:
            raise ValueError(
                f"{name} has {len(embeddings)} rows but there are {n_rows} "
                f"{name.split('_')[0]} labels."
            )
        if not np.isfinite(embeddings).all():
            raise ValueError(f"{name} contains NaN or infinity.")
        norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
        # A zero vector stays zero: it is equally (dis)similar to everything.
        normalised.append(embeddings / np.maximum(norms, np.finfo(np.float64).tiny))
    queries, gallery = normalised
    if queries.shape[1] != gallery.shape[1]:
        raise ValueError(
            f"query_embeddings and gallery_embeddings must have the same number of columns, "
            f"got {queries.shape[1]} and {gallery.shape[1]}."
        )
    return lambda start, stop: queries[start:stop] @ gallery.T


def _top_ranked(similarity, depth):
    """Gallery indices of the ``depth`` most similar items of each row, in ranking order.

    The order is that of ``np.argsort(-similarity, axis=1, kind="stable")[:, :depth]``, but a
    shallow ranking costs ``O(n_gallery)`` per row instead of a full sort.
    """
    n_rows, n_gallery = similarity.shape
    negated = -similarity
    if 4 * depth >= n_gallery:
        return np.argsort(negated, axis=1, kind="stable")[:, :depth]
    # Everything strictly above the depth-th largest value is in; among the items tied with
    # it, those with the lowest gallery indices fill the remaining places (the stable order).
    threshold = np.partition(negated, depth - 1, axis=1)[:, depth - 1:depth]
    above = negated < threshold
    tied = negated == threshold
    places_left = depth - above.sum(axis=1, keepdims=True)
    if np.any(tied.sum(axis=1, keepdims=True) > places_left):
        chosen = above | (tied & (np.cumsum(tied, axis=1) <= places_left))
    else:  # the usual case with real-valued similarities: no tie straddles the cut
        chosen = above | tied
    columns = np.nonzero(chosen)[1].reshape(n_rows, depth)  # exactly `depth` per row, ascending
    order = np.argsort(np.take_along_axis(negated, columns, axis=1), axis=1, kind="stable")
    return np.take_along_axis(columns, order, axis=1)


def _ranked_relevance(query_labels, gallery_labels, similarity, query_embeddings,
                      gallery_embeddings, depth):
    """Yield, chunk by chunk, the relevance of each query's top ``depth`` gallery items.

    Yields
    ------
    relevant : ndarray of bool, shape (chunk, min(depth, n_gallery))
        ``relevant[q, r]``: whether the item ranked ``r + 1`` for query ``q`` is relevant.
    n_relevant : ndarray of int64, shape (chunk,)
        ``R_q``, the number of relevant items in the whole gallery.
    """
    query_labels = _check_labels(query_labels, "query_labels")
    gallery_labels = _check_labels(gallery_labels, "gallery_labels")
    n_queries, n_gallery = len(query_labels), len(gallery_labels)
    rows = _similarity_source(n_queries, n_gallery, similarity, query_embeddings,
                              gallery_embeddings)
    # One shared code book, so "same label" is "same code".
    codes, _, _ = factorize(np.concatenate([query_labels, gallery_labels]))
    query_codes, gallery_codes = codes[:n_queries], codes[n_queries:]
    relevant_per_code = np.bincount(gallery_codes, minlength=codes.max() + 1)
    depth = min(depth, n_gallery)
    chunk = int(np.clip(_CHUNK_CELLS // n_gallery, 1, _MAX_CHUNK_ROWS))
    for start in range(0, n_queries, chunk):
        stop = min(start + chunk, n_queries)
        block = rows(start, stop)
        if not np.isfinite(block).all():
            raise ValueError("similarity contains NaN or infinity.")
        ranked = _top_ranked(block, depth)
        yield (gallery_codes[ranked] == query_codes[start:stop, None],
               relevant_per_code[query_codes[start:stop]])


def precision_at_k(query_labels, gallery_labels, similarity=None, *, query_embeddings=None,
                   gallery_embeddings=None, k=1, variant="standard"):
    """Precision of the top ``k`` retrieved gallery items, averaged over queries.

    Parameters
    ----------
    query_labels : array-like of shape (n_queries,)
        Labels of the queries (any hashable type).
    gallery_labels : array-like of shape (n_gallery,)
        Labels of the gallery items; an item is relevant to a query with the same label.
    similarity : array-like of shape (n_queries, n_gallery), default=None
        Precomputed similarities (higher is more similar). Give either this or both
        embedding arrays.
    query_embeddings : array-like of shape (n_queries, n_features), default=None
        Query embeddings, compared by cosine similarity (they are L2-normalised here).
    gallery_embeddings : array-like of shape (n_gallery, n_features), default=None
        Gallery embeddings.
    k : int or sequence of int, default=1
        Cut-off(s). ``k`` larger than the gallery keeps the whole gallery in the top ``k``.
    variant : {"standard", "truncated"}, default="standard"
        ``"standard"``: the mean over queries of ``(1/k) * #relevant in the top k``.
        ``"truncated"``: the UCDIR evaluation code's variant,
        ``sum_q #relevant in the top min(k, R_q) / sum_q min(k, R_q)`` where ``R_q`` is the
        number of relevant gallery items of query ``q`` (a micro-average with a truncated
        denominator; queries with ``R_q = 0`` add nothing to either sum).

    Returns
    -------
    precision : float or dict
        A float in [0, 1] for an int ``k``; a dict ``{k: precision}`` for a sequence. The
        truncated variant is 0.0 when no query has a relevant item.

    Examples
    --------
    >>> import numpy as np
    >>> from skdomainclust.metrics import precision_at_k
    >>> similarity = np.array([[0.9, 0.8, 0.1],
    ...                        [0.2, 0.3, 0.7]])
    >>> precision_at_k([0, 1], [0, 1, 1], similarity, k=[1, 2])
    {1: 1.0, 2: 0.75}
    >>> precision_at_k([0, 1], [0, 1, 1], similarity, k=2, variant="truncated")
    1.0
    >>> precision_at_k(["cat"], ["dog", "cat"], query_embeddings=[[1.0, 0.0]],
    ...                gallery_embeddings=[[0.0, 2.0], [3.0, 0.1]])
    1.0
    """
    if variant not in _VARIANTS:
        raise ValueError(f"variant must be one of {_VARIANTS}, got {variant!r}.")
    single = isinstance(k, numbers.Integral) and not isinstance(k, bool)
    cutoffs = [_check_cutoff(k)] if single else [_check_cutoff(value) for value in k]
    if not cutoffs:
        raise ValueError("k is an empty sequence.")
    hits = dict.fromkeys(cutoffs, 0.0)
    denominators = dict.fromkeys(cutoffs, 0.0)
    n_queries = 0
    for relevant, n_relevant in _ranked_relevance(query_labels, gallery_labels, similarity,
                                                  query_embeddings, gallery_embeddings,
                                                  max(cutoffs)):
        n_queries += len(relevant)
        cumulative = np.cumsum(relevant, axis=1)
        for cutoff in hits:
            if variant == "standard":
                hits[cutoff] += cumulative[:, min(cutoff, relevant.shape[1]) - 1].sum()
                denominators[cutoff] += cutoff * len(relevant)
            else:
                # min(k, R_q) <= n_gallery, so the ranking is always deep enough.
                cut = np.minimum(cutoff, n_relevant)
                has_relevant = cut > 0
                hits[cutoff] += cumulative[has_relevant, cut[has_relevant] - 1].sum()
                denominators[cutoff] += cut.sum()
    scores = {cutoff: float(hits[cutoff] / denominators[cutoff]) if denominators[cutoff]
              else 0.0 for cutoff in hits}
    return scores[cutoffs[0]] if single else scores


def mean_average_precision(query_labels, gallery_labels, similarity=None, *,
                           query_embeddings=None, gallery_embeddings=None, k=None):
    """Mean over queries of the average precision of the ranked gallery.

    ``AP_q = (1/R_q) sum_r rel(r) * P@r``, where ``r`` runs over the whole ranking (or over its
    first ``k`` positions), ``rel(r)`` says whether the item at rank ``r`` is relevant,
    ``P@r`` is the precision of the top ``r`` items, and ``R_q`` is the number of relevant items
    in the whole gallery (also with a cut-off, as in the methods specification, so an AP at
    ``k`` reaches 1 only when ``R_q <= k``). Queries without any relevant item are skipped.

    Parameters
    ----------
    query_labels : array-like of shape (n_queries,)
        Labels of the queries (any hashable type).
    gallery_labels : array-like of shape (n_gallery,)
        Labels of the gallery items; an item is relevant to a query with the same label.
    similarity : array-like of shape (n_queries, n_gallery), default=None
        Precomputed similarities (higher is more similar). Give either this or both
        embedding arrays.
    query_embeddings : array-like of shape (n_queries, n_features), default=None
        Query embeddings, compared by cosine similarity (they are L2-normalised here).
    gallery_embeddings : array-like of shape (n_gallery, n_features), default=None
        Gallery embeddings.
    k : int or None, default=None
        Cut-off of the ranking; None uses the whole gallery.

    Returns
    -------
    map : float
        In [0, 1]; 0.0 when no query has a relevant item.

    Examples
    --------
    >>> import numpy as np
    >>> from skdomainclust.metrics import mean_average_precision
    >>> similarity = np.array([[0.9, 0.8, 0.1],
    ...                        [0.2, 0.3, 0.7]])
    >>> mean_average_precision([0, 1], [0, 1, 1], similarity)
    1.0
    >>> mean_average_precision([1], [0, 1, 1], similarity[:1])
    0.5833333333333333
    """
    depth = np.iinfo(np.int64).max if k is None else _check_cutoff(k)
    total, n_scored = 0.0, 0
    for relevant, n_relevant in _ranked_relevance(query_labels, gallery_labels, similarity,
                                                  query_embeddings, gallery_embeddings, depth):
        ranks = np.arange(1, relevant.shape[1] + 1)
        precision_at_hits = np.where(relevant, np.cumsum(relevant, axis=1) / ranks, 0.0)
        scored = n_relevant > 0
        total += (precision_at_hits[scored].sum(axis=1) / n_relevant[scored]).sum()
        n_scored += int(scored.sum())
    return float(total / n_scored) if n_scored else 0.0


def cross_domain_retrieval_scores(embedding, y, in_domain_a, k=(1, 5, 15)):
    """Cross-domain retrieval metrics of an embedding, in both directions.

    Each row of domain A queries the rows of domain B (and vice versa), ranked by cosine
    similarity; a retrieved row is relevant when it has the query's label. Computed by
    :func:`precision_at_k` (both variants) and :func:`mean_average_precision` over the whole
    ranking. UCDIR reports these (``UCDIRRetriever.retrieval_scores``).

    Parameters
    ----------
    embedding : array-like of shape (n_samples, n_features)
        Any features (L2-normalised inside the metrics); raw features give the no-learning
        baseline.
    y : array-like of shape (n_samples,)
        True labels.
    in_domain_a : array-like of bool, shape (n_samples,)
        True for the rows of domain A, False for those of domain B.
    k : sequence of int, default=(1, 5, 15)

    Returns
    -------
    scores : dict
        ``"A->B P@k"`` (standard precision at k), ``"A->B P@k (truncated)"`` (UCDIR's variant,
        denominator ``min(k, R_q)``), ``"A->B mAP"``, the same for ``"B->A"``, and the means of
        the two directions ``"P@k"`` and ``"mAP"``. All in [0, 1].
    """
    embedding = np.asarray(embedding)
    y = np.asarray(y)
    in_a = np.asarray(in_domain_a, dtype=bool)
    if not in_a.any() or in_a.all():
        raise ValueError("Retrieval needs rows of both domains.")
    cutoffs = [int(c) for c in k]
    scores = {}
    for name, queries, gallery in (("A->B", in_a, ~in_a), ("B->A", ~in_a, in_a)):
        common = dict(query_embeddings=embedding[queries], gallery_embeddings=embedding[gallery])
        standard = precision_at_k(y[queries], y[gallery], k=cutoffs, **common)
        truncated = precision_at_k(y[queries], y[gallery], k=cutoffs, variant="truncated",
                                   **common)
        for cutoff in cutoffs:
            scores[f"{name} P@{cutoff}"] = standard[cutoff]
            scores[f"{name} P@{cutoff} (truncated)"] = truncated[cutoff]
        scores[f"{name} mAP"] = mean_average_precision(y[queries], y[gallery], **common)
    for cutoff in cutoffs:
        scores[f"P@{cutoff}"] = (scores[f"A->B P@{cutoff}"] + scores[f"B->A P@{cutoff}"]) / 2
    scores["mAP"] = (scores["A->B mAP"] + scores["B->A mAP"]) / 2
    return scores
