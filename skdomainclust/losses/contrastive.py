"""Contrastive and prototype losses of UCDIR (Hu & Lee, ECCV 2022).

Pure functions on tensors. Embeddings (queries ``q``, keys ``k``, memory-bank rows, prototypes)
are L2-normalised by the caller. A memory bank holds one embedding per training row of a
domain; it is state, so it never carries gradient here (only ``q`` does).

- :func:`instance_contrastive_loss`: InfoNCE of each query against its key (positive) and
  every other row of its domain's bank (negatives).
- :func:`cluster_contrastive_loss`: in-domain cluster-wise contrast, every bank row of the
  query's k-means cluster is a positive, with per-row weights (the prototype-confidence filter
  of :func:`prototype_confidence`).
- :func:`prototype_entropy`: mean entropy of the soft assignment of queries to prototypes.
- :func:`distance_of_distance_loss`: the distance between the in-batch distance matrices of
  the soft assignments to two prototype sets (cross-domain semantic consistency).

Every log-sum-exp goes through ``torch.logsumexp`` / ``log_softmax`` (stable at any
temperature), and the pairwise terms are matrix products: ``(B, N)`` for a bank of ``N`` rows,
``(B, K)`` for ``K`` prototypes, ``(B, B)`` for the distance-of-distance.
"""

import torch
import torch.nn.functional as F

__all__ = [
    "cluster_contrastive_loss",
    "distance_of_distance_loss",
    "instance_contrastive_loss",
    "prototype_confidence",
    "prototype_distance_matrix",
    "prototype_entropy",
]


def _check_2d(name, tensor):
    if tensor.dim() != 2:
        raise ValueError(f"{name} must be 2-D, got shape {tuple(tensor.shape)}.")


def _similarities(q, bank, given):
    """``q @ bank.T`` (the bank never carries gradient), or the caller's copy of it."""
    if given is None:
        return q @ bank.detach().t()
    if given.shape != (len(q), len(bank)):
        raise ValueError(f"similarities must have shape {(len(q), len(bank))} (q rows, bank "
                         f"rows), got {tuple(given.shape)}.")
    return given


def instance_contrastive_loss(q, k, bank, index, temperature=0.2, *, similarities=None):
    """InfoNCE of queries against their keys and the other rows of a memory bank.

    ``L = mean_i CE([q_i.k_i, {q_i.M_j}_{j != index_i}] / temperature, 0)``: the positive is
    the key of the same row (another view through the momentum encoder); the negatives are all
    bank rows but the row's own slot, which is masked out (it holds the row itself).

    Parameters
    ----------
    q : Tensor of shape (B, D)
        Queries (with gradient).
    k : Tensor of shape (B, D)
        Keys of the same rows (no gradient needed).
    bank : Tensor of shape (N, D)
        Memory bank of the rows' domain.
    index : LongTensor of shape (B,)
        Bank slot of each row.
    temperature : float, default=0.2
    similarities : Tensor of shape (B, N) or None, default=None
        ``q @ bank.T`` when the caller already has it (with ``q``'s gradient): UCDIR's step
        computes it once for this loss and :func:`cluster_contrastive_loss`, the largest
        product of the step. None computes it here.

    Returns
    -------
    loss : scalar Tensor
    """
    _check_2d("q", q)
    _check_2d("bank", bank)
    if q.shape != k.shape:
        raise ValueError(f"q and k must have one shape, got {tuple(q.shape)} and "
                         f"{tuple(k.shape)}.")
    positive = (q * k.detach()).sum(dim=1, keepdim=True)
    negatives = _similarities(q, bank, similarities)
    rows = torch.arange(len(q), device=q.device)
    negatives = negatives.index_put((rows, index), negatives.new_tensor(float("-inf")))
    logits = torch.cat([positive, negatives], dim=1) / temperature
    target = torch.zeros(len(q), dtype=torch.long, device=q.device)
    return F.cross_entropy(logits, target)


def prototype_confidence(k, prototypes, labels, temperature=0.2):
    """Probability of each row's own cluster under ``softmax(k . prototypes^T / temperature)``.

    UCDIR keeps a row in the cluster-wise loss only when this exceeds a threshold (0.2): rows
    whose key sits far from their k-means prototype are likely mis-clustered.

    Parameters
    ----------
    k : Tensor of shape (B, D)
        Keys.
    prototypes : Tensor of shape (K, D)
        L2-normalised k-means centres of the rows' domain.
    labels : LongTensor of shape (B,)
        k-means cluster of each row.
    temperature : float, default=0.2

    Returns
    -------
    Tensor of shape (B,), in [0, 1], without gradient.
    """
    with torch.no_grad():
        log_p = F.log_softmax(k @ prototypes.t() / temperature, dim=1)
        return log_p.gather(1, labels[:, None]).squeeze(1).exp()


def cluster_contrastive_loss(q, bank, bank_labels, labels, weights=None, temperature=0.2,
                             n_clusters=None, *, similarities=None):
    """In-domain cluster-wise contrastive loss of UCDIR.

    For query ``i`` with cluster ``c_i`` and positives ``P_i = {j : bank_labels_j = c_i}``
    (which include the row's own slot)::

        l_i = (1/|P_i|) sum_{j in P_i} q_i.M_j / t  -  log sum_{j'} exp(q_i.M_j' / t)
        L   = -sum_i w_i l_i / (sum_i w_i + 1e-8)

    The log-sum-exp runs over the whole bank. The positive term is computed from per-cluster
    sums of bank rows, ``q_i . S_{c_i} / |P_i|`` with ``S_c = sum_{j: c(j)=c} M_j``, so the
    only ``(B, N)`` tensor is the one of the log-sum-exp.

    Parameters
    ----------
    q : Tensor of shape (B, D)
        Queries (with gradient).
    bank : Tensor of shape (N, D)
        Memory bank of the queries' domain.
    bank_labels : LongTensor of shape (N,)
        k-means cluster of every bank row.
    labels : LongTensor of shape (B,)
        Cluster of each query's row (``bank_labels[index]``).
    weights : Tensor of shape (B,) or None
        Per-row weights, e.g. the 0/1 confidence filter; None weights every row 1.
    temperature : float, default=0.2
    n_clusters : int or None
        Number of clusters (None: inferred from the labels).
    similarities : Tensor of shape (B, N) or None, default=None
        ``q @ bank.T`` when the caller already has it (see
        :func:`instance_contrastive_loss`). None computes it here.

    Returns
    -------
    loss : scalar Tensor
        0 (with a graph) when every weight is 0.
    """
    _check_2d("q", q)
    _check_2d("bank", bank)
    bank = bank.detach()
    if n_clusters is None:
        n_clusters = int(torch.maximum(bank_labels.max(), labels.max())) + 1
    logits = _similarities(q, bank, similarities) / temperature
    log_normaliser = torch.logsumexp(logits, dim=1)
    sums = torch.zeros((n_clusters, bank.shape[1]), dtype=bank.dtype, device=bank.device)
    sums.index_add_(0, bank_labels, bank)
    counts = torch.bincount(bank_labels, minlength=n_clusters).to(q.dtype)
    positive = (q * sums[labels]).sum(dim=1) / (temperature * counts[labels].clamp_min(1.0))
    per_row = positive - log_normaliser
    if weights is None:
        weights = torch.ones_like(per_row)
    weights = weights.to(per_row.dtype).detach()
    return -(weights * per_row).sum() / (weights.sum() + 1e-8)


def prototype_entropy(q, prototypes, temperature=0.1):
    """Mean entropy of ``softmax(q . prototypes^T / temperature)`` over the rows of ``q``.

    UCDIR minimises it for queries of each domain against the prototypes of both domains
    (in-domain and cross-domain self-entropy), pulling every row towards one prototype.

    Parameters
    ----------
    q : Tensor of shape (B, D)
    prototypes : Tensor of shape (K, D)
    temperature : float, default=0.1

    Returns
    -------
    entropy : scalar Tensor, in [0, log K]
    """
    log_p = F.log_softmax(q @ prototypes.t() / temperature, dim=1)
    return -(log_p.exp() * log_p).sum(dim=1).mean()


def prototype_distance_matrix(q, prototypes, temperature=0.01):
    """``D = 1 - N(P) N(P)^T`` with ``P = softmax(q . prototypes^T / temperature)``.

    ``N`` scales every row to unit L2 norm, so ``D_ij`` is the cosine distance between the
    soft assignments of rows ``i`` and ``j``. Returns a ``(B, B)`` tensor.
    """
    assignment = F.softmax(q @ prototypes.t() / temperature, dim=1)
    unit = F.normalize(assignment, dim=1)
    return 1.0 - unit @ unit.t()


def distance_of_distance_loss(q, prototypes_a, prototypes_b, temperature=0.01, eps=1e-6):
    """UCDIR's distance-of-distance loss for queries ``q`` and two prototype sets.

    ``D^A`` and ``D^B`` are the :func:`prototype_distance_matrix` of ``q`` against the
    prototypes of domain A and of domain B; the loss is the mean over rows of
    ``||D^A_i - D^B_i + eps||^2`` (``F.pairwise_distance`` squared, as in the authors' code):
    two rows close in their assignment to one domain's prototypes must be close in their
    assignment to the other's. Both sets must have the same number of prototypes.

    Parameters
    ----------
    q : Tensor of shape (B, D)
    prototypes_a, prototypes_b : Tensor of shape (K, D)
    temperature : float, default=0.01
        The authors hard-code 0.01.
    eps : float, default=1e-6

    Returns
    -------
    loss : scalar Tensor
    """
    if prototypes_a.shape != prototypes_b.shape:
        raise ValueError(
            "the two prototype sets must have the same shape (the same number of clusters), "
            f"got {tuple(prototypes_a.shape)} and {tuple(prototypes_b.shape)}."
        )
    dist_a = prototype_distance_matrix(q, prototypes_a, temperature)
    dist_b = prototype_distance_matrix(q, prototypes_b, temperature)
    return (F.pairwise_distance(dist_a, dist_b, p=2.0, eps=eps) ** 2).mean()
