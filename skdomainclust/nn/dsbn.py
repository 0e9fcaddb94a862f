"""Domain-specific batch normalisation (the DIAL layers of ACIDS, Menapace et al., 2020).

A :class:`DomainSpecificBatchNorm` keeps one affine-free batch-norm per domain *slot* (running
mean and variance per slot) and one affine transform shared by all of them: each row is
normalised with the statistics of its own domain, then scaled and shifted by the shared
``weight`` and ``bias``. ACIDS uses ``M`` source slots plus one target slot.

Any trunk with ordinary batch-norm layers becomes a domain-specific one through
:func:`convert_to_dsbn` (an :class:`~skdomainclust.nn.MLP`, a small
:class:`~skdomainclust.nn.convnet.ConvNet`, a user's encoder). Layers deep inside a
``nn.Sequential`` cannot receive extra forward arguments, so the slot of every row is set on
the layers before the forward pass with :func:`set_domain_slots` (or the
:func:`domain_slots` context manager), the way ``SyncBatchNorm`` is converted and configured.
"""

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "DomainSpecificBatchNorm",
    "convert_to_dsbn",
    "domain_slots",
    "dsbn_layers",
    "estimate_slot_statistics",
    "pool_slot_statistics",
    "set_domain_slots",
]


class DomainSpecificBatchNorm(nn.Module):
    """Batch-norm with per-domain statistics and a shared affine transform.

    Works on ``(N, C)`` and ``(N, C, *spatial)`` inputs alike. In training mode each domain's
    rows are normalised with their own batch statistics (updating that slot's running
    averages); in eval mode with the slot's running statistics.

    Parameters
    ----------
    num_features : int
        Channels ``C``.
    n_domains : int
        Number of slots (ACIDS: source domains + 1 target slot).
    eps : float, default=1e-5
    momentum : float or None, default=0.1
        Running-average factor; None is a cumulative average (as in ``nn.BatchNorm``).
    affine : bool, default=True
        Learn the shared ``weight`` and ``bias``.

    Attributes
    ----------
    running_mean, running_var : Tensor of shape (n_domains, C)
    num_batches_tracked : LongTensor of shape (n_domains,)
    slots : None, int or LongTensor of shape (N,)
        The slot of every row of the next forward pass (set by :func:`set_domain_slots`). None
        is allowed only with a single slot.

    Examples
    --------
    >>> import torch
    >>> bn = DomainSpecificBatchNorm(3, n_domains=2)
    >>> x = torch.cat([torch.randn(4, 3), 10 + torch.randn(4, 3)])
    >>> bn.slots = torch.tensor([0] * 4 + [1] * 4)
    >>> out = bn(x)
    >>> bool(out[4:].mean().abs() < 1e-5)   # the shifted domain is centred on its own
    True
    """

    def __init__(self, num_features, n_domains, eps=1e-5, momentum=0.1, affine=True):
        super().__init__()
        if int(n_domains) < 1:
            raise ValueError(f"n_domains must be >= 1, got {n_domains}.")
        self.num_features = int(num_features)
        self.n_domains = int(n_domains)
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        if affine:
            self.weight = nn.Parameter(torch.ones(self.num_features))
            self.bias = nn.Parameter(torch.zeros(self.num_features))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.register_buffer("running_mean", torch.zeros(self.n_domains, self.num_features))
        self.register_buffer("running_var", torch.ones(self.n_domains, self.num_features))
        self.register_buffer("num_batches_tracked",
                             torch.zeros(self.n_domains, dtype=torch.long))
        self.slots = None

    def reset_slot(self, slot):
        """Forget the running statistics of one slot (mean 0, variance 1, no batches)."""
        with torch.no_grad():
            self.running_mean[slot].zero_()
            self.running_var[slot].fill_(1.0)
            self.num_batches_tracked[slot].zero_()

    def copy_slot(self, source, destination):
        """Copy the running statistics of one slot into another."""
        with torch.no_grad():
            self.running_mean[destination].copy_(self.running_mean[source])
            self.running_var[destination].copy_(self.running_var[source])
            self.num_batches_tracked[destination].copy_(self.num_batches_tracked[source])

    def _normalise(self, x, slot):
        """Affine-free batch-norm of ``x`` with the statistics of ``slot``."""
        per_channel = x.numel() // max(x.shape[1], 1)
        use_batch = self.training and per_channel > 1  # one value per channel: no batch stats
        factor = 0.0
        if use_batch:
            self.num_batches_tracked[slot].add_(1)
            factor = (1.0 / float(self.num_batches_tracked[slot]) if self.momentum is None
                      else self.momentum)
        return F.batch_norm(x, self.running_mean[slot], self.running_var[slot], None, None,
                            use_batch, factor, self.eps)

    def forward(self, x):
        if x.dim() < 2 or x.shape[1] != self.num_features:
            raise ValueError(
                f"Expected (N, {self.num_features}, ...) input, got shape {tuple(x.shape)}."
            )
        slots = self.slots
        if slots is None:
            if self.n_domains != 1:
                raise RuntimeError(
                    "DomainSpecificBatchNorm with several slots needs the slot of every row: "
                    "call set_domain_slots(module, slots) before the forward pass."
                )
            slots = 0
        if isinstance(slots, torch.Tensor) and slots.dim() == 0:
            slots = int(slots)
        if isinstance(slots, int):
            out = self._normalise(x, slots)
        else:
            if len(slots) != len(x):
                raise ValueError(f"{len(slots)} slots were set for a batch of {len(x)} rows.")
            present = torch.unique(slots)
            if len(present) == 1:
                out = self._normalise(x, int(present[0]))
            else:
                # Group the rows by slot, normalise each group, and put the rows back in order.
                order = torch.argsort(slots, stable=True)
                counts = torch.bincount(slots[order], minlength=self.n_domains)
                groups = torch.split(x.index_select(0, order), counts.tolist())
                parts = [self._normalise(group, slot) for slot, group in enumerate(groups)
                         if len(group)]
                out = torch.cat(parts).index_select(0, torch.argsort(order))
        if self.affine:
            shape = (1, -1) + (1,) * (x.dim() - 2)
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out

    def extra_repr(self):
        return (f"{self.num_features}, n_domains={self.n_domains}, eps={self.eps}, "
                f"momentum={self.momentum}, affine={self.affine}")


def convert_to_dsbn(module, n_domains):
    """Replace every batch-norm layer of ``module`` by a :class:`DomainSpecificBatchNorm`.

    The shared affine starts from the layer's affine and every slot from its running
    statistics. Children are replaced in place; the (possibly new) top module is returned,
    like ``nn.SyncBatchNorm.convert_sync_batchnorm``.

    Examples
    --------
    >>> from skdomainclust.nn import MLP
    >>> net = convert_to_dsbn(MLP(8, (16,)), n_domains=3)
    >>> type(net[1]).__name__, net[1].n_domains
    ('DomainSpecificBatchNorm', 3)
    """
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        layer = DomainSpecificBatchNorm(module.num_features, n_domains, eps=module.eps,
                                        momentum=module.momentum, affine=module.affine)
        with torch.no_grad():
            if module.affine:
                layer.weight.copy_(module.weight)
                layer.bias.copy_(module.bias)
            if module.track_running_stats and module.running_mean is not None:
                layer.running_mean.copy_(module.running_mean.expand_as(layer.running_mean))
                layer.running_var.copy_(module.running_var.expand_as(layer.running_var))
        return layer.to(next((b.device for b in module.buffers()), torch.device("cpu")))
    for name, child in module.named_children():
        converted = convert_to_dsbn(child, n_domains)
        if converted is not child:
            setattr(module, name, converted)
    return module


def dsbn_layers(module):
    """The :class:`DomainSpecificBatchNorm` layers inside ``module``."""
    return [m for m in module.modules() if isinstance(m, DomainSpecificBatchNorm)]


def set_domain_slots(module_or_layers, slots):
    """Set the slot of every row of the next forward pass on each DSBN layer.

    ``module_or_layers`` is a module (searched) or a list of layers (from
    :func:`dsbn_layers`, cheaper in a training loop); ``slots`` an int or a LongTensor (B,).
    """
    layers = (dsbn_layers(module_or_layers) if isinstance(module_or_layers, nn.Module)
              else module_or_layers)
    for layer in layers:
        layer.slots = slots


@contextlib.contextmanager
def domain_slots(module_or_layers, slots):
    """Context manager form of :func:`set_domain_slots`; clears the slots on exit."""
    set_domain_slots(module_or_layers, slots)
    try:
        yield
    finally:
        set_domain_slots(module_or_layers, None)


def pool_slot_statistics(layers, sources, destination):
    """Slot ``destination`` <- the mixture of the ``sources`` slots' statistics, in every layer.

    The mixture of equally weighted Gaussians: the mean of the means, and the mean of the
    variances plus the variance of the means.
    """
    sources = list(sources)
    with torch.no_grad():
        for layer in layers:
            means = layer.running_mean[sources]
            variances = layer.running_var[sources]
            layer.running_mean[destination] = means.mean(0)
            layer.running_var[destination] = variances.mean(0) + means.var(0, unbiased=False)


def estimate_slot_statistics(module, layers, forward, X, batch_size, slot):
    """Slot ``slot`` of every layer <- the batch statistics of ``X`` seen through ``forward``.

    The slot is reset and filled with a cumulative average over batches of ``X``; only the
    batch-norm layers run in train mode (no dropout) and no gradient is taken, so nothing
    else in ``module`` changes. A trailing batch of one row is skipped (it has no variance).
    """
    if not layers:
        return
    was_training = module.training
    momenta = [layer.momentum for layer in layers]
    module.eval()
    for layer in layers:
        layer.reset_slot(slot)
        layer.momentum = None
        layer.train()
    try:
        with torch.no_grad():
            for start in range(0, len(X), batch_size):
                chunk = X[start:start + batch_size]
                if len(chunk) < 2 and start > 0:
                    break
                forward(chunk)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
        module.train(was_training)
