"""Instance pivot subgraphs (IPS) of the linkage-based GCN (Wang et al., CVPR 2019), vectorised.

For a pivot ``p`` the subgraph holds ``p``, its ``k1`` nearest neighbours (hop 1) and the ``k2``
nearest neighbours of every hop-1 node (hop 2), deduplicated. Two nodes are linked when one is
among the ``u`` nearest neighbours of the other (symmetric, no self-loops), and the adjacency is
row-normalised. The GCN then classifies the (pivot, hop-1 node) links.

The reference code builds one subgraph at a time in Python with sets and dictionaries; here a
whole batch of pivots is built at once with tensor operations on the device:

- the k-nearest-neighbour table comes from batched matrix products and ``topk`` with the
  diagonal masked out, so every row holds exactly ``k`` distinct neighbours other than itself
  (ties or duplicated points cannot shrink or grow a subgraph);
- deduplication is a stable sort per row (the first occurrence of a node is kept, so the pivot
  is always slot 0 and its hop-1 nodes slots ``1..k1``), followed by compaction that moves the
  padding to the end;
- adjacency lookups are ``searchsorted`` against each row's sorted node ids, never a Python loop.

Node ids are row numbers of the feature matrix the kNN table was built on. A pivot can also be a
query outside that matrix (``predict`` on new rows): pass its own neighbour list as
``pivot_knn``; it is then given the id ``n`` (one past the last row).
"""

from dataclasses import dataclass

import torch

__all__ = [
    "PivotSubgraphs",
    "build_pivot_subgraphs",
    "hop1_link_labels",
    "knn_search",
    "knn_graph",
    "pivot_node_features",
    "relative_node_features",
]


def knn_search(queries, database, k, *, exclude_self=False, batch_size=2048):
    """Indices of the ``k`` most similar ``database`` rows of each query (inner product).

    Parameters
    ----------
    queries : Tensor of shape (n_queries, d)
    database : Tensor of shape (n, d)
        L2-normalise both for cosine similarity.
    k : int
        Number of neighbours; at most ``n`` (``n - 1`` with ``exclude_self``).
    exclude_self : bool
        ``queries`` *is* ``database``: row ``i`` never lists itself, even when duplicated points
        tie with it.
    batch_size : int
        Queries per matrix product (bounds the memory to ``batch_size * n`` floats).

    Returns
    -------
    LongTensor of shape (n_queries, k)
        Distinct indices, most similar first.
    """
    n = database.shape[0]
    limit = n - 1 if exclude_self else n
    if not 0 < k <= limit:
        raise ValueError(f"k must be in [1, {limit}] for {n} rows, got {k}.")
    out = []
    for start in range(0, queries.shape[0], batch_size):
        sims = queries[start:start + batch_size] @ database.T
        if exclude_self:
            rows = torch.arange(sims.shape[0], device=sims.device)
            sims[rows, rows + start] = -torch.inf
        out.append(torch.topk(sims, k, dim=1, sorted=True).indices)
    if not out:
        return torch.empty((0, k), dtype=torch.long, device=database.device)
    return torch.cat(out)


def knn_graph(features, k, *, batch_size=2048):
    """The kNN table of ``features`` against themselves: exactly ``k`` neighbours, never self."""
    return knn_search(features, features, k, exclude_self=True, batch_size=batch_size)


@dataclass
class PivotSubgraphs:
    """A batch of instance pivot subgraphs, padded to a common number of nodes.

    Attributes
    ----------
    nodes : LongTensor of shape (B, M)
        Node ids; slot 0 is the pivot, slots ``1..k1`` its hop-1 neighbours in kNN order, then
        the other hop-2 nodes in first-seen order; padding slots hold ``-1``.
    mask : BoolTensor of shape (B, M)
        Which slots are real nodes.
    adjacency : Tensor of shape (B, M, M)
        Row-normalised adjacency ``D^-1 A`` (rows of isolated or padding nodes are zero).
    k1 : int
        Number of hop-1 nodes (slots ``1..k1``).
    """

    nodes: torch.Tensor
    mask: torch.Tensor
    adjacency: torch.Tensor
    k1: int

    @property
    def pivots(self):
        return self.nodes[:, 0]

    @property
    def hop1(self):
        """Ids of the hop-1 nodes, shape (B, k1): the links the GCN scores."""
        return self.nodes[:, 1:1 + self.k1]


def build_pivot_subgraphs(knn, pivots, k1, k2, u, *, pivot_knn=None, pad_to_max=False):
    """Build the instance pivot subgraphs of a batch of pivots.

    Parameters
    ----------
    knn : LongTensor of shape (n, K)
        kNN table of the node set (from :func:`knn_graph`): distinct neighbours, no self,
        most similar first, ``K >= max(k2, u)`` (and ``K >= k1`` unless ``pivot_knn`` is given).
    pivots : LongTensor of shape (B,)
        Pivot row ids; ignored (may be None) when ``pivot_knn`` is given.
    k1, k2, u : int
        Hop-1 size, hop-2 size per hop-1 node, and the number of nearest neighbours that
        define a link.
    pivot_knn : LongTensor of shape (B, K') or None
        Neighbours (rows of ``knn``) of pivots that are *not* rows of ``knn`` (new queries),
        ``K' >= max(k1, u)``. Such pivots get the id ``n``.
    pad_to_max : bool
        Pad to ``k1 * (k2 + 1) + 1`` slots like the reference code; by default the batch is cut
        to its largest subgraph (padding is masked everywhere, so the result is the same).

    Returns
    -------
    PivotSubgraphs
    """
    n = knn.shape[0]
    device = knn.device
    if pivot_knn is None:
        pivots = torch.as_tensor(pivots, dtype=torch.long, device=device)
        pivot_neighbours = knn[pivots]
        pivot_ids = pivots
    else:
        pivot_neighbours = pivot_knn
        pivot_ids = torch.full((pivot_knn.shape[0],), n, dtype=torch.long, device=device)
    if pivot_neighbours.shape[1] < max(k1, u) or knn.shape[1] < max(k2, u):
        raise ValueError(
            f"The kNN tables are too short for k1={k1}, k2={k2}, u={u}: pivots have "
            f"{pivot_neighbours.shape[1]} neighbours, nodes {knn.shape[1]}."
        )
    B = pivot_ids.shape[0]
    hop1 = pivot_neighbours[:, :k1]
    hop2 = knn[hop1, :k2].reshape(B, k1 * k2)
    candidates = torch.cat([pivot_ids[:, None], hop1, hop2], dim=1)  # (B, 1 + k1 + k1 k2)

    # Keep the first occurrence of every id: a stable sort puts equal ids next to each other in
    # their original order, so "equal to the previous sorted id" marks the later copies.
    sorted_ids, order = torch.sort(candidates, dim=1, stable=True)
    repeat_sorted = torch.zeros_like(candidates, dtype=torch.bool)
    repeat_sorted[:, 1:] = sorted_ids[:, 1:] == sorted_ids[:, :-1]
    repeat = torch.empty_like(repeat_sorted).scatter_(1, order, repeat_sorted)
    # Compact: real nodes first in their original order, padding last.
    compact = torch.argsort(repeat.to(torch.uint8), dim=1, stable=True)
    nodes = candidates.gather(1, compact)
    mask = ~repeat.gather(1, compact)
    if not pad_to_max:
        width = int(mask.sum(1).max())
        nodes, mask = nodes[:, :width], mask[:, :width]
    nodes = nodes.masked_fill(~mask, -1)
    M = nodes.shape[1]

    # Each node's u nearest neighbours; the pivot uses its own list (it may not be in ``knn``).
    rest = nodes[:, 1:].clamp(min=0)
    neighbours = torch.cat([pivot_neighbours[:, None, :u], knn[rest, :u]], dim=1)  # (B, M, u)
    # Find each neighbour's slot by binary search in the row's sorted ids (padding sorts last:
    # it gets an id no neighbour can have).
    padded_ids = nodes.masked_fill(~mask, n + 1)
    sorted_nodes, slot_of_sorted = torch.sort(padded_ids, dim=1)
    flat = neighbours.reshape(B, M * u)
    pos = torch.searchsorted(sorted_nodes, flat).clamp(max=M - 1)
    found = (sorted_nodes.gather(1, pos) == flat).reshape(B, M, u) & mask[:, :, None]
    slots = slot_of_sorted.gather(1, pos).reshape(B, M, u)

    adjacency = torch.zeros(B, M * M, device=device)
    rows = torch.arange(M, device=device)[None, :, None] * M
    flat_index = (rows + slots).reshape(B, M * u)
    # Add, not assign: a missing neighbour lands on some slot with weight 0.
    adjacency.scatter_add_(1, flat_index, found.reshape(B, M * u).to(adjacency.dtype))
    adjacency = adjacency.reshape(B, M, M)
    adjacency = ((adjacency + adjacency.transpose(1, 2)) > 0).to(torch.float32)
    adjacency.diagonal(dim1=1, dim2=2).zero_()
    degree = adjacency.sum(2, keepdim=True).clamp(min=1.0)  # isolated rows stay zero
    return PivotSubgraphs(nodes=nodes, mask=mask, adjacency=adjacency / degree, k1=int(k1))


def pivot_node_features(node_features, graphs, pivot_features=None, *, similarity=False):
    """Node features with the pivot's subtracted, zero on padding: shape (B, M, d [+ 1]).

    Parameters
    ----------
    node_features : Tensor of shape (n, d)
        Features of the rows the node ids refer to (gradients flow through).
    graphs : PivotSubgraphs
    pivot_features : Tensor of shape (B, d) or None
        Features of the pivots when they are new queries (``pivot_knn``); None takes them from
        ``node_features``.
    similarity : bool
        Append each node's inner product with the pivot as a last channel.
    """
    nodes, mask = graphs.nodes, graphs.mask
    n = node_features.shape[0]
    centre = node_features[nodes[:, 0]] if pivot_features is None else pivot_features
    feats = node_features[nodes[:, 1:].clamp(0, n - 1)]
    return relative_node_features(torch.cat([centre[:, None], feats], dim=1), mask,
                                  similarity=similarity)


def relative_node_features(nodes, mask, *, similarity=False):
    """``x_q - x_p`` for node features ``nodes`` of shape (B, M, d) whose slot 0 is the pivot.

    Padding rows come out as zeros; with ``similarity``, ``<x_q, x_p>`` is appended as a last
    channel (the pivot's own row holds its squared norm).
    """
    centre = nodes[:, :1]
    weights = mask.unsqueeze(-1).to(nodes.dtype)
    out = (nodes - centre) * weights
    if similarity:
        out = torch.cat([out, (nodes * centre).sum(-1, keepdim=True) * weights], dim=-1)
    return out


def hop1_link_labels(labels, graphs):
    """1 where a hop-1 node has the pivot's label, else 0: LongTensor of shape (B, k1)."""
    return (labels[graphs.hop1] == labels[graphs.pivots][:, None]).long()
