"""Pair enumeration and the pair head of CCN's similarity network G.

The similarity network of Hsu, Lv & Kira (ICLR 2018) embeds a mini-batch, forms all ``B^2``
ordered pairs of embeddings (self-pairs included) and classifies each pair as similar (same
class) or dissimilar with a small head ``Linear(2d, 4d) -> BN -> ReLU -> Linear(4d, 2)``. The
pair ``(a, b)`` is the concatenation ``[h_b ; h_a]``, row ``a * B + b`` of the authors'
``PairEnum``.

:class:`PairHead` computes exactly that head without materialising the ``(B^2, 2d)`` pair
features: the first linear layer applied to ``[h_b ; h_a]`` is ``W_1 h_b + W_2 h_a + c``, so two
``(B, d) @ (d, 4d)`` products and a broadcast sum give its ``(B, B, 4d)`` output, ``2d / 2B``
of the work of the enumerated product (:func:`pair_enum` keeps the explicit form as the
reference).
"""

import torch
from torch import nn

__all__ = ["PairHead", "pair_enum", "pair_probabilities", "similarity_targets"]


def pair_enum(x):
    """All ``B^2`` ordered pairs of the rows of ``x`` as ``(B^2, 2d)`` concatenations.

    Row ``a * B + b`` is ``[x_b ; x_a]`` (the authors' ``PairEnum``). ``O(B^2 d)`` memory: the
    reference form; :class:`PairHead` never builds it.
    """
    if x.dim() != 2:
        raise ValueError(f"pair_enum expects (B, d) rows, got shape {tuple(x.shape)}.")
    n = x.shape[0]
    first = x.repeat(n, 1)                        # row a * B + b -> x_b
    second = x.repeat(1, n).view(n * n, -1)      # row a * B + b -> x_a
    return torch.cat([first, second], dim=1)


def similarity_targets(y):
    """``S[a, b] = 1[y_a == y_b]`` as a float ``(B, B)`` matrix (the pair labels of G)."""
    y = torch.as_tensor(y)
    return (y[:, None] == y[None, :]).to(torch.float32)


class PairHead(nn.Module):
    """``Linear(2d, hidden) -> BatchNorm1d -> ReLU -> Linear(hidden, 2)`` on every ordered pair.

    Parameters
    ----------
    in_features : int
        Width ``d`` of one embedding.
    hidden : int or None, default=None
        Width of the hidden layer; None is ``4 d`` (the authors' choice).
    batch_norm : bool, default=True
        Batch-normalise the hidden layer over the pairs of a batch.

    Examples
    --------
    >>> import torch
    >>> head = PairHead(8)
    >>> head(torch.randn(5, 8)).shape
    torch.Size([5, 5, 2])
    """

    def __init__(self, in_features, hidden=None, *, batch_norm=True):
        super().__init__()
        self.in_features = int(in_features)
        hidden = 4 * self.in_features if hidden is None else int(hidden)
        self.fc1 = nn.Linear(2 * self.in_features, hidden)
        self.bn = nn.BatchNorm1d(hidden) if batch_norm else nn.Identity()
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(hidden, 2)

    def forward(self, first, second=None):
        """Pair logits ``(n_first, n_second, 2)``; ``[a, b]`` scores ``[second_b ; first_a]``.

        ``second`` defaults to ``first``: all ``B^2`` ordered pairs of one batch. Batch-norm (in
        training mode) normalises over every pair of the call.
        """
        second = first if second is None else second
        d = self.in_features
        weight = self.fc1.weight
        left = second @ weight[:, :d].T                           # (n_second, hidden): W_1 h_b
        right = first @ weight[:, d:].T + self.fc1.bias           # (n_first, hidden): W_2 h_a + c
        hidden = (right[:, None, :] + left[None, :, :]).reshape(-1, weight.shape[0])
        logits = self.fc2(self.relu(self.bn(hidden)))
        return logits.view(len(first), len(second), 2)

    def forward_enumerated(self, x):
        """The same logits from the explicit :func:`pair_enum` concatenation, ``(B^2, 2)``.

        Reference form (``O(B^2 d)`` memory); row ``a * B + b`` equals ``forward(x)[a, b]``.
        """
        return self.fc2(self.relu(self.bn(self.fc1(pair_enum(x)))))


def pair_probabilities(head, h, rows_per_chunk=None):
    """Yield ``(rows, P)`` blocks of the ``(n, n)`` matrix of P(similar), without gradient.

    ``P[a, b]`` is the softmax probability of class 1 of ``head(h)[a, b]``; blocks of
    ``rows_per_chunk`` rows (default: about 65,536 pairs a block) keep memory ``O(n)`` per row.
    Put ``head`` in the mode you want (eval, typically) first.

    Examples
    --------
    >>> import torch
    >>> head = PairHead(4).eval()
    >>> blocks = list(pair_probabilities(head, torch.randn(6, 4), rows_per_chunk=4))
    >>> [(rows.start, rows.stop, tuple(P.shape)) for rows, P in blocks]
    [(0, 4, (4, 6)), (4, 6, (2, 6))]
    """
    n = len(h)
    rows_per_chunk = rows_per_chunk or max(1, 65536 // max(n, 1))
    with torch.no_grad():
        for start in range(0, n, rows_per_chunk):
            rows = slice(start, min(start + rows_per_chunk, n))
            yield rows, torch.softmax(head(h[rows], h), dim=-1)[..., 1]
