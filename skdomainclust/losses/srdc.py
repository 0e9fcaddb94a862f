"""Losses of SRDC (Tang, Chen & Jia, CVPR 2020): structurally regularised deep clustering.

Everything works on log-probabilities ``log_p`` of shape ``(B, K)``: at the output level they
are ``log_softmax(logits)``; at a feature level they are the log of the Student-t soft
assignment of features to learnable centres (:func:`student_t_log_assignment`). The same
cross-entropy against the auxiliary distribution then serves both (Tang, Chen & Jia, CVPR
2020).
"""

import math

import torch
import torch.nn.functional as F

from ..nn.kmeans import squared_distances

__all__ = [
    "auxiliary_distribution",
    "source_classification_loss",
    "source_weights",
    "srdc_lambda",
    "student_t_kernel",
    "student_t_log_assignment",
    "target_clustering_loss",
    "target_distribution",
]


def student_t_kernel(features, centres, alpha=1.0):
    """Student-t kernel ``k_ik = (1 + |z_i - mu_k|^2 / alpha) ** (-(alpha + 1) / 2)``.

    Parameters
    ----------
    features : Tensor of shape (B, d)
    centres : Tensor of shape (K, d)
    alpha : float, default=1.0
        Degrees of freedom.

    Returns
    -------
    Tensor of shape (B, K), values in (0, 1].
    """
    return torch.exp(_log_kernel(features, centres, alpha))


def _log_kernel(features, centres, alpha):
    d2 = squared_distances(features, centres)
    return -(alpha + 1.0) / 2.0 * torch.log1p(d2 / alpha)


def student_t_log_assignment(features, centres, alpha=1.0, normalize="softmax"):
    """Log of the soft assignment of features to centres through the Student-t kernel.

    ``normalize="softmax"`` gives ``log softmax_k(k_ik)``: the kernel values are used as
    logits, which is SRDC's eq. 5 as its code computes it (``embed_softmax=True``).
    ``normalize="sum"`` gives ``log(k_ik / sum_k' k_ik')``, the DEC assignment.

    Parameters
    ----------
    features : Tensor of shape (B, d)
    centres : Tensor of shape (K, d)
    alpha : float, default=1.0
    normalize : {"softmax", "sum"}, default="softmax"

    Returns
    -------
    log_p : Tensor of shape (B, K)
    """
    log_kernel = _log_kernel(features, centres, alpha)
    if normalize == "softmax":
        return F.log_softmax(torch.exp(log_kernel), dim=1)
    if normalize == "sum":
        return F.log_softmax(log_kernel, dim=1)
    raise ValueError(f"normalize must be 'softmax' or 'sum', got {normalize!r}.")


def auxiliary_distribution(p):
    """SRDC's auxiliary distribution, computed over the rows of one mini-batch.

    ``q_ik = (p_ik / sqrt(sum_i' p_i'k)) / sum_k' (p_ik' / sqrt(sum_i' p_i'k'))``: the closed-form
    minimiser of ``KL(q || p)`` plus the cluster-balance term. It sharpens each row and
    down-weights clusters that hold much of the batch's mass. The gradient flows through it
    (detach the input to stop it).

    Parameters
    ----------
    p : Tensor of shape (B, K)
        Soft assignments (rows sum to 1, entries > 0).

    Returns
    -------
    q : Tensor of shape (B, K)
    """
    q = p / p.sum(dim=0, keepdim=True).sqrt()
    return q / q.sum(dim=1, keepdim=True)


def target_distribution(p, pseudo_labels=None, beta=1.0):
    """The soft target ``q`` of the target clustering loss.

    ``q = (1 - beta) onehot(pseudo_labels) + beta aux(p)``; with ``beta = 1`` (the default, and
    the authors' setting) the pseudo-labels play no role, with ``beta = 0`` only they do.

    Parameters
    ----------
    p : Tensor of shape (B, K)
    pseudo_labels : LongTensor of shape (B,) or None
        k-means labels of the rows; required when ``beta < 1``.
    beta : float, default=1.0
    """
    if beta >= 1.0:
        return auxiliary_distribution(p)
    if pseudo_labels is None:
        raise ValueError("pseudo_labels are required when beta < 1.")
    onehot = F.one_hot(pseudo_labels, p.shape[1]).to(p.dtype)
    if beta <= 0.0:
        return onehot
    return (1.0 - beta) * onehot + beta * auxiliary_distribution(p)


def target_clustering_loss(log_p, pseudo_labels=None, beta=1.0, *, detach_target=False):
    """``-(1/B) sum_i sum_k q_ik log p_ik`` with ``q`` from :func:`target_distribution`.

    Parameters
    ----------
    log_p : Tensor of shape (B, K)
        Log soft assignments of a target mini-batch.
    pseudo_labels : LongTensor of shape (B,) or None
        k-means pseudo-labels (used when ``beta < 1``).
    beta : float, default=1.0
    detach_target : bool, default=False
        Stop the gradient through ``q``. The authors' code does not, so the default lets it
        flow.

    Returns
    -------
    Scalar tensor.
    """
    p = log_p.exp()
    q = target_distribution(p.detach() if detach_target else p, pseudo_labels, beta)
    return -(q * log_p).sum(dim=1).mean()


def source_classification_loss(log_p, labels, weights=None):
    """Weighted negative log-likelihood ``-(1/B) sum_j w_j log p_{j, y_j}``.

    Parameters
    ----------
    log_p : Tensor of shape (B, K)
    labels : LongTensor of shape (B,)
    weights : Tensor of shape (B,) or None
        Per-row weights (soft source selection); None weighs every row 1.
    """
    picked = log_p.gather(1, labels[:, None]).squeeze(1)
    if weights is not None:
        picked = weights * picked
    return -picked.mean()


def source_weights(features, labels, centres, eps=1e-6):
    """Soft source selection weights ``w_j = (1 + cos(z_j, c_{y_j})) / 2``.

    Parameters
    ----------
    features : Tensor of shape (n, d)
        Source features (SRDC: the first clustered level).
    labels : LongTensor of shape (n,)
        Source class of each row.
    centres : Tensor of shape (K, d)
        Target cluster centres (SRDC: the k-means centres of the target features).
    eps : float, default=1e-6
        Added to the product of norms, as in the authors' ``source_select``.

    Returns
    -------
    weights : Tensor of shape (n,), values in [0, 1].
    """
    chosen = centres[labels]
    dots = (features * chosen).sum(dim=1)
    norms = features.norm(dim=1) * chosen.norm(dim=1)
    return 0.5 * (1.0 + dots / (norms + eps))


def srdc_lambda(epoch, max_epochs):
    """The ramp ``2 / (1 + exp(-10 e / E)) - 1`` of the authors' code (0 at epoch 0).

    Parameters
    ----------
    epoch : int
        0-based epoch.
    max_epochs : int
    """
    progress = epoch / max(int(max_epochs), 1)
    return 2.0 / (1.0 + math.exp(-10.0 * progress)) - 1.0
