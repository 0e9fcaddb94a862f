"""Pseudo-label propagation over scored links (Wang et al., CVPR 2019, ``utils/graph.py``).

Clusters are connected components of the link graph under a rising score threshold: start with
every link (threshold = the lowest score), keep the components of at most ``max_size`` nodes,
raise the threshold on what remains (``th <- th + (1 - th) * step``) and repeat until no component
is too large. The reference is a recursive pure-Python BFS; here every round is one
``scipy.sparse.csgraph.connected_components`` call over the links still in play, and links whose
nodes are settled are dropped, so a round costs O(remaining nodes + links).
"""

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import breadth_first_order, connected_components

from ._labels import number_by_first_member

__all__ = ["attach_singletons", "pool_edge_scores", "propagate_labels"]


def pool_edge_scores(edges, scores, *, pool="avg"):
    """Merge directed scored links into undirected ones.

    Parameters
    ----------
    edges : array-like of int, shape (n_edges, 2)
    scores : array-like of float, shape (n_edges,)
    pool : {"avg", "max", "min"}
        How the scores of ``(p, q)`` and ``(q, p)`` (and of repeated links) combine. The
        reference averages each new duplicate into the running value; "avg" here is the plain
        mean of all duplicates (the same for the usual pair of directions).

    Returns
    -------
    edges : ndarray of int64, shape (n_links, 2)
        Each link once, smaller id first, sorted; self-links dropped.
    scores : ndarray of float64, shape (n_links,)
    """
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(edges) != len(scores):
        raise ValueError(f"{len(edges)} edges but {len(scores)} scores.")
    if pool not in ("avg", "max", "min"):
        raise ValueError(f"pool must be 'avg', 'max' or 'min', got {pool!r}.")
    keep = edges[:, 0] != edges[:, 1]
    edges, scores = np.sort(edges[keep], axis=1), scores[keep]
    if len(edges) == 0:
        return edges, scores
    width = int(edges.max()) + 1
    keys = edges[:, 0] * width + edges[:, 1]
    unique_keys, inverse = np.unique(keys, return_inverse=True)
    if pool == "avg":
        pooled = np.bincount(inverse, weights=scores) / np.bincount(inverse)
    elif pool == "max":
        pooled = np.full(len(unique_keys), -np.inf)
        np.maximum.at(pooled, inverse, scores)
    else:
        pooled = np.full(len(unique_keys), np.inf)
        np.minimum.at(pooled, inverse, scores)
    return np.stack([unique_keys // width, unique_keys % width], axis=1), pooled


def _components(n, u, v):
    graph = coo_matrix((np.ones(len(u), dtype=np.int8), (u, v)), shape=(n, n)).tocsr()
    return connected_components(graph, directed=False)[1]


def _split_in_chunks(n, u, v, max_size):
    """Cut each component into BFS-ordered chunks of at most ``max_size`` nodes (last resort)."""
    graph = coo_matrix((np.ones(len(u), dtype=np.int8), (u, v)), shape=(n, n)).tocsr()
    graph = graph + graph.T
    comp = connected_components(graph, directed=False)[1]
    labels = np.empty(n, dtype=np.int64)
    next_label = 0
    for c in range(comp.max() + 1):
        start = int(np.flatnonzero(comp == c)[0])
        order = breadth_first_order(graph, start, directed=False, return_predecessors=False)
        for chunk in range(0, len(order), max_size):
            labels[order[chunk:chunk + max_size]] = next_label
            next_label += 1
    return labels


def propagate_labels(edges, scores, n_nodes, *, max_size=900, step=0.6, start_threshold=None,
                     pool="avg"):
    """Cluster labels by link propagation under a rising threshold.

    Parameters
    ----------
    edges : array-like of int, shape (n_edges, 2)
        Scored links between node ids in ``[0, n_nodes)`` (directions and repeats are pooled).
    scores : array-like of float, shape (n_edges,)
        Link scores in [0, 1] (higher: more likely the same cluster).
    n_nodes : int
        Number of nodes; nodes without links become singleton clusters.
    max_size : int
        Largest cluster size allowed; larger components are split by raising the threshold.
    step : float in (0, 1]
        Threshold increase ``th <- th + (1 - th) * step`` per round.
    start_threshold : float or None
        First threshold; None uses the lowest link score (the reference: no link is cut in
        the first round).
    pool : {"avg", "max", "min"}
        How the two directions of a link are combined, see :func:`pool_edge_scores`.

    Returns
    -------
    labels : ndarray of int64, shape (n_nodes,)
        Cluster ids ``0..C-1``, numbered by each cluster's smallest node id.

    Notes
    -----
    Scores saturate: a float score of exactly 1.0 survives every threshold, so a component
    that is still too large once the threshold reaches 1.0 is cut into connected chunks of
    ``max_size`` nodes in breadth-first order.

    Examples
    --------
    >>> edges = [[0, 1], [1, 2], [2, 3], [3, 4]]
    >>> propagate_labels(edges, [0.9, 0.95, 0.2, 0.9], 6, max_size=3)
    array([0, 0, 0, 1, 1, 2])
    """
    n_nodes = int(n_nodes)
    max_size = int(max_size)
    if max_size < 1:
        raise ValueError(f"max_size must be >= 1, got {max_size}.")
    if not 0 < step <= 1:
        raise ValueError(f"step must be in (0, 1], got {step}.")
    edges, scores = pool_edge_scores(edges, scores, pool=pool)
    if len(edges) and (edges.min() < 0 or edges.max() >= n_nodes):
        raise ValueError(f"edge ids must be in [0, {n_nodes}).")
    labels = np.full(n_nodes, -1, dtype=np.int64)
    next_label = 0
    alive = np.arange(n_nodes)  # nodes not yet settled, as global ids
    u, v, s = edges[:, 0], edges[:, 1], scores
    th = (float(s.min()) if len(s) else 0.0) if start_threshold is None else float(start_threshold)
    while len(alive):
        # Relabel the remaining nodes 0..m-1 so each round costs O(remaining), not O(n_nodes).
        local = np.full(n_nodes, -1, dtype=np.int64)
        local[alive] = np.arange(len(alive))
        cut = s >= th
        comp = _components(len(alive), local[u[cut]], local[v[cut]])
        sizes = np.bincount(comp)
        small = sizes[comp] <= max_size
        if th >= 1.0 and not small.all():
            # The threshold cannot rise any further: cut what is left into chunks.
            rest = ~small
            sub = np.full(len(alive), -1, dtype=np.int64)
            sub[rest] = np.arange(rest.sum())
            uu, vv = local[u[cut]], local[v[cut]]
            inside = rest[uu] & rest[vv]
            chunk = _split_in_chunks(int(rest.sum()), sub[uu[inside]], sub[vv[inside]], max_size)
            comp = comp.copy()
            comp[rest] = comp.max() + 1 + chunk
            small[:] = True
        settled = alive[small]
        _, new_ids = np.unique(comp[small], return_inverse=True)
        labels[settled] = next_label + new_ids
        next_label += int(new_ids.max()) + 1 if len(new_ids) else 0
        alive = alive[~small]
        if not len(alive):
            break
        # Drop the links that touch a settled node, and the ones already below the threshold.
        still = np.zeros(n_nodes, dtype=bool)
        still[alive] = True
        keep = still[u] & still[v] & cut
        u, v, s = u[keep], v[keep], s[keep]
        raised = th + (1.0 - th) * step
        th = raised if raised > th else 1.0  # float rounding could stall just below 1
    # Number clusters by their smallest member for a deterministic, order-free labelling.
    return number_by_first_member(labels)


def attach_singletons(edges, scores, labels, *, max_size=None, pool="avg"):
    """Move every singleton cluster into the cluster of its best-scored link.

    Propagation leaves a node alone when all its links were cut; on small targets such
    singletons are numerous and each costs pairwise recall. Here each singleton joins the
    cluster of the neighbour it has the highest link score with (its "nearest linked cluster",
    the rule ``XDCClusterer.predict`` uses for new rows). Singletons are handled from the most
    to the least confident link, and a cluster that has reached ``max_size`` takes no more.

    Parameters
    ----------
    edges, scores : the scored links given to :func:`propagate_labels`.
    labels : ndarray of int, shape (n_nodes,)
        Its output.
    max_size : int or None
        Cluster size no attachment may exceed.
    pool : {"avg", "max", "min"}

    Returns
    -------
    labels : ndarray of int64, shape (n_nodes,)
        Renumbered ``0..C-1`` by smallest member.

    Examples
    --------
    >>> edges, scores, labels = [[0, 1], [2, 1], [2, 3]], [0.9, 0.6, 0.3], np.array([0, 0, 1, 2])
    >>> attach_singletons(edges, scores, labels)  # 2 joins {0, 1}, then 3 follows 2
    array([0, 0, 0, 0])
    >>> attach_singletons(edges, scores, labels, max_size=3)  # no room left for 3
    array([0, 0, 0, 1])
    """
    labels = np.asarray(labels, dtype=np.int64).copy()
    edges, scores = pool_edge_scores(edges, scores, pool=pool)
    sizes = np.bincount(labels)
    if len(edges) == 0 or not (sizes == 1).any():
        return labels
    u = np.concatenate([edges[:, 0], edges[:, 1]])
    v = np.concatenate([edges[:, 1], edges[:, 0]])
    s = np.concatenate([scores, scores])
    lonely = sizes[labels[u]] == 1
    u, v, s = u[lonely], v[lonely], s[lonely]
    # Best link of each singleton: sort by (node, -score) and take the first of each node.
    order = np.lexsort((-s, u))
    u, v, s = u[order], v[order], s[order]
    first = np.flatnonzero(np.r_[True, u[1:] != u[:-1]])
    u, v, s = u[first], v[first], s[first]
    sizes = sizes.copy()
    limit = np.inf if max_size is None else int(max_size)
    for i in np.argsort(-s, kind="stable"):
        node, other = u[i], v[i]
        target = labels[other]
        if target == labels[node] or sizes[target] >= limit:
            continue
        sizes[labels[node]] -= 1
        labels[node] = target
        sizes[target] += 1
    return number_by_first_member(labels)
