"""Pairwise clustering losses of CCN: the learnable clustering objective (KCL) and MCL.

Both losses compare the cluster distributions ``p_i`` of every ordered pair ``(i, j)`` of a
mini-batch (self-pairs included) with a pairwise similarity ``s_ij`` (1 = same cluster, 0 =
different clusters), and average over the ``B^2`` pairs (Hsu, Lv & Kira, ICLR 2018; Hsu et al.,
ICLR 2019). They are computed in matrix form: the ``B x B`` matrix of pair terms comes from one
``(B, K) @ (K, B)`` product, so memory is ``O(B^2 + B K)``, never ``O(B^2 K)``.

Row and column convention: ``simi[i, j]`` is the similarity of the ordered pair whose *target*
distribution is ``p_i`` (detached) and whose *prediction* is ``p_j``. With the similarity
network's pair ``(a, b)`` (features ``[h_b ; h_a]``) this is the authors' pairing
(``PairEnum``: prediction ``p_b``, target ``p_a``).
"""

import torch

__all__ = ["pairwise_kl_matrix", "kcl_loss", "mcl_loss", "EPS"]

#: Added to both distributions before the log, without renormalising (as the authors do).
EPS = 1e-7


def _check(prob, simi, mask):
    if prob.dim() != 2:
        raise ValueError(f"prob must be (B, K) probabilities, got shape {tuple(prob.shape)}.")
    n = prob.shape[0]
    simi = torch.as_tensor(simi, device=prob.device).to(prob.dtype)
    if simi.shape != (n, n):
        raise ValueError(f"simi must be ({n}, {n}) for {n} rows, got {tuple(simi.shape)}.")
    if mask is not None:
        mask = torch.as_tensor(mask, device=prob.device).to(prob.dtype)
        if mask.shape != (n, n):
            raise ValueError(f"mask must be ({n}, {n}), got {tuple(mask.shape)}.")
    return simi, mask


def _mean(terms, mask):
    if mask is None:
        return terms.mean()
    return (terms * mask).sum() / mask.sum().clamp(min=1.0)


def pairwise_kl_matrix(prob, *, eps=EPS):
    """``KL[i, j] = KL(sg(p_i) || p_j)`` for every ordered pair of rows, shape ``(B, B)``.

    ``KL[i, j] = sum_c t_ic (log t_ic - log q_jc)`` with ``t = sg(p) + eps`` and
    ``q = p + eps``: the target ``t`` is detached, so the gradient reaches ``p_j`` only.
    One matrix product, ``O(B^2)`` memory.

    Parameters
    ----------
    prob : Tensor of shape (B, K)
        Cluster probabilities (rows of a softmax).
    eps : float
        Added to both distributions before the log.

    Returns
    -------
    Tensor of shape (B, B)
    """
    target = prob.detach() + eps
    neg_entropy = (target * target.log()).sum(dim=1, keepdim=True)  # (B, 1): sum t log t
    cross = target @ (prob + eps).log().T                             # (B, B): sum t_i log q_j
    return neg_entropy - cross


def kcl_loss(prob, simi, *, margin=2.0, mask=None, eps=EPS):
    """The learnable clustering objective (LCO, "KCL" in the authors' code).

    ``l_ij = s_ij KL_ij + (1 - s_ij) max(0, margin - KL_ij)`` with ``KL_ij`` from
    :func:`pairwise_kl_matrix`, averaged over the ``B^2`` ordered pairs (self-pairs included,
    where ``KL = 0``). Both directions of a pair are enumerated, so this is the paper's
    symmetric form ``KL(P* || Q) + KL(Q* || P)``.

    Parameters
    ----------
    prob : Tensor of shape (B, K)
        Cluster probabilities.
    simi : Tensor of shape (B, B)
        Pair similarity, 1 (same cluster) or 0 (different); values in between weigh the two
        terms linearly.
    margin : float, default=2.0
        Hinge margin ``sigma`` of dissimilar pairs.
    mask : Tensor of shape (B, B) or None
        Weight of each pair (0 ignores it); the loss is the weighted mean.
    eps : float, default=1e-7

    Returns
    -------
    Tensor
        A scalar.

    Examples
    --------
    >>> import torch
    >>> p = torch.tensor([[0.98, 0.01, 0.01], [0.01, 0.98, 0.01]])
    >>> float(kcl_loss(p, torch.eye(2))) < 0.01
    True
    """
    simi, mask = _check(prob, simi, mask)
    kl = pairwise_kl_matrix(prob, eps=eps)
    terms = simi * kl + (1.0 - simi) * torch.clamp(margin - kl, min=0.0)
    return _mean(terms, mask)


def mcl_loss(prob, simi, *, mask=None, eps=EPS):
    """Meta classification likelihood (Hsu et al., ICLR 2019).

    ``P_ij = p_i . p_j`` is the probability that rows ``i`` and ``j`` fall in the same cluster;
    ``l_ij = -[s_ij log(P_ij + eps) + (1 - s_ij) log(1 - P_ij + eps)]``, averaged over the
    ``B^2`` ordered pairs. Nothing is detached.

    Parameters
    ----------
    prob : Tensor of shape (B, K)
    simi : Tensor of shape (B, B)
        Pair similarity in [0, 1].
    mask : Tensor of shape (B, B) or None
        Weight of each pair (0 ignores it).
    eps : float, default=1e-7

    Returns
    -------
    Tensor
        A scalar.

    Examples
    --------
    >>> import torch
    >>> p = torch.tensor([[0.98, 0.01, 0.01], [0.01, 0.98, 0.01]])
    >>> float(mcl_loss(p, torch.eye(2))) < 0.05
    True
    """
    simi, mask = _check(prob, simi, mask)
    same = prob @ prob.T
    terms = -(simi * (same + eps).log() + (1.0 - simi) * (1.0 - same + eps).log())
    return _mean(terms, mask)
