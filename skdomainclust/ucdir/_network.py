"""UCDIR's network and its training (Hu & Lee, ECCV 2022): the query and momentum key
encoders with a memory bank and prototypes per domain, the step's loss terms, and the
per-epoch schedule (k-means refresh, weights, learning rate)."""


import copy
import math

import torch
import torch.nn.functional as F
from skorch.callbacks import Callback
from torch import nn

from .._net import DomainNet, forward_in_chunks
from ..losses.contrastive import (
    cluster_contrastive_loss,
    distance_of_distance_loss,
    instance_contrastive_loss,
    prototype_confidence,
    prototype_entropy,
)
from ..nn import MLP
from ..nn.kmeans import kmeans_restarts
from ..nn.neighbours import within_domain_neighbours
from ..nn.pca import PCAResidual

__all__ = ["SLOT_A", "SLOT_B", "UCDIRModule", "UCDIRNet", "UCDIRSchedule"]

#: Slots of the two domains inside the network.
SLOT_A, SLOT_B = 0, 1


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
    skip : nn.Module or None, default=None
        A map to ``embedding_dim`` (:func:`pca_linear`); when given, the encoder is
        :class:`PCAResidual` of it and of the trunk and head.
    intersect_n_clusters : tuple of int, default=()
        Further numbers of clusters: each domain is also clustered into each of them, and
        the cluster-wise positives of a row are the rows that share its cluster in every
        clustering (the cells of their intersection, ``cells_a`` / ``cells_b``).

    Notes
    -----
    Buffers (they travel with a pickled model): ``bank_a`` ``(N_A, D)`` and ``bank_b``
    ``(N_B, D)``; ``prototypes`` ``(2, K, D)`` (L2-normalised k-means centres of A and B);
    ``assignment_a`` / ``assignment_b``, the k-means cluster of every bank row; ``cells_a`` /
    ``cells_b``, its cell in the intersection of the clusterings (the assignment itself
    without ``intersect_n_clusters``); ``clustered``,
    whether the prototypes hold a clustering yet. The key encoder has no trainable parameter.
    """

    def __init__(self, encoder, n_features, embedding_dim, projection_dims, domain_sizes,
                 n_clusters, query_view, key_view, skip=None, intersect_n_clusters=()):
        super().__init__()
        head = MLP(n_features, tuple(projection_dims), out_features=embedding_dim,
                   batch_norm=False)
        self.encoder_q = nn.Sequential(encoder, head)
        if skip is not None:
            self.encoder_q = PCAResidual(skip, self.encoder_q)
        self.encoder_k = copy.deepcopy(self.encoder_q)
        for parameter in self.encoder_k.parameters():
            parameter.requires_grad_(False)
        self.query_view = query_view
        self.key_view = key_view
        n_a, n_b = (int(n) for n in domain_sizes)
        self.n_a = n_a
        self.n_clusters = int(n_clusters)
        self.intersect_n_clusters = tuple(int(k) for k in intersect_n_clusters)
        self.register_buffer("bank_a", torch.zeros(n_a, embedding_dim))
        self.register_buffer("bank_b", torch.zeros(n_b, embedding_dim))
        self.register_buffer("prototypes", torch.zeros(2, int(n_clusters), embedding_dim))
        self.register_buffer("assignment_a", torch.zeros(n_a, dtype=torch.long))
        self.register_buffer("assignment_b", torch.zeros(n_b, dtype=torch.long))
        self.register_buffer("cells_a", torch.zeros(n_a, dtype=torch.long))
        self.register_buffer("cells_b", torch.zeros(n_b, dtype=torch.long))
        self.register_buffer("clustered", torch.zeros((), dtype=torch.bool))

    def bank(self, slot):
        return self.bank_a if slot == SLOT_A else self.bank_b

    def assignment(self, slot):
        return self.assignment_a if slot == SLOT_A else self.assignment_b

    def cells(self, slot):
        return self.cells_a if slot == SLOT_A else self.cells_b

    def max_cells(self, slot):
        """An upper bound of the number of cells of domain ``slot`` (known without a sync)."""
        return min(len(self.cells(slot)), math.prod((self.n_clusters,
                                                     *self.intersect_n_clusters)))

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
    def refresh(self, X, *, cluster=True, n_init=5, n_iter=20, seed=None):
        """Banks <- eval-mode key embeddings of the training rows ``X`` (A rows then B rows);
        with ``cluster``, prototypes, assignments and cells <- k-means of each domain's
        embeddings into ``n_clusters`` (and each of ``intersect_n_clusters``).

        The k-means runs on the L2-normalised embeddings and its centres are L2-normalised
        into prototypes (the authors' ``run_kmeans``); domain B's seed is ``seed + 1000``,
        the ``j``-th further clustering's ``seed + 1000 * slot + 100 * j``.
        """
        embedding = self.embed_rows(X)
        self.bank_a.copy_(embedding[:self.n_a])
        self.bank_b.copy_(embedding[self.n_a:])
        if not cluster:
            return
        if seed is None:
            seed = int(torch.randint(2**31 - 1, ()).item())
        for slot, points in ((SLOT_A, self.bank_a), (SLOT_B, self.bank_b)):
            labels, centres, _ = kmeans_restarts(points, self.n_clusters, n_init=n_init,
                                                 n_iter=n_iter, seed=seed + 1000 * slot)
            self.prototypes[slot].copy_(F.normalize(centres, dim=1))
            self.assignment(slot).copy_(labels)
            clusterings = [labels]
            for j, k in enumerate(self.intersect_n_clusters, start=1):
                clusterings.append(kmeans_restarts(
                    points, k, n_init=n_init, n_iter=n_iter,
                    seed=seed + 1000 * slot + 100 * j)[0])
            # A row's cell: its tuple of clusters, renumbered 0..C-1.
            _, cells = torch.unique(torch.stack(clusterings, dim=1), dim=0,
                                    return_inverse=True)
            self.cells(slot).copy_(cells)
        self.clustered.fill_(True)


# -- net ---------------------------------------------------------------------------------------


class UCDIRNet(DomainNet):
    """skorch net of UCDIR: one step writes the keys into the banks, then applies the losses.

    The weights of the epoch (``epoch_weights_``) are set by :class:`UCDIRSchedule`; the parts
    of the loss of the last step are kept in ``loss_parts_`` for the history.
    """

    def __init__(self, *args, temperature=0.2, key_momentum=0.99,
                 confidence_threshold=0.2, instance_weight=1.0, entropy_temperature=0.1,
                 dd_temperature=0.01, mixup_neighbors=0, mixup_share=1.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.mixup_neighbors = mixup_neighbors
        self.mixup_share = mixup_share
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

    def ucdir_terms(self, q, k, slot, local):
        """The weighted terms of a batch's loss (queries ``q``, keys ``k``) and its
        diagnostics (the unweighted parts and the share of confident rows)."""
        module = self.module_
        weights = self.epoch_weights_
        tau = self.temperature
        clustered = bool(module.clustered)
        parts = {}
        terms = {}
        queries = []
        for s, name in ((SLOT_A, "a"), (SLOT_B, "b")):
            rows = slot == s
            q_s, k_s, local_s = q[rows], k[rows], local[rows]
            queries.append(q_s)
            bank = module.bank(s)
            # One (B, N) product serves both losses of the domain (and one backward).
            similarities = q_s @ bank.t()
            inst = instance_contrastive_loss(q_s, k_s, bank, local_s, tau,
                                             similarities=similarities)
            parts[f"inst_{name}"] = inst.detach()
            domain_loss = self.instance_weight * inst
            if clustered and weights["cluster"]:
                labels = module.assignment(s)[local_s]
                keep = (prototype_confidence(k_s, module.prototypes[s], labels, tau)
                        > self.confidence_threshold)
                cells = module.cells(s)
                cw = cluster_contrastive_loss(q_s, bank, cells, cells[local_s], keep, tau,
                                              n_clusters=module.max_cells(s),
                                              similarities=similarities)
                parts[f"cw_{name}"] = cw.detach()
                parts[f"kept_{name}"] = keep.float().mean()
                domain_loss = domain_loss + weights["cluster"] * cw
            terms[f"domain_{name}"] = domain_loss / 2
        if clustered and weights["entropy"]:
            entropy = torch.stack([
                prototype_entropy(q_s, module.prototypes[s], self.entropy_temperature)
                for q_s in queries for s in (SLOT_A, SLOT_B)]).mean()
            parts["entropy"] = entropy.detach()
            terms["entropy"] = weights["entropy"] * entropy
        if clustered and weights["dd"]:
            dd = torch.stack([
                distance_of_distance_loss(q_s, module.prototypes[SLOT_A],
                                          module.prototypes[SLOT_B], self.dd_temperature)
                for q_s in queries]).mean()
            parts["dd"] = dd.detach()
            terms["dd"] = weights["dd"] * dd
        return terms, parts

    def loss_terms(self, batch, **fit_params):
        Xi, _ = batch
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
        terms, self.loss_parts_ = self.ucdir_terms(q, k, slot, local)
        return terms

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
            slots = (torch.arange(len(net.train_X_), device=net.device) >= net.module_.n_a)
            net.neighbours_ = within_domain_neighbours(net.train_X_, slots, net.mixup_neighbors)
        net.module_.refresh(net.train_X_, cluster=False)

    def on_epoch_begin(self, net, **kwargs):
        epoch = len(net.history) - 1
        factor = 0.5 * (1.0 + math.cos(math.pi * epoch / max(net.max_epochs, 1)))
        for group in net.optimizer_.param_groups:
            group["lr"] = net.lr * factor
        weights = self.weights_at(epoch)
        uses_clusters = (self.cluster_weight or self.cluster_weight_start or self.entropy_weight
                         or self.dd_weight)
        if epoch >= self.warmup_epochs and uses_clusters:
            net.module_.refresh(net.train_X_, cluster=True,
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
