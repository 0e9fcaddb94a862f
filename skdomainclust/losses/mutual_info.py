"""Mutual-information losses of IIC (Ji et al., 2019) and ACIDS (Menapace et al., 2020).

Everything here is a pure function on tensors. The joint matrices are built with one matrix
product (``(B, K)^T @ (B, K')``), never with per-sample outer products; the moving average
of a joint is returned detached so the caller can store it as state without keeping the graph.

Conventions follow the ACIDS code (``mixed_domain_network_manager.mutual_information``):

- the joint of two views is symmetrised, ``P = (S + S^T) / 2`` with ``S = sum_i p_i p'_i^T``,
  and normalised to sum to one;
- the marginals are taken from the joint *before* clamping, then the joint and each marginal
  are clamped separately to ``EPS`` (entries below it are set to it, with no gradient);
- ``MI(P) = sum_kk' P_kk' [log P_kk' - lam log P_k. - lam log P_.k']``; ``lam = 1`` is the
  mutual information itself, ``lam > 1`` adds an entropy bonus on the marginals.
"""

import torch

__all__ = [
    "EPS",
    "domain_cluster_joint",
    "ema_joint",
    "iic_loss",
    "mutual_information",
    "pivot_one_hot",
    "view_joint",
]

#: Clamping floor of the joint and of its marginals (float64 machine epsilon, as in IIC/ACIDS).
EPS = 2.220446049250313e-16


def view_joint(p, p_prime, symmetric=True):
    """Joint distribution of the cluster assignments of two views.

    Parameters
    ----------
    p, p_prime : Tensor of shape (..., B, K)
        Row-stochastic assignments of the same samples under two views; leading dimensions
        (e.g. subheads) are batched.
    symmetric : bool
        Symmetrise the joint, ``(S + S^T) / 2``.

    Returns
    -------
    Tensor of shape (..., K, K), non-negative, each joint summing to one.
    """
    if p.dim() < 2 or p.shape != p_prime.shape:
        raise ValueError(
            f"p and p_prime must be (..., B, K) of one shape, got {tuple(p.shape)} and "
            f"{tuple(p_prime.shape)}."
        )
    joint = p.transpose(-2, -1) @ p_prime
    if symmetric:
        joint = (joint + joint.transpose(-2, -1)) / 2
    return joint / joint.sum(dim=(-2, -1), keepdim=True)


def domain_cluster_joint(p, domain_index, n_domains):
    """Joint distribution of domain and cluster, ``J[d, k] = sum_{i in d} p_ik / sum_all``.

    Parameters
    ----------
    p : Tensor of shape (..., B, K)
        Cluster assignments; leading dimensions are batched.
    domain_index : LongTensor of shape (B,)
        Domain slot of each row, in ``0 .. n_domains - 1``.
    n_domains : int

    Returns
    -------
    Tensor of shape (..., n_domains, K), each joint summing to one.
    """
    membership = torch.nn.functional.one_hot(domain_index, int(n_domains)).to(p.dtype)
    joint = membership.t() @ p
    return joint / joint.sum(dim=(-2, -1), keepdim=True)


def ema_joint(joint, previous=None, alpha=0.0):
    """Moving average of a joint: ``alpha * sg(previous) + (1 - alpha) * joint``.

    The first call (``previous`` None) returns ``joint`` unchanged. The gradient flows only
    through ``(1 - alpha) * joint``; store ``result.detach()`` as the next ``previous``.
    """
    if previous is None or alpha == 0:
        return joint
    return alpha * previous.detach() + (1.0 - alpha) * joint


def mutual_information(joint, lam=1.0, eps=EPS):
    """``sum P [log P - lam log P_row - lam log P_col]`` with ACIDS' clamping.

    Parameters
    ----------
    joint : Tensor of shape (..., K, K')
        Joint distributions (non-negative, each summing to one); leading dimensions are
        batched.
    lam : float
        Weight of the marginal terms (1 gives the mutual information).
    eps : float
        Floor of the joint and of the marginals; marginals are summed before clamping.

    Returns
    -------
    Tensor of shape (...): the values to *maximise* (losses use their negative).
    """
    row = joint.sum(dim=-1, keepdim=True).clamp_min(eps)
    col = joint.sum(dim=-2, keepdim=True).clamp_min(eps)
    joint = joint.clamp_min(eps)
    return (joint * (joint.log() - lam * row.log() - lam * col.log())).sum(dim=(-2, -1))


def iic_loss(p, p_prime, previous=None, alpha=0.0, lam=1.0, eps=EPS):
    """IIC loss ``-MI(EMA(P(p, p')))`` between two views; returns ``(loss, new_ema)``.

    ``p`` and ``p_prime`` are ``(..., B, K)``; the loss has the leading shape ``(...)``.
    ``new_ema`` is detached: keep it as ``previous`` for the next batch.

    Examples
    --------
    >>> import torch
    >>> p = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> loss, _ = iic_loss(p, p)   # two perfectly agreeing balanced clusters: MI = log 2
    >>> round(-loss.item(), 4)
    0.6931
    """
    joint = ema_joint(view_joint(p, p_prime), previous, alpha)
    return -mutual_information(joint, lam=lam, eps=eps), joint.detach()


def pivot_one_hot(p, threshold=0.95):
    """Replace rows (last axis) whose largest probability is ``>= threshold`` by their one-hot.

    The replaced rows are constants (no gradient); the others keep theirs. ``p`` itself is
    never modified (FixMatch-style pivots of ACIDS' target adaptation).
    """
    top, winner = p.max(dim=-1, keepdim=True)
    one_hot = torch.zeros_like(p).scatter_(-1, winner, 1.0)
    return torch.where(top >= threshold, one_hot, p)
