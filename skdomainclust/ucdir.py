"""UCDIR (Hu & Lee, ECCV 2022): unsupervised cross-domain retrieval between two unlabelled domains.

A MoCo-style pair of encoders (a query encoder trained by gradient, a key encoder following it
as a moving average) learns an L2-normalised embedding from two unlabelled domains A and B.
Each domain has its own memory bank (one key embedding per training row). The loss, per step:

- instance contrast (InfoNCE) of each query against its key and its domain's bank;
- after a warm-up, in-domain cluster-wise contrast: the domain is clustered by k-means every
  epoch, and every bank row of a query's cluster is a positive (rows whose key is far from
  their prototype are filtered out);
- later, prototype self-entropy of queries against the prototypes of both domains, and the
  distance-of-distance loss, which asks two rows to be as close in their soft assignment to
  A's prototypes as in their assignment to B's.

Retrieval then ranks the rows of the other domain by cosine similarity of the embeddings.
The specification is ``specs/METHODS.md`` section 5; the differences from the authors' code
are listed in the class docstring.
"""

import copy
import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from sklearn.base import ClusterMixin
from skorch.callbacks import Callback
from skorch.dataset import unpack_data
from torch import nn

from ._base import DeepDomainEstimator, EmbeddingTransformerMixin
from ._net import (
    DomainDataset,
    DomainNet,
    GroupedBatchIterator,
    forward_in_chunks,
    resolve_optimizer,
)
from .losses.contrastive import (
    cluster_contrastive_loss,
    distance_of_distance_loss,
    instance_contrastive_loss,
    prototype_confidence,
    prototype_entropy,
)
from .metrics import cross_domain_retrieval_scores
from .nn import MLP, build_encoder
from .nn.kmeans import kmeans_restarts
from .nn.pivot_graph import knn_graph
from .nn.views import FeatureView, ImageView, view_pair

__all__ = ["PairedDomainIterator", "UCDIRRetriever", "order_domains"]

#: Slots of the two domains inside the network.
SLOT_A, SLOT_B = 0, 1


def order_domains(domain_ids):
    """Order two domain ids as ``(A, B)``: sources before targets, then the id nearest zero.

    Sources (``>= 0``) come by increasing id, targets (``< 0``) by decreasing id, so
    ``{0, -1} -> (0, -1)``, ``{-1, -2} -> (-1, -2)`` and ``{0, 1} -> (0, 1)``. The order depends
    on the ids only, never on the order of the rows.

    Raises
    ------
    ValueError
        Unless exactly two distinct ids are given.
    """
    ids = sorted({int(d) for d in np.asarray(domain_ids).ravel()}, key=lambda d: (d < 0, abs(d)))
    if len(ids) != 2:
        raise ValueError(
            f"UCDIRRetriever needs exactly two domains, got {len(ids)} (sample_domain ids "
            f"{ids}). Pass sample_domain with two distinct ids (e.g. 0 for domain A and -1 for "
            "domain B), or mark the rows of one domain with y == -1 when sample_domain is "
            "omitted."
        )
    return ids[0], ids[1]


# -- batching ----------------------------------------------------------------------------------


class PairedDomainIterator(GroupedBatchIterator):
    """Batches holding ``batch_size`` rows of domain A and ``batch_size`` rows of domain B.

    The dataset's ``sample_domain`` holds the slots (0 for A, 1 for B). An epoch is
    ``ceil(max(N_A, N_B) / batch_size)`` batches, as in the authors' loader (whose length is the
    larger domain's): each domain walks fresh random permutations of its rows, so the larger
    one is visited once and the smaller one is cycled. A domain with fewer than ``batch_size``
    rows contributes all its rows to every batch (no row twice in one batch).

    Parameters
    ----------
    dataset : DomainDataset
    batch_size : int
        Rows per domain in a batch.
    shuffle : bool
        Draw permutations (torch's global generator); False walks the rows in order.
    drop_last : ignored
        Accepted for skorch's iterator interface.
    """

    def __init__(self, dataset, batch_size=64, shuffle=True, drop_last=None):
        if not isinstance(dataset, DomainDataset):
            raise TypeError("PairedDomainIterator iterates over a DomainDataset.")
        slots = dataset.sample_domain
        groups = [torch.nonzero(slots == s).squeeze(1) for s in (SLOT_A, SLOT_B)]
        if any(len(g) == 0 for g in groups):
            raise ValueError("PairedDomainIterator needs rows of both slots (0 and 1).")
        super().__init__(dataset, groups, [int(batch_size)] * 2, shuffle=shuffle, distinct=True)
        self.batch_size = int(batch_size)

    def __len__(self):
        return max(math.ceil(len(g) / self.batch_size) for g in self.groups)


# -- module ------------------------------------------------------------------------------------


class UCDIRModule(nn.Module):
    """Query and momentum key encoders, the two random views, memory banks and prototypes.

    Parameters
    ----------
    encoder : nn.Module
        Trunk (an MLP over feature vectors by default).
    n_features : int
        Width of the trunk's output.
    embedding_dim : int
    projection_dims : tuple of int
        Hidden widths of the projection head ``Linear -> ReLU -> ... -> Linear(embedding_dim)``
        (MoCo-v2's MLP head; no batch-norm).
    domain_sizes : (int, int)
        Rows of domain A and of domain B: the sizes of the two memory banks.
    n_clusters : int
    query_view, key_view : nn.Module
        The random views of the query and key encoders' inputs.

    Notes
    -----
    Buffers (they travel with a pickled model): ``bank_a`` ``(N_A, D)`` and ``bank_b``
    ``(N_B, D)``; ``prototypes`` ``(2, K, D)`` (L2-normalised k-means centres of A and B);
    ``assignment_a`` / ``assignment_b``, the k-means cluster of every bank row; ``clustered``,
    whether the prototypes hold a clustering yet. The key encoder has no trainable parameter.
    """

    def __init__(self, encoder, n_features, embedding_dim, projection_dims, domain_sizes,
                 n_clusters, query_view, key_view):
        super().__init__()
        head = MLP(n_features, tuple(projection_dims), out_features=embedding_dim,
                   batch_norm=False)
        self.encoder_q = nn.Sequential(encoder, head)
        self.encoder_k = copy.deepcopy(self.encoder_q)
        for parameter in self.encoder_k.parameters():
            parameter.requires_grad_(False)
        self.query_view = query_view
        self.key_view = key_view
        n_a, n_b = (int(n) for n in domain_sizes)
        self.n_a = n_a
        self.register_buffer("bank_a", torch.zeros(n_a, embedding_dim))
        self.register_buffer("bank_b", torch.zeros(n_b, embedding_dim))
        self.register_buffer("prototypes", torch.zeros(2, int(n_clusters), embedding_dim))
        self.register_buffer("assignment_a", torch.zeros(n_a, dtype=torch.long))
        self.register_buffer("assignment_b", torch.zeros(n_b, dtype=torch.long))
        self.register_buffer("clustered", torch.zeros((), dtype=torch.bool))

    def bank(self, slot):
        return self.bank_a if slot == SLOT_A else self.bank_b

    def assignment(self, slot):
        return self.assignment_a if slot == SLOT_A else self.assignment_b

    def query(self, X):
        return F.normalize(self.encoder_q(X), dim=1)

    def key(self, X):
        return F.normalize(self.encoder_k(X), dim=1)

    def forward(self, X, sample_domain=None, index=None):
        """The retrieval embedding: the key encoder's L2-normalised output (as the authors
        evaluate); call in eval mode."""
        return self.key(X)

    @torch.no_grad()
    def momentum_update(self, momentum):
        """``theta_k <- m theta_k + (1 - m) theta_q`` for every parameter of the key encoder."""
        for p_q, p_k in zip(self.encoder_q.parameters(), self.encoder_k.parameters()):
            p_k.mul_(momentum).add_(p_q.detach(), alpha=1.0 - momentum)

    @torch.no_grad()
    def write_bank(self, slot, local, keys):
        """Store ``keys`` in the bank slots ``local`` of the rows of domain ``slot``."""
        self.bank(slot).index_copy_(0, local, keys.to(self.bank_a.dtype))

    @torch.no_grad()
    def embed_rows(self, X, batch_size=1024):
        """Eval-mode key embeddings of ``X`` (a tensor on the module's device), no gradient."""
        was_training = self.training
        self.eval()
        try:
            return forward_in_chunks(self.key, X, batch_size)
        finally:
            self.train(was_training)

    @torch.no_grad()
    def refresh(self, X, n_clusters, *, cluster=True, n_init=5, n_iter=20, seed=None):
        """Banks <- eval-mode key embeddings of the training rows ``X`` (A rows then B rows);
        with ``cluster``, prototypes and assignments <- k-means of each domain's embeddings.

        The k-means runs on the L2-normalised embeddings and its centres are L2-normalised
        into prototypes (the authors' ``run_kmeans``); domain B's seed is ``seed + 1000``.
        """
        embedding = self.embed_rows(X)
        self.bank_a.copy_(embedding[:self.n_a])
        self.bank_b.copy_(embedding[self.n_a:])
        if not cluster:
            return
        if seed is None:
            seed = int(torch.randint(2**31 - 1, ()).item())
        for slot, points in ((SLOT_A, self.bank_a), (SLOT_B, self.bank_b)):
            labels, centres, _ = kmeans_restarts(points, n_clusters, n_init=n_init,
                                                 n_iter=n_iter, seed=seed + 1000 * slot)
            self.prototypes[slot].copy_(F.normalize(centres, dim=1))
            self.assignment(slot).copy_(labels)
        self.clustered.fill_(True)


def domain_neighbour_table(X, n_a, n_neighbors):
    """The ``n_neighbors`` nearest rows of each row in its own domain, by cosine similarity of
    the (flattened) inputs: rows ``[0, n_a)`` are domain A, the rest domain B.

    Returns a LongTensor ``(N, k)`` of row indices into ``X`` (never the row itself), with
    ``k = min(n_neighbors, smaller domain size - 1)``.
    """
    flat = F.normalize(X.flatten(1), dim=1)
    sizes = (n_a, len(X) - n_a)
    k = max(1, min(int(n_neighbors), min(sizes) - 1))
    parts = []
    for offset, size in ((0, sizes[0]), (n_a, sizes[1])):
        if size < 2:
            parts.append(torch.full((size, k), offset, dtype=torch.long, device=X.device))
            continue
        parts.append(offset + knn_graph(flat[offset:offset + size], k))
    return torch.cat(parts)


# -- net ---------------------------------------------------------------------------------------


class UCDIRNet(DomainNet):
    """skorch net of UCDIR: one step writes the keys into the banks, then applies the losses.

    The weights of the epoch (``epoch_weights_``) are set by :class:`UCDIRSchedule`; the parts
    of the loss of the last step are kept in ``loss_parts_`` for the history.
    """

    def __init__(self, *args, n_clusters=8, temperature=0.2, key_momentum=0.99,
                 confidence_threshold=0.2, instance_weight=1.0, entropy_temperature=0.1,
                 dd_temperature=0.01, mixup_neighbors=0, mixup_share=1.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.mixup_neighbors = mixup_neighbors
        self.mixup_share = mixup_share
        self.n_clusters = n_clusters
        self.temperature = temperature
        self.key_momentum = key_momentum
        self.confidence_threshold = confidence_threshold
        self.instance_weight = instance_weight
        self.entropy_temperature = entropy_temperature
        self.dd_temperature = dd_temperature
        self.epoch_weights_ = {"cluster": 0.0, "entropy": 0.0, "dd": 0.0}

    def get_all_learnable_params(self):
        # The key encoder follows the query encoder by moving average, never by gradient.
        for name, param in self.module_.named_parameters():
            if param.requires_grad:
                yield name, param

    def ucdir_loss(self, q, k, slot, local):
        """The total loss of a batch (queries ``q``, keys ``k``) and its parts."""
        module = self.module_
        weights = self.epoch_weights_
        tau = self.temperature
        clustered = bool(module.clustered)
        parts = {}
        total = q.new_zeros(())
        queries = []
        for s, name in ((SLOT_A, "a"), (SLOT_B, "b")):
            rows = slot == s
            q_s, k_s, local_s = q[rows], k[rows], local[rows]
            queries.append(q_s)
            bank = module.bank(s)
            inst = instance_contrastive_loss(q_s, k_s, bank, local_s, tau)
            parts[f"inst_{name}"] = inst.detach()
            domain_loss = self.instance_weight * inst
            if clustered and weights["cluster"]:
                assignment = module.assignment(s)
                labels = assignment[local_s]
                keep = (prototype_confidence(k_s, module.prototypes[s], labels, tau)
                        > self.confidence_threshold)
                cw = cluster_contrastive_loss(q_s, bank, assignment, labels, keep, tau,
                                              n_clusters=self.n_clusters)
                parts[f"cw_{name}"] = cw.detach()
                parts[f"kept_{name}"] = keep.float().mean()
                domain_loss = domain_loss + weights["cluster"] * cw
            total = total + domain_loss / 2
        if clustered and weights["entropy"]:
            entropy = torch.stack([
                prototype_entropy(q_s, module.prototypes[s], self.entropy_temperature)
                for q_s in queries for s in (SLOT_A, SLOT_B)]).mean()
            parts["entropy"] = entropy.detach()
            total = total + weights["entropy"] * entropy
        if clustered and weights["dd"]:
            dd = torch.stack([
                distance_of_distance_loss(q_s, module.prototypes[SLOT_A],
                                          module.prototypes[SLOT_B], self.dd_temperature)
                for q_s in queries]).mean()
            parts["dd"] = dd.detach()
            total = total + weights["dd"] * dd
        return total, parts

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        Xi, _ = unpack_data(batch)
        module = self.module_
        x, slot, index = Xi["X"], Xi["sample_domain"], Xi["index"]
        local = torch.where(slot == SLOT_A, index, index - module.n_a)
        q = module.query(module.query_view(self.mix_with_neighbours(x, index)))
        with torch.no_grad():
            module.momentum_update(self.key_momentum)
            k = module.key(module.key_view(self.mix_with_neighbours(x, index)))
            # The authors write the keys into the banks before computing the losses.
            for s in (SLOT_A, SLOT_B):
                rows = slot == s
                module.write_bank(s, local[rows], k[rows])
        loss, self.loss_parts_ = self.ucdir_loss(q, k, slot, local)
        loss.backward()
        return {"loss": loss, "y_pred": None}

    def mix_with_neighbours(self, x, index):
        """``x_i + s (x_j - x_i)``: ``j`` one of the ``mixup_neighbors`` nearest rows of ``i`` in
        its domain (drawn per row), ``s ~ U(0, mixup_share)``; ``x`` itself when the neighbour
        table is off."""
        table = getattr(self, "neighbours_", None)
        if table is None:
            return x
        pick = torch.randint(table.shape[1], (len(x),), device=x.device)
        neighbours = self.train_X_[table[index, pick]]
        share = self.mixup_share * torch.rand((len(x),) + (1,) * (x.dim() - 1),
                                              device=x.device, dtype=x.dtype)
        return x + share * (neighbours - x)

    def get_loss(self, y_pred, y_true=None, X=None, training=False):
        raise NotImplementedError("UCDIRNet computes its loss in train_step_single.")


class UCDIRSchedule(Callback):
    """Per-epoch work of UCDIR.

    Before training: the banks are filled with eval-mode key embeddings of every row. At the
    start of epoch ``e`` (0-based): the learning rate follows the cosine schedule
    ``lr * (1 + cos(pi e / max_epochs)) / 2``; from ``e = warmup_epochs`` on, each domain is
    re-clustered by k-means on fresh eval-mode key embeddings (when a cluster-based loss has
    a non-zero weight); the epoch's weights are set:

    - cluster-wise: ``cluster_weight_start`` up to ``warmup_epochs``, then linear to
      ``cluster_weight`` at ``saturation_epoch``, constant afterwards (0 before the warm-up
      ends);
    - self-entropy and distance-of-distance: their weights from ``alignment_epoch`` on (and
      not before the warm-up ends).

    At the end of every epoch the mean parts of the loss are recorded in the history.
    """

    def __init__(self, warmup_epochs=20, saturation_epoch=60, alignment_epoch=60,
                 cluster_weight=1.0, cluster_weight_start=0.0, entropy_weight=0.5, dd_weight=0.1,
                 kmeans_n_init=5, kmeans_n_iter=20):
        self.warmup_epochs = warmup_epochs
        self.saturation_epoch = saturation_epoch
        self.alignment_epoch = alignment_epoch
        self.cluster_weight = cluster_weight
        self.cluster_weight_start = cluster_weight_start
        self.entropy_weight = entropy_weight
        self.dd_weight = dd_weight
        self.kmeans_n_init = kmeans_n_init
        self.kmeans_n_iter = kmeans_n_iter

    def weights_at(self, epoch):
        """``{"cluster", "entropy", "dd"}`` weights of 0-based epoch ``epoch``."""
        if epoch < self.warmup_epochs:
            return {"cluster": 0.0, "entropy": 0.0, "dd": 0.0}
        start, end = self.warmup_epochs, self.saturation_epoch
        if epoch <= start:
            cluster = self.cluster_weight_start
        elif epoch < end:
            cluster = self.cluster_weight_start + (
                self.cluster_weight - self.cluster_weight_start) * (epoch - start) / (end - start)
        else:
            cluster = self.cluster_weight
        aligned = epoch >= self.alignment_epoch
        return {"cluster": float(cluster),
                "entropy": float(self.entropy_weight) if aligned else 0.0,
                "dd": float(self.dd_weight) if aligned else 0.0}

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        net.train_X_ = torch.as_tensor(X["X"], dtype=torch.float32, device=net.device)
        net.neighbours_ = None
        if net.mixup_neighbors:
            net.neighbours_ = domain_neighbour_table(net.train_X_, net.module_.n_a,
                                                     net.mixup_neighbors)
        net.module_.refresh(net.train_X_, net.n_clusters, cluster=False)

    def on_epoch_begin(self, net, **kwargs):
        epoch = len(net.history) - 1
        factor = 0.5 * (1.0 + math.cos(math.pi * epoch / max(net.max_epochs, 1)))
        for group in net.optimizer_.param_groups:
            group["lr"] = net.lr * factor
        weights = self.weights_at(epoch)
        uses_clusters = (self.cluster_weight or self.cluster_weight_start or self.entropy_weight
                         or self.dd_weight)
        if epoch >= self.warmup_epochs and uses_clusters:
            net.module_.refresh(net.train_X_, net.n_clusters, cluster=True,
                                n_init=self.kmeans_n_init, n_iter=self.kmeans_n_iter)
        net.epoch_weights_ = weights
        self.sums_, self.batches_ = {}, 0

    def on_batch_end(self, net, training=True, **kwargs):
        if not training:
            return
        for name, value in net.loss_parts_.items():
            self.sums_[name] = self.sums_.get(name, 0.0) + value
        self.batches_ += 1

    def on_epoch_end(self, net, **kwargs):
        if self.batches_:
            for name, total in self.sums_.items():
                net.history.record(name, float(total / self.batches_))
        for name, value in net.epoch_weights_.items():
            net.history.record(f"w_{name}", value)

    def on_train_end(self, net, **kwargs):
        net.train_X_ = None  # training rows never travel with a pickled model
        net.neighbours_ = None
        net.loss_parts_ = {}
        self.sums_ = {}


# -- estimator ---------------------------------------------------------------------------------


def _default_views(image):
    """(query, key) views: the same random augmentation family, drawn independently."""
    if image:  # MoCo-v2's "aug-plus", without blur
        view = ImageView(crop_scale=(0.2, 1.0), flip_prob=0.5, brightness=0.4, contrast=0.4,
                         saturation=0.4, grayscale_prob=0.2)
        return view, copy.deepcopy(view)
    return (FeatureView(noise=0.1, mask_prob=0.2, jitter=0.1),
            FeatureView(noise=0.1, mask_prob=0.2, jitter=0.1))


class UCDIRRetriever(ClusterMixin, EmbeddingTransformerMixin, DeepDomainEstimator):
    """Unsupervised cross-domain retrieval between two unlabelled domains (UCDIR).

    ``fit(X, sample_domain=...)`` learns an embedding from the rows of two domains, without any
    label; ``transform`` embeds rows, ``kneighbors`` retrieves the nearest rows of the *other*
    domain, ``predict`` gives the nearest prototype (a cluster id, consistent across domains).

    **Domains.** ``sample_domain`` must hold exactly two distinct ids (any two: a source
    ``0`` and a target ``-1``, two targets ``-1`` and ``-2``, two sources...); otherwise
    ``fit`` raises. Domain **A** is the first of the two in the order "sources before targets,
    then the id nearest zero" (:func:`order_domains`): ``{0, -1}`` gives A = 0, B = -1;
    ``{-1, -2}`` gives A = -1, B = -2. Without ``sample_domain``, rows with ``y == -1`` form
    domain B (-1) and the others domain A (0). ``y`` is never used otherwise: labels play no
    part in training.

    **Training** (METHODS.md section 5). Per step, ``batch_size`` rows of A and of B go
    through the query encoder (a random view) and the momentum key encoder (another view);
    the keys are written into their domain's memory bank, then the loss is::

        L = 1/2 sum_D [instance_weight L_inst^D + w_cw(e) L_cw^D]
            + entropy_weight 1[e >= alignment_epoch] L_se + dd_weight 1[e >= alignment_epoch] L_dd

    ``L_inst``: InfoNCE against the key and the domain's bank (temperature ``temperature``).
    From ``warmup_epochs`` on, each domain is clustered every epoch (k-means on the eval-mode
    key embeddings, ``kmeans_n_init`` restarts of ``kmeans_n_iter`` Lloyd rounds, on the
    device) and ``L_cw`` contrasts each query with every bank row of its cluster; rows whose
    key gives their own prototype a softmax probability ``<= confidence_threshold`` are left
    out. ``w_cw`` ramps linearly from ``cluster_weight_start`` (at ``warmup_epochs``) to
    ``cluster_weight`` (at ``saturation_epoch``). ``L_se``: mean entropy of the soft
    assignment of the queries of each domain to the prototypes of each domain (temperature
    ``entropy_temperature``). ``L_dd``: distance-of-distance between the assignments to A's
    and to B's prototypes (temperature ``dd_temperature``). Learning rate: cosine decay over
    ``max_epochs``. With ``cluster_weight=0, entropy_weight=0, dd_weight=0`` this is the
    instance-contrastive (warm-up losses only) ablation.

    After training the banks are replaced by the eval-mode embeddings of the training rows
    (the retrieval gallery of ``kneighbors``) and each domain is clustered once more; the
    prototypes of B are matched to those of A (Hungarian, maximal total cosine similarity)
    so that cluster ids mean the same in both domains.

    Parameters
    ----------
    n_clusters : int, default=8
        Clusters per domain (the same in both: the distance-of-distance needs it).
    embedding_dim : int, default=128
        Width of the L2-normalised embedding.
    hidden_dims : tuple of int, default=(256,)
        Hidden widths of the default MLP trunk (``Linear -> BatchNorm -> ReLU`` blocks);
        ignored when ``encoder`` is given.
    projection_dims : tuple of int, default=(256,)
        Hidden widths of the projection head on top of the trunk (MoCo-v2's MLP head).
    encoder : None, nn.Module class or instance, default=None
        Trunk. None is an MLP over feature vectors; pass a conv net for images
        ``(n, C, H, W)``. An instance is copied, never modified.
    views : None or (nn.Module, nn.Module), default=None
        The random views of the query and of the key encoder. None: for feature vectors both
        are Gaussian noise of 0.1 per-dimension standard deviation (measured on the training
        rows), 20% random masking and 10% multiplicative jitter; for images MoCo-v2's
        crop (scale 0.2-1), flip, colour jitter and greying.
    temperature : float, default=0.2
        Temperature of the instance and cluster-wise losses and of the confidence filter.
    key_momentum : float, default=0.99
        Momentum of the key encoder's moving average.
    confidence_threshold : float, default=0.2
        Prototype-confidence filter of the cluster-wise loss.
    instance_weight : float, default=1.0
    cluster_weight : float, default=1.0
        Weight of the cluster-wise loss once saturated.
    cluster_weight_start : float, default=0.0
        Its weight at the end of the warm-up.
    entropy_weight : float, default=0.5
    entropy_temperature : float, default=0.1
    dd_weight : float, default=0.1
    dd_temperature : float, default=0.01
    warmup_epochs : int, default=20
        Epochs of instance contrast only; k-means and the cluster-wise loss start after them.
    saturation_epoch : int, default=60
        Epoch at which the cluster-wise weight reaches ``cluster_weight``.
    alignment_epoch : int, default=60
        First epoch of the self-entropy and distance-of-distance losses.
    kmeans_n_init : int, default=5
    kmeans_n_iter : int, default=20
    mixup_neighbors : int, default=10
        Neighbour mixup of the views (the optional view of METHODS.md's feature-vector
        adaptation): before its random view, each row is mixed with a random one of its
        ``mixup_neighbors`` nearest rows *in its own domain* (cosine similarity of the inputs,
        computed once), ``x + s (x_nn - x)`` with ``s ~ U(0, mixup_share)``, drawn
        independently for the query and the key. 0 disables it. Noise and masking alone teach
        little semantics to a network that starts from scratch on feature vectors; in-domain
        neighbours mostly share the row's class, so they make better positives.
    mixup_share : float, default=1.0
        Largest share of the neighbour in a view (1 allows a view to be the neighbour itself).
    optimizer : {"sgd", "adam", "adamw"} or torch.optim.Optimizer class, default="sgd"
    lr : float, default=0.05
        Initial learning rate (cosine decay to 0 over ``max_epochs``).
    momentum : float, default=0.9
        Momentum of SGD (ignored by the other optimizers).
    weight_decay : float, default=1e-4
    max_epochs : int, default=100
        An epoch is ``ceil(max(N_A, N_B) / batch_size)`` steps.
    batch_size : int, default=64
        Rows *per domain* in a step.
    device : {"auto", "cpu", "cuda", "cuda:N"}, default="auto"
    random_state : int, RandomState or None, default=None
        Seeds initialisation, views, batching and k-means; two CPU fits with the same integer
        are identical. The global torch RNG is left untouched.
    verbose : int, default=0

    Attributes
    ----------
    domains_ : ndarray of int64, shape (2,)
        The ids of domain A and domain B.
    fit_rows_ : tuple of two ndarrays of int64
        Row numbers (in the ``X`` of ``fit``) of the rows of A and of B: the gallery of
        ``kneighbors``, in the order of the memory banks.
    cluster_centers_ : ndarray of shape (2, n_clusters, embedding_dim)
        Prototypes of A and of B (L2-normalised), B's rows permuted to match A's ids.
    labels_ : ndarray of int64, shape (n_samples,)
        Nearest prototype of every training row (ids shared by both domains).
    net_ : skorch.NeuralNet
        ``net_.history`` records the loss parts per epoch (``inst_a``, ``cw_a``, ``kept_a``,
        ``entropy``, ``dd``, ...) and the epoch's weights.
    n_features_in_ : int
    device_ : str

    Notes
    -----
    Differences from the authors' code, for feature vectors (METHODS.md "Feature-vector
    adaptation"): an MLP trunk from random initialisation instead of a MoCo-pretrained
    ResNet-50, and noise / masking / jitter views with in-domain neighbour mixup instead of
    image augmentations; no shuffled
    batch-norm (one batch-norm over the concatenated A and B rows); a single ``n_clusters``
    (not a list); k-means++ seeding in torch instead of faiss; the schedule is shorter (100
    epochs, warm-up 20, saturation and alignment at 60, against 200 / 20 / 100 / 100), the key
    momentum lower (0.99 against 0.999) and the learning rate higher (SGD 0.05 against 2e-4)
    because the network starts from scratch on small data sets of a few hundred to a few
    thousand rows (a momentum of 0.999 makes the key encoder lag by ~1000 steps, more than
    most fits take).

    Examples
    --------
    >>> import numpy as np
    >>> from skdomainclust.ucdir import UCDIRRetriever
    >>> rng = np.random.default_rng(0)
    >>> centres = 4 * rng.normal(size=(3, 8))
    >>> y = np.repeat(np.arange(3), 30)
    >>> X = np.concatenate([centres[y] + rng.normal(size=(90, 8)),
    ...                     centres[y] @ np.diag(rng.uniform(0.5, 2, 8)) + 1])
    >>> sample_domain = np.repeat([0, -1], 90)
    >>> model = UCDIRRetriever(n_clusters=3, max_epochs=4, warmup_epochs=2, random_state=0)
    >>> model.fit(X, sample_domain=sample_domain).transform(X).shape
    (180, 128)
    >>> distances, indices = model.kneighbors(X[:2], n_neighbors=3, sample_domain=0)
    >>> bool((indices >= 90).all())  # rows of A retrieve rows of B
    True
    """

    __metadata_request__score = {"sample_domain": True}

    def __init__(self, n_clusters=8, embedding_dim=128, hidden_dims=(256,),
                 projection_dims=(256,), encoder=None, views=None, temperature=0.2,
                 key_momentum=0.99, confidence_threshold=0.2, instance_weight=1.0,
                 cluster_weight=1.0, cluster_weight_start=0.0, entropy_weight=0.5,
                 entropy_temperature=0.1, dd_weight=0.1, dd_temperature=0.01, warmup_epochs=20,
                 saturation_epoch=60, alignment_epoch=60, kmeans_n_init=5, kmeans_n_iter=20,
                 mixup_neighbors=10, mixup_share=1.0, optimizer="sgd", lr=0.05, momentum=0.9,
                 weight_decay=1e-4, max_epochs=100, batch_size=64, device="auto",
                 random_state=None, verbose=0):
        self.n_clusters = n_clusters
        self.embedding_dim = embedding_dim
        self.hidden_dims = hidden_dims
        self.projection_dims = projection_dims
        self.encoder = encoder
        self.views = views
        self.temperature = temperature
        self.key_momentum = key_momentum
        self.confidence_threshold = confidence_threshold
        self.instance_weight = instance_weight
        self.cluster_weight = cluster_weight
        self.cluster_weight_start = cluster_weight_start
        self.entropy_weight = entropy_weight
        self.entropy_temperature = entropy_temperature
        self.dd_weight = dd_weight
        self.dd_temperature = dd_temperature
        self.warmup_epochs = warmup_epochs
        self.saturation_epoch = saturation_epoch
        self.alignment_epoch = alignment_epoch
        self.kmeans_n_init = kmeans_n_init
        self.kmeans_n_iter = kmeans_n_iter
        self.mixup_neighbors = mixup_neighbors
        self.mixup_share = mixup_share
        self.optimizer = optimizer
        self.lr = lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # -- validation -------------------------------------------------------------------------

    def _check_params(self, domain_sizes):
        def integer(name, minimum):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
                    or value < minimum:
                raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")

        integer("n_clusters", 2)
        integer("embedding_dim", 1)
        integer("batch_size", 2)
        integer("max_epochs", 1)
        for name in ("warmup_epochs", "saturation_epoch", "alignment_epoch"):
            integer(name, 0)
        integer("kmeans_n_init", 1)
        integer("kmeans_n_iter", 1)
        integer("mixup_neighbors", 0)
        if not 0 <= self.mixup_share <= 1:
            raise ValueError(f"mixup_share must be in [0, 1], got {self.mixup_share!r}.")
        if self.saturation_epoch < self.warmup_epochs:
            raise ValueError(f"saturation_epoch ({self.saturation_epoch}) must be >= "
                             f"warmup_epochs ({self.warmup_epochs}).")
        for name in ("temperature", "entropy_temperature", "dd_temperature"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}.")
        if not 0 <= self.key_momentum < 1:
            raise ValueError(f"key_momentum must be in [0, 1), got {self.key_momentum!r}.")
        if not 0 <= self.confidence_threshold < 1:
            raise ValueError("confidence_threshold must be in [0, 1), got "
                             f"{self.confidence_threshold!r}.")
        for name in ("instance_weight", "cluster_weight", "cluster_weight_start",
                     "entropy_weight", "dd_weight"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}.")
        smallest = min(domain_sizes)
        if self.n_clusters > smallest:
            raise ValueError(f"n_clusters={self.n_clusters} is larger than the number of rows "
                             f"of the smaller domain ({smallest}).")

    # -- fit --------------------------------------------------------------------------------

    def fit(self, X, y=None, sample_domain=None):
        """Learn the embedding from the rows of the two domains (labels are never used).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, C, H, W)
            Rows of both domains stacked.
        y : ignored
            Accepted for API compatibility; only used, when ``sample_domain`` is None, to
            take the rows with ``y == -1`` as domain B.
        sample_domain : array-like of int or None
            Exactly two distinct ids (see the class docstring for which is A).

        Returns
        -------
        self
        """
        data = self._validate_fit_data(X, y, sample_domain)
        domain_a, domain_b = order_domains(data.sample_domain)
        rows_a = np.flatnonzero(data.sample_domain == domain_a)
        rows_b = np.flatnonzero(data.sample_domain == domain_b)
        self._check_params((len(rows_a), len(rows_b)))
        self.domains_ = np.array([domain_a, domain_b], dtype=np.int64)
        self.fit_rows_ = (rows_a, rows_b)
        X_train = np.concatenate([data.X[rows_a], data.X[rows_b]])
        slots = np.repeat(np.array([SLOT_A, SLOT_B], dtype=np.int64),
                          [len(rows_a), len(rows_b)])
        image = data.X.ndim == 4
        with self._fit_context():
            encoder, width = build_encoder(self.encoder, data.X.shape[1:],
                                           hidden_dims=self.hidden_dims)
            query_view, key_view = view_pair(self.views, _default_views(image),
                                             names=("query", "key"))
            optimizer = resolve_optimizer(self.optimizer)
            extra = {"optimizer__momentum": self.momentum} if optimizer is torch.optim.SGD else {}
            schedule = UCDIRSchedule(
                warmup_epochs=self.warmup_epochs, saturation_epoch=self.saturation_epoch,
                alignment_epoch=self.alignment_epoch, cluster_weight=self.cluster_weight,
                cluster_weight_start=self.cluster_weight_start,
                entropy_weight=self.entropy_weight, dd_weight=self.dd_weight,
                kmeans_n_init=self.kmeans_n_init, kmeans_n_iter=self.kmeans_n_iter)
            self.net_ = UCDIRNet(
                UCDIRModule,
                module__encoder=encoder,
                module__n_features=width,
                module__embedding_dim=int(self.embedding_dim),
                module__projection_dims=tuple(self.projection_dims),
                module__domain_sizes=(len(rows_a), len(rows_b)),
                module__n_clusters=int(self.n_clusters),
                module__query_view=query_view,
                module__key_view=key_view,
                iterator_train=PairedDomainIterator,
                optimizer=optimizer,
                optimizer__weight_decay=self.weight_decay,
                lr=self.lr,
                max_epochs=self.max_epochs,
                batch_size=self.batch_size,
                device=self.device_,
                callbacks=[("ucdir", schedule), *self._callbacks("UCDIR")],
                n_clusters=int(self.n_clusters),
                temperature=self.temperature,
                key_momentum=self.key_momentum,
                confidence_threshold=self.confidence_threshold,
                instance_weight=self.instance_weight,
                entropy_temperature=self.entropy_temperature,
                dd_temperature=self.dd_temperature,
                mixup_neighbors=int(self.mixup_neighbors),
                mixup_share=float(self.mixup_share),
                **extra,
            )
            self.net_.initialize()
            module = self.net_.module_
            device = self.net_.device
            for view in (module.query_view, module.key_view):
                if hasattr(view, "set_scale"):
                    view.set_scale(X_train)
                    view.to(device)
            train_X = torch.as_tensor(X_train, dtype=torch.float32, device=device)
            self.net_.partial_fit({"X": train_X,
                                   "sample_domain": torch.as_tensor(slots, device=device)})
            # The gallery and the final prototypes, from the trained key encoder.
            module.refresh(train_X, int(self.n_clusters), cluster=True,
                           n_init=self.kmeans_n_init, n_iter=self.kmeans_n_iter)
        self._align_prototypes()
        labels = np.empty(len(data.X), dtype=np.int64)
        labels[rows_a] = self._nearest_prototype(module.bank_a, SLOT_A)
        labels[rows_b] = self._nearest_prototype(module.bank_b, SLOT_B)
        self.labels_ = labels
        return self

    def _align_prototypes(self):
        """Permute B's prototypes so that B's cluster ``j`` is the one matched to A's ``j``."""
        prototypes = self.net_.module_.prototypes.detach().cpu()
        similarity = (prototypes[SLOT_A] @ prototypes[SLOT_B].t()).double().numpy()
        rows, cols = linear_sum_assignment(-similarity)
        order = cols[np.argsort(rows)]  # order[j]: the B prototype matched to A's prototype j
        aligned = prototypes.clone()
        aligned[SLOT_B] = prototypes[SLOT_B][torch.as_tensor(order)]
        self.cluster_centers_ = aligned.numpy()

    def _nearest_prototype(self, embedding, slot):
        """Nearest prototype of each row among those of ``slot`` (None: of both domains)."""
        centers = torch.as_tensor(self.cluster_centers_, device=embedding.device)
        if slot is None:
            similarity = torch.maximum(embedding @ centers[SLOT_A].t(),
                                       embedding @ centers[SLOT_B].t())
        else:
            similarity = embedding @ centers[slot].t()
        return similarity.argmax(dim=1).cpu().numpy().astype(np.int64)

    # -- inference --------------------------------------------------------------------------

    def _embed(self, X):
        module = self.net_.module_.eval()
        return self._apply(lambda xb, db: module(xb), X, device=self.net_.device)

    def _slots(self, sample_domain):
        """Slot of every row: 0 (domain A), 1 (domain B) or -1 (a domain not seen in fit)."""
        slots = np.full(len(sample_domain), -1, dtype=np.int64)
        slots[sample_domain == self.domains_[0]] = SLOT_A
        slots[sample_domain == self.domains_[1]] = SLOT_B
        return slots

    def transform(self, X, sample_domain=None):
        """L2-normalised embedding of every row (the key encoder's, as the authors retrieve).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, C, H, W)
        sample_domain : ignored
            The embedding does not depend on the domain.

        Returns
        -------
        embedding : ndarray of float32, shape (n_samples, embedding_dim)
        """
        data = self._validate_predict_data(X, sample_domain)
        return self._embed(data.X).numpy()

    def predict(self, X, sample_domain=None):
        """Nearest prototype of every row, with cluster ids shared by both domains.

        Rows of domain A (B) are compared with A's (B's) prototypes; rows of a domain not seen
        in ``fit`` with the prototypes of both. ``sample_domain`` defaults to "every row is
        target" (-1), per the data contract.

        Returns
        -------
        labels : ndarray of int64, shape (n_samples,)
        """
        data = self._validate_predict_data(X, sample_domain)
        embedding = self._embed(data.X)
        slots = self._slots(data.sample_domain)
        labels = np.empty(len(data.X), dtype=np.int64)
        for slot in (SLOT_A, SLOT_B, -1):
            rows = np.flatnonzero(slots == slot)
            if len(rows):
                labels[rows] = self._nearest_prototype(embedding[torch.as_tensor(rows)],
                                                       None if slot == -1 else slot)
        return labels

    def fit_predict(self, X, y=None, sample_domain=None):
        """Fit and return ``labels_`` (nearest prototype of every training row)."""
        return self.fit(X, y, sample_domain=sample_domain).labels_

    def kneighbors(self, X=None, n_neighbors=5, sample_domain=None, return_distance=True):
        """The ``n_neighbors`` nearest rows of the *other* domain, by cosine similarity.

        The gallery is the training rows of ``fit``: a row of domain A retrieves rows of B and
        vice versa. Ties are broken by the lower gallery position (stable sort).

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features) or None, default=None
            Query rows; None queries with every training row (its own embedding from the
            gallery), like scikit-learn's ``NearestNeighbors.kneighbors()``.
        n_neighbors : int, default=5
            At most the size of the smaller domain.
        sample_domain : array-like of int, int or None
            Domain of each query row (one of the two ids of ``fit``; default -1, per the
            data contract). Ignored when ``X`` is None.
        return_distance : bool, default=True

        Returns
        -------
        distances : ndarray of float64, shape (n_queries, n_neighbors)
            Cosine distances ``1 - cos``, increasing. Only when ``return_distance``.
        indices : ndarray of int64, shape (n_queries, n_neighbors)
            Row numbers in the ``X`` of ``fit``, all of the other domain.
        """
        module = self.net_.module_
        if X is None:
            embedding = torch.cat([module.bank_a, module.bank_b]).cpu()
            slots = np.repeat([SLOT_A, SLOT_B], [len(r) for r in self.fit_rows_])
            order = np.argsort(np.concatenate(self.fit_rows_), kind="stable")
            embedding, slots = embedding[torch.as_tensor(order)], slots[order]
        else:
            data = self._validate_predict_data(X, sample_domain)
            embedding = self._embed(data.X)
            slots = self._slots(data.sample_domain)
            if (slots < 0).any():
                unknown = np.unique(data.sample_domain[slots < 0]).tolist()
                raise ValueError(
                    f"kneighbors retrieves from the other domain, so each query needs one of "
                    f"the fitted domains {self.domains_.tolist()} as sample_domain; got "
                    f"{unknown}."
                )
        if isinstance(n_neighbors, bool) or not isinstance(n_neighbors, (int, np.integer)) \
                or n_neighbors < 1:
            raise ValueError(f"n_neighbors must be a positive integer, got {n_neighbors!r}.")
        smallest = min(len(r) for r in self.fit_rows_)
        if n_neighbors > smallest:
            raise ValueError(f"n_neighbors={n_neighbors} is larger than the smaller domain's "
                             f"{smallest} rows.")
        distances = np.empty((len(embedding), n_neighbors))
        indices = np.empty((len(embedding), n_neighbors), dtype=np.int64)
        for slot in (SLOT_A, SLOT_B):
            rows = np.flatnonzero(slots == slot)
            if not len(rows):
                continue
            other = SLOT_B if slot == SLOT_A else SLOT_A
            gallery = module.bank(other).detach().cpu()
            for start in range(0, len(rows), 1024):
                chunk = rows[start:start + 1024]
                similarity = embedding[torch.as_tensor(chunk)] @ gallery.t()
                top = torch.sort(similarity, dim=1, descending=True, stable=True)
                best = top.indices[:, :n_neighbors].numpy()
                indices[chunk] = self.fit_rows_[other][best]
                distances[chunk] = 1.0 - top.values[:, :n_neighbors].double().numpy()
        return (distances, indices) if return_distance else indices

    def retrieval_scores(self, X, y, sample_domain=None, k=(1, 5, 15)):
        """Cross-domain retrieval metrics of the embedding of ``X``, in both directions.

        Rows of domain A query the rows of domain B of ``X`` and vice versa (rows of other
        domains are left out); the keys are those of
        :func:`skdomainclust.metrics.cross_domain_retrieval_scores`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            True labels (relevance).
        sample_domain : array-like of int, int or None
        k : sequence of int, default=(1, 5, 15)

        Returns
        -------
        scores : dict of float
        """
        data = self._validate_predict_data(X, sample_domain)
        y = np.asarray(y)
        if len(y) != len(data.X):
            raise ValueError(f"y has {len(y)} entries but X has {len(data.X)} rows.")
        slots = self._slots(data.sample_domain)
        rows = slots >= 0
        if not (slots == SLOT_A).any() or not (slots == SLOT_B).any():
            raise ValueError(
                f"Retrieval needs rows of both fitted domains {self.domains_.tolist()}; pass "
                "their sample_domain."
            )
        embedding = self._embed(data.X[rows]).numpy()
        return cross_domain_retrieval_scores(embedding, y[rows], slots[rows] == SLOT_A, k)

    def score(self, X, y, sample_domain=None):
        """Cross-domain P@1, the mean of the A->B and B->A directions (greater is better)."""
        return self.retrieval_scores(X, y, sample_domain, k=(1,))["P@1"]
