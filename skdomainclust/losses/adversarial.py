"""Domain-adversarial loss (DANN, Ganin & Lempitsky 2015), generic over the domain classifier.

The classifier's input goes through a gradient-reversal layer
(:func:`skdomainclust.nn.grad_reverse`) before it, so minimising this loss trains the domain
classifier to tell the domains apart and, through the reversed gradient, the encoder to make
them indistinguishable. The loss itself is plain cross-entropy on "is this row from the source".
"""

import torch
import torch.nn.functional as F

__all__ = ["domain_adversarial_loss"]


def domain_adversarial_loss(domain_logits, is_source, *, balanced=True):
    """Cross-entropy of a domain classifier that predicts whether each row is a source row.

    Parameters
    ----------
    domain_logits : Tensor of shape (n,) or (n, 1) or (n, 2)
        One logit per row for "source" (binary), or two logits ``[target, source]``.
    is_source : BoolTensor of shape (n,)
        The true domain of each row.
    balanced : bool
        Average the source rows' and the target rows' losses separately, then average the two,
        so that unequal numbers of source and target rows in a batch weigh the domains equally.
        Otherwise the mean over all rows.

    Returns
    -------
    Tensor
        A scalar.

    Examples
    --------
    >>> import torch
    >>> logits = torch.tensor([[0.0, 5.0], [5.0, 0.0]])
    >>> float(domain_adversarial_loss(logits, torch.tensor([True, False]))) < 0.01
    True
    """
    is_source = torch.as_tensor(is_source, device=domain_logits.device).bool().reshape(-1)
    if domain_logits.shape[0] != is_source.shape[0]:
        raise ValueError(
            f"domain_logits has {domain_logits.shape[0]} rows but is_source has "
            f"{is_source.shape[0]}."
        )
    if domain_logits.dim() == 2 and domain_logits.shape[1] == 2:
        per_row = F.cross_entropy(domain_logits, is_source.long(), reduction="none")
    elif domain_logits.dim() == 1 or (domain_logits.dim() == 2 and domain_logits.shape[1] == 1):
        per_row = F.binary_cross_entropy_with_logits(
            domain_logits.reshape(-1), is_source.to(domain_logits.dtype), reduction="none")
    else:
        raise ValueError(
            "domain_logits must have shape (n,), (n, 1) or (n, 2), got "
            f"{tuple(domain_logits.shape)}."
        )
    if not balanced:
        return per_row.mean()
    terms = [per_row[rows].mean() for rows in (is_source, ~is_source) if rows.any()]
    return torch.stack(terms).mean()
