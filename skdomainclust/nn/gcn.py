"""The GCN link classifier of linkage-based clustering (Wang et al., CVPR 2019), on masked batches.

Each layer is ``X <- ReLU([X || A X] W + b)`` with ``A`` the row-normalised adjacency of an
instance pivot subgraph (:mod:`skdomainclust.nn.pivot_graph`); a small head classifies the
embeddings of the hop-1 nodes into "linked to the pivot" or not. Subgraphs of a batch have
different sizes and are zero-padded to a common one; the input batch-norm computes its
statistics over the real nodes only (the reference code lets the padding zeros pull them
towards 0), and padding rows are kept at zero after every layer.
"""

import torch
from torch import nn

__all__ = ["GraphConv", "LinkGCN", "MaskedBatchNorm1d"]


class MaskedBatchNorm1d(nn.Module):
    """``BatchNorm1d`` over the last dimension of ``(B, M, d)`` inputs, counting masked rows only.

    Behaves like :class:`torch.nn.BatchNorm1d` on the real rows (biased variance to normalise,
    unbiased variance in the running estimate, running statistics in eval mode); masked rows
    come out as zeros.

    Parameters
    ----------
    num_features : int
    eps : float
    momentum : float
    affine : bool
        Learn a scale and a shift (the reference GCN normalises its input without them).
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False):
        super().__init__()
        self.num_features = int(num_features)
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features))
            self.bias = nn.Parameter(torch.zeros(num_features))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x, mask=None):
        if mask is None:
            mask = torch.ones(x.shape[:-1], dtype=torch.bool, device=x.device)
        weights = mask.to(x.dtype).unsqueeze(-1)
        if self.training:
            count = weights.sum()
            if count < 2:
                raise ValueError("MaskedBatchNorm1d needs at least two real rows in training.")
            mean = (x * weights).sum(dim=tuple(range(x.dim() - 1))) / count
            centred = (x - mean) * weights
            var = (centred ** 2).sum(dim=tuple(range(x.dim() - 1))) / count
            with torch.no_grad():
                unbiased = var * count / (count - 1)
                self.running_mean.lerp_(mean.detach(), self.momentum)
                self.running_var.lerp_(unbiased.detach(), self.momentum)
        else:
            mean, var = self.running_mean, self.running_var
        out = (x - mean) * torch.rsqrt(var + self.eps)
        if self.affine:
            out = out * self.weight + self.bias
        return out * weights

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}")


class GraphConv(nn.Module):
    """One GCN layer: ``ReLU([X || A X] W + b)``, padding rows zeroed.

    Parameters
    ----------
    in_features, out_features : int
    """

    def __init__(self, in_features, out_features):
        super().__init__()
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.linear = nn.Linear(2 * self.in_features, self.out_features)
        nn.init.xavier_uniform_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x, adjacency, mask=None):
        out = torch.relu(self.linear(torch.cat([x, torch.bmm(adjacency, x)], dim=-1)))
        if mask is not None:
            out = out * mask.unsqueeze(-1).to(out.dtype)
        return out

    def extra_repr(self):
        return f"{self.in_features} -> {self.out_features}"


class LinkGCN(nn.Module):
    """GCN over instance pivot subgraphs that scores the links (pivot, hop-1 node).

    Parameters
    ----------
    in_features : int
        Width of the node features (pivot-subtracted embeddings).
    hidden_dims : sequence of int
        Width of each graph-convolution layer (the reference: 512, 512, 256, 256).

    Examples
    --------
    >>> import torch
    >>> gcn = LinkGCN(8, hidden_dims=(16, 16))
    >>> x, A = torch.randn(2, 5, 8), torch.full((2, 5, 5), 0.25)
    >>> gcn(x, A, torch.ones(2, 5, dtype=torch.bool), k1=3).shape
    torch.Size([2, 3, 2])
    """

    def __init__(self, in_features, hidden_dims=(512, 512, 256, 256)):
        super().__init__()
        if not hidden_dims:
            raise ValueError("LinkGCN needs at least one graph-convolution layer.")
        self.input_norm = MaskedBatchNorm1d(in_features, affine=False)
        widths = [int(in_features), *map(int, hidden_dims)]
        self.layers = nn.ModuleList(GraphConv(a, b) for a, b in zip(widths[:-1], widths[1:]))
        out = widths[-1]
        self.classifier = nn.Sequential(nn.Linear(out, out), nn.PReLU(out), nn.Linear(out, 2))

    def forward(self, x, adjacency, mask, k1, *, return_links=False):
        """Link logits of the hop-1 nodes (slots ``1..k1``): shape (B, k1, 2).

        With ``return_links``, also the hop-1 nodes' last-layer embeddings, shape
        (B, k1, hidden_dims[-1]): the representation of each link the head classifies.
        """
        x = self.input_norm(x, mask)
        for layer in self.layers:
            x = layer(x, adjacency, mask)
        hop1 = x[:, 1:1 + k1]
        logits = self.classifier(hop1.reshape(-1, hop1.shape[-1])).reshape(*hop1.shape[:2], 2)
        return (logits, hop1) if return_links else logits
