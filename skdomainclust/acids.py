"""ACIDS (Menapace, Lathuilière & Ricci, ECCV 2020): clustering from several unlabelled source
domains, then source-free adaptation to an unlabelled target domain.

Phase 1 (:meth:`ACIDSClusterer.fit` on source rows) trains an IIC network whose batch-norms
are domain-specific (one affine-free batch-norm per source domain and a shared affine, see
:mod:`skdomainclust.nn.dsbn`), maximising the mutual information between the cluster
assignments of two random views while minimising the mutual information between domain and
cluster (so that every domain spreads over the clusters alike). Phase 2
(:meth:`ACIDSClusterer.adapt` on target rows alone, no source data) estimates the target
slot's batch-norm statistics, then maximises the two-view mutual information on the target
with confident predictions of the plain view replaced by one-hot pivots.

The method is Menapace, Lathuilière & Ricci, "Learning to Cluster under Domain Shift" (ECCV
2020); the differences from the authors' code are listed in the class docstring.
"""

import numpy as np
import torch
from sklearn.base import ClusterMixin
from skorch.callbacks import Callback
from torch import nn

from ._base import DeepDomainEstimator, fit_context
from ._n_clusters import check_n_clusters_given
from ._net import DomainBalancedIterator, DomainNet
from ._params import (
    COMMON_CONSTRAINTS,
    Interval,
    Real,
    StrOptions,
    non_negative_int,
    non_negative_real,
    positive_int,
    positive_real,
    unit_interval,
)
from .losses.mutual_info import (
    domain_cluster_joint,
    ema_joint,
    mutual_information,
    pivot_one_hot,
    view_joint,
)
from .nn import MLP
from .nn.convnet import ConvNet
from .nn.dsbn import (
    convert_to_dsbn,
    domain_slots,
    dsbn_layers,
    estimate_slot_statistics,
    pool_slot_statistics,
)
from .nn.kmeans import kmeans, kmeans_restarts, squared_distances
from .nn.neighbours import within_domain_neighbours
from .nn.pca import PCAResidual, pca_linear
from .nn.sobel import SobelFilter
from .nn.views import iic_views, view_pair

__all__ = ["ACIDSClusterer"]

#: Heads of the network: the overclustering head A and the K-way head B.
HEAD_A, HEAD_B = 0, 1

#: Column of ``ACIDSModule.ema_ready`` for each kind of moving average.
_EMA = {"view": 0, "domain": 1}

#: ``init="kmeans"``: Lloyd rounds of the head starts, and the ratio of the rows' mean squared
#: distance to their centre to the softmax temperature (a row whose squared distance to the
#: next centre exceeds that to its own by that mean gets odds of e^KMEANS_SHARPNESS to 1).
KMEANS_ITERATIONS = 20
KMEANS_SHARPNESS = 10.0


# -- module ------------------------------------------------------------------------------------


class ACIDSModule(nn.Module):
    """Trunk with domain-specific batch-norm, two IIC heads of ``n_subheads`` subheads each.

    Parameters
    ----------
    trunk : nn.Module
        Feature extractor (its batch-norms already converted, or plain when
        ``domain_specific_bn`` is False in the estimator).
    n_features : int
        Width of the trunk's output.
    source_domains : sequence of int
        Source domain ids, sorted; slot ``i`` is ``source_domains[i]`` and the target slot is
        ``len(source_domains)``.
    head_sizes : (int, int)
        Clusters of head A (overclustering) and head B (the K-way head).
    n_subheads : int
    plain_view, transformed_view : nn.Module
        The two random views of a training batch.

    Notes
    -----
    The moving averages of the joint matrices live in buffers (``view_ema_{h}`` of shape
    ``(n_subheads, k_h, k_h)``, ``domain_ema_{h}`` of shape ``(n_subheads, M, k_h)``) so they
    travel with a pickled model; ``ema_ready`` says which hold a value yet.
    """

    def __init__(self, trunk, n_features, source_domains, head_sizes, n_subheads, plain_view,
                 transformed_view):
        super().__init__()
        self.trunk = trunk
        self.plain_view = plain_view
        self.transformed_view = transformed_view
        self.n_subheads = int(n_subheads)
        self.head_sizes = tuple(int(k) for k in head_sizes)
        self.heads = nn.ModuleList(nn.Linear(n_features, self.n_subheads * k)
                                   for k in self.head_sizes)
        self.register_buffer("source_domains",
                             torch.as_tensor(np.asarray(source_domains), dtype=torch.long))
        n_sources = len(source_domains)
        for h, k in enumerate(self.head_sizes):
            self.register_buffer(f"view_ema_{h}", torch.zeros(self.n_subheads, k, k))
            self.register_buffer(f"domain_ema_{h}", torch.zeros(self.n_subheads, n_sources, k))
        self.register_buffer("ema_ready", torch.zeros(len(self.head_sizes), 2, dtype=torch.bool))
        self._dsbn = dsbn_layers(trunk)

    @property
    def n_sources(self):
        return len(self.source_domains)

    @property
    def target_slot(self):
        return self.n_sources

    def slots(self, sample_domain):
        """Slot of every row: the index of its source domain, or the target slot if < 0."""
        sample_domain = torch.as_tensor(sample_domain, device=self.source_domains.device)
        target = sample_domain < 0
        position = torch.searchsorted(self.source_domains, sample_domain.clamp_min(0))
        position = position.clamp_max(self.n_sources - 1)
        known = self.source_domains[position] == sample_domain
        if not bool((known | target).all()):
            unknown = torch.unique(sample_domain[~(known | target)]).tolist()
            raise ValueError(
                f"sample_domain holds source domain ids {unknown} that were not seen in fit "
                f"(known: {self.source_domains.tolist()}); pass target rows with a negative id."
            )
        slots = torch.where(target, torch.full_like(position, self.target_slot), position)
        first = slots[:1]
        if len(slots) and bool((slots == first).all()):
            return int(first)  # one domain: the fast path of the batch-norm layers
        return slots

    def features(self, X, slots):
        with domain_slots(self._dsbn, slots):
            return self.trunk(X)

    def head_probs(self, features, head):
        """Softmax assignments of ``head``, shape ``(n_subheads, B, k)``."""
        logits = self.heads[head](features).view(len(features), self.n_subheads, -1)
        return torch.softmax(logits, dim=-1).transpose(0, 1)

    def forward(self, X, sample_domain=None, index=None, head=HEAD_B):
        slots = self.slots(sample_domain) if sample_domain is not None else self.target_slot
        return self.head_probs(self.features(X, slots), head)

    @torch.no_grad()
    def start_heads_from_kmeans(self, features, seed, init_probs=False):
        """Every subhead of both heads <- the nearest-centre rule of a k-means of ``features``.

        Subhead ``s`` of head ``h`` gets the logits ``-|z - c_j|^2 / tau`` of its own k-means
        (``k_h`` centres, seed ``seed + 100 h + s``), written as the head's ``Linear``
        (``2 c_j / tau``, ``-|c_j|^2 / tau``); ``tau`` is the mean squared distance of a row to
        its centre over :data:`KMEANS_SHARPNESS`: the temperature follows the clusters' own
        spread, whatever the scale of the features. With ``init_probs`` each k-means starts
        from the centres the subhead's current assignments give (their soft means), so
        cluster ``j`` stays cluster ``j``: the source-free re-centring of ``adapt``.
        """
        for h, k in enumerate(self.head_sizes):
            layer = self.heads[h]
            probs = self.head_probs(features, h) if init_probs else None
            for s in range(self.n_subheads):
                if init_probs:
                    mass = probs[s].sum(dim=0)
                    init = (probs[s].t() @ features) / mass.clamp_min(1e-12)[:, None]
                    labels, centres = kmeans(features, init, n_iter=KMEANS_ITERATIONS,
                                             empty="keep")
                else:
                    labels, centres, _ = kmeans_restarts(features, k, n_iter=KMEANS_ITERATIONS,
                                                         seed=seed + 100 * h + s)
                spread = squared_distances(features, centres).gather(1, labels[:, None]).mean()
                tau = spread.clamp_min(1e-12) / KMEANS_SHARPNESS
                rows = slice(s * k, (s + 1) * k)
                layer.weight[rows] = 2.0 * centres / tau
                layer.bias[rows] = -(centres * centres).sum(dim=1) / tau

    # -- moving averages --------------------------------------------------------------------

    def ema(self, kind, head):
        return getattr(self, f"{kind}_ema_{head}") if self.ema_ready[head, _EMA[kind]] else None

    def store_ema(self, kind, head, value):
        getattr(self, f"{kind}_ema_{head}").copy_(value.detach())
        self.ema_ready[head, _EMA[kind]] = True

    def reset_ema(self):
        self.ema_ready.zero_()

    # -- batch-norm statistics --------------------------------------------------------------

    def pool_source_statistics_into_target_slot(self):
        """Target slot <- the mixture of the source slots' statistics (before any target)."""
        pool_slot_statistics(self._dsbn, range(self.n_sources), self.target_slot)

    def estimate_target_statistics(self, X, batch_size):
        """Target slot <- batch statistics of ``X``, as the authors' "double eval" does."""
        estimate_slot_statistics(self, self._dsbn,
                                 lambda chunk: self.features(chunk, self.target_slot), X,
                                 batch_size, self.target_slot)


#: Output width of the default conv trunk for images.
DEFAULT_IMAGE_WIDTH = 128


def default_image_trunk(image_shape):
    """The trunk ``encoder=None`` builds for images of ``image_shape`` ``(C, H, W)``: the
    authors' grey Sobel input (:class:`~skdomainclust.nn.sobel.SobelFilter`, two gradient
    channels: colour is the nuisance between image domains), then a
    :class:`~skdomainclust.nn.convnet.ConvNet` with blocks of 16, 32 and 64 channels, as many
    as keep a feature map of 2 x 2 or more (one at least), and a 128-d output."""
    _, height, width = (int(n) for n in image_shape)
    if height != width:
        raise ValueError(f"the default image trunk needs square images, got {height}x{width};"
                         f" pass an encoder for other shapes.")
    blocks = max(1, min(3, int(np.log2(height)) - 1))
    return nn.Sequential(
        SobelFilter(),
        ConvNet(in_channels=SobelFilter.out_channels, widths=(16, 32, 64)[:blocks],
                out_features=DEFAULT_IMAGE_WIDTH, image_size=height),
    )


# -- net ---------------------------------------------------------------------------------------


class ACIDSNet(DomainNet):
    """skorch net of ACIDS: two views per batch, MI losses on heads A and B.

    ``phase`` is ``"source"`` (two-view MI minus the weighted domain-cluster MI) or
    ``"target"`` (two-view MI with one-hot pivots). With ``alternate_heads`` epoch ``e`` of a
    phase trains head A when ``e`` is even and head B when it is odd, as the authors' loop
    does; otherwise every step trains both heads (the sum of their losses).
    """

    def __init__(self, *args, phase="source", domain_weight=10.0, warmup_epochs=8,
                 ema_alpha=0.3, pivot_threshold=0.95, alternate_heads=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.phase = phase
        self.domain_weight = domain_weight
        self.warmup_epochs = warmup_epochs
        self.ema_alpha = ema_alpha
        self.pivot_threshold = pivot_threshold
        self.alternate_heads = alternate_heads
        self.phase_start = 0

    @property
    def phase_epoch(self):
        """0-based epoch index within the current phase (valid while training)."""
        return len(self.history) - 1 - self.phase_start

    @property
    def active_heads(self):
        """Heads trained in the current epoch."""
        if not self.alternate_heads:
            return [HEAD_A, HEAD_B]
        return [HEAD_A] if self.phase_epoch % 2 == 0 else [HEAD_B]

    def domain_lambda(self):
        """``domain_weight * min(1, e / warmup_epochs)`` in phase 1, 0 in phase 2."""
        if self.phase != "source" or not self.domain_weight:
            return 0.0
        ramp = 1.0 if self.warmup_epochs <= 0 else min(1.0, self.phase_epoch / self.warmup_epochs)
        return float(self.domain_weight) * ramp

    def infer(self, x, **fit_params):
        """Trunk features of both views of a training batch: ``(f_plain, f_tf, slots)``.

        With a neighbour table set (``neighbours_``, ``(N, k)`` row indices into the training
        rows ``neighbour_X_``), the transformed view is taken of a random one of each row's
        ``k`` nearest same-domain neighbours instead of the row itself.
        """
        module = self.module_
        slots = module.slots(x["sample_domain"])
        other = x["X"]
        table = getattr(self, "neighbours_", None)
        if table is not None:
            pick = torch.randint(table.shape[1], (len(other),), device=table.device)
            other = self.neighbour_X_[table[x["index"], pick]]
        plain = module.features(module.plain_view(x["X"]), slots)
        transformed = module.features(module.transformed_view(other), slots)
        return plain, transformed, slots

    def head_losses(self, plain, transformed, slots, head):
        """Per-subhead loss of ``head``: ``-MI(EMA P) + lambda_e MI(EMA J)`` (phase 1) or
        ``-MI(EMA P(pivots, p'))`` (phase 2); updates the head's moving averages."""
        module = self.module_
        plain = module.head_probs(plain, head)
        transformed = module.head_probs(transformed, head)
        if self.phase == "target":
            plain = pivot_one_hot(plain, self.pivot_threshold)
        joint = ema_joint(view_joint(plain, transformed), module.ema("view", head),
                          self.ema_alpha)
        module.store_ema("view", head, joint)
        losses = -mutual_information(joint)
        weight = self.domain_lambda()
        if weight:
            index = (torch.full((plain.shape[1],), slots, device=plain.device)
                     if isinstance(slots, int) else slots)
            domain = (domain_cluster_joint(plain, index, module.n_sources)
                      + domain_cluster_joint(transformed, index, module.n_sources)) / 2
            domain = ema_joint(domain, module.ema("domain", head), self.ema_alpha)
            module.store_ema("domain", head, domain)
            losses = losses + weight * mutual_information(domain)
        return losses

    def loss_terms(self, batch, **fit_params):
        """The mean subhead loss of each active head (``head_a``, ``head_b``); head B's
        per-subhead losses are kept in ``subhead_losses_`` for the subhead selection."""
        Xi, _ = batch
        features = self.infer(Xi)
        self.subhead_losses_ = None
        terms = {}
        for head in self.active_heads:
            losses = self.head_losses(*features, head)
            if head == HEAD_B:
                self.subhead_losses_ = losses.detach()
            terms[f"head_{'ab'[head]}"] = losses.mean()
        return terms


class SubheadLossRecorder(Callback):
    """Record each epoch's phase, heads and mean loss of each head-B subhead in the history.

    The running sums are dropped at the end of each epoch and the net's last per-subhead
    losses at the end of training: no tensor outside the module travels with the model.
    """

    def on_epoch_begin(self, net, **kwargs):
        self.total_, self.batches_ = 0.0, 0

    def on_batch_end(self, net, training=True, **kwargs):
        if training and net.subhead_losses_ is not None:
            self.total_ = self.total_ + net.subhead_losses_.cpu()
            self.batches_ += 1

    def on_epoch_end(self, net, **kwargs):
        net.history.record("phase", net.phase)
        net.history.record("heads", net.active_heads)
        if self.batches_:
            net.history.record("subhead_loss", (self.total_ / self.batches_).tolist())
        self.total_ = 0.0

    def on_train_end(self, net, **kwargs):
        net.subhead_losses_ = None


# -- estimator ---------------------------------------------------------------------------------


class ACIDSClusterer(ClusterMixin, DeepDomainEstimator):
    """Cluster from several unlabelled source domains, then adapt to a target without them.

    ``fit(X, sample_domain=...)`` on two or more unlabelled source domains trains the
    clustering network (phase 1); ``adapt(X_target)`` adapts it to an unlabelled target
    domain without any source data (phase 2). ``fit`` with target rows present
    (``sample_domain < 0``) runs both phases. ``y`` is accepted for API compatibility and
    ignored.

    The network (Menapace et al., ECCV 2020) is a trunk whose batch-norms are domain-specific (one
    affine-free batch-norm per source domain plus a target slot, with a shared affine), then
    two IIC heads of ``n_subheads`` linear-softmax subheads: head A with
    ``overcluster_factor * n_clusters`` clusters and head B with ``n_clusters``.

    - Phase 1 minimises, averaged over subheads, ``-MI(P) + lambda_e MI(J)``: ``P`` is the
      symmetrised joint of the assignments of two random views of each row, ``J`` the joint
      of domain and cluster (averaged over the two views), both moving-averaged over batches
      with ``ema_alpha``; ``lambda_e = domain_weight * min(1, e / warmup_epochs)``. Each batch
      holds ``batch_size`` rows of every source domain.
    - Phase 2 re-estimates the target slot's batch-norm statistics from the target rows
      (train-mode passes, no gradient), then minimises ``-MI(P(p~, p'))`` where ``p~`` is the
      plain view's assignment with rows of confidence ``>= pivot_threshold`` replaced by their
      one-hot argmax, moving-averaged with ``adapt_ema_alpha``. Batches hold
      ``batch_size * n_source_domains`` target rows (the authors use the same size in both
      phases).

    The two views of a row are ``plain_view(x)`` and ``transformed_view(x')``, where ``x'`` is
    ``x`` itself, or with ``n_neighbors > 0`` a random one of its ``n_neighbors`` nearest rows
    of the same domain (cosine similarity; found once per phase: in input space in phase 1,
    in ``adapt_neighbour_space`` in phase 2). Neighbour pairs are the stand-in for image
    augmentation on feature vectors (mixing with a same-domain neighbour); without them,
    noise-only views of feature vectors let IIC settle on arbitrary balanced partitions.

    With ``alternate_heads`` epoch ``e`` of a phase trains head A if ``e`` is even and head B
    if odd, as the authors' loop does; the default trains both heads at every step (the sum
    of their losses), which shares each trunk pass between the heads.

    **Prediction** uses head B's *best subhead*: the one with the lowest mean training loss
    over the last epoch that trained head B in the latest phase (``best_subhead_``; the
    per-subhead losses are in ``subhead_losses_``), the IIC rule. Rows are normalised by
    their domain's batch-norm slot: target rows (``sample_domain < 0``, the default) by the
    target slot, which holds the target statistics after ``adapt`` and the pooled statistics
    of the source slots before it.

    Parameters
    ----------
    n_clusters : int, default=None
        Number of clusters K (head B); required (``fit`` says so when it is missing). No
        default serves every target; without a known K,
        :func:`~skdomainclust.model_selection.estimate_n_clusters` gives a rough label-free
        estimate.
    overcluster_factor : int, default=5
        Head A has ``overcluster_factor * n_clusters`` clusters (the paper: 7 for PACS).
    n_subheads : int, default=5
    hidden_dims : tuple of int, default=(512, 256)
        Hidden widths of the default MLP trunk (ignored when ``encoder`` is given).
    encoder : None, nn.Module class or instance, default=None
        Trunk. None is an MLP over feature vectors and, for square images ``(n, C, H, W)``,
        the authors' grey Sobel input (:class:`~skdomainclust.nn.sobel.SobelFilter`) then a
        :class:`~skdomainclust.nn.convnet.ConvNet` of up to three blocks (16, 32, 64
        channels; fewer for images under 16 pixels) with a 128-d output; pass any module for
        other trunks (e.g. a ``ConvNet`` alone to keep colour). Its batch-norm layers are
        made domain-specific; an instance is copied, never modified.
    domain_specific_bn : bool, default=True
        Use domain-specific batch-norm; False keeps ordinary batch-norm shared by every
        domain (with ``domain_weight=0`` this is plain IIC on the pooled sources).
    domain_weight : float, default=10.0
        Weight of the domain-cluster MI term (0 disables domain alignment).
    warmup_epochs : int, default=8
        Epochs of the linear warm-up of ``domain_weight``.
    ema_alpha : float, default=0.3
        Moving-average factor of the joints in phase 1.
    adapt_ema_alpha : float, default=0.5
        Moving-average factor in phase 2.
    pivot_threshold : float, default=0.95
        Confidence above which a plain-view assignment becomes a one-hot pivot in phase 2.
    views : None or (nn.Module, nn.Module), default=None
        The plain and transformed views. None: for feature vectors Gaussian noise of 0.1 std
        (plain) and 0.25 std with 20% masking and 10% multiplicative jitter (transformed),
        noise scaled by each dimension's standard deviation on the training rows; for images
        a light crop (plain) and crop, flip and intensity jitter (transformed). See
        :mod:`skdomainclust.nn.views`.
    n_neighbors : int, default=10
        Same-domain neighbours the transformed view is drawn from; 0 uses the row itself.
    adapt_neighbour_space : {"input", "features"}, default="input"
        Where phase 2 finds the target neighbours: the input rows, or the trunk's embedding
        of them (after the target statistics are estimated).
    alternate_heads : bool, default=False
        Alternate heads A and B by epoch (the authors' schedule) instead of training both at
        every step.
    optimizer : {"adam", "adamw", "sgd"} or torch.optim.Optimizer class, default="adam"
    lr : float, default=3e-3
    adapt_lr : float or None, default=None
        Learning rate of phase 2 (None: ``lr``); the optimizer state is kept.
    weight_decay : float, default=0.0
    max_epochs : int, default=40
        Epochs of phase 1.
    adapt_epochs : int, default=40
        Epochs of phase 2; 0 only re-estimates the target batch-norm statistics (and, with
        the k-means start, re-centres the clusters on the target).
    batch_size : int, default=64
        Rows per source domain in a phase-1 batch.
    init : {"auto", "kmeans", "random"}, default="auto"
        How training starts. ``"kmeans"``: with the default MLP on feature vectors the trunk
        is :class:`~skdomainclust.nn.PCAResidual` (the PCA projection of the source rows on
        ``hidden_dims[-1]`` axes plus the MLP with a last ``Linear`` that starts at zero);
        every subhead of both heads starts as the nearest-centre rule of its own k-means of
        the pooled source features (seeded apart); and ``adapt``, once the target statistics
        are estimated, re-centres every cluster on the target rows (Lloyd's k-means on the
        target features, started from the soft means of the current assignments, so cluster
        ``j`` stays ``j``) before its training. Training then refines the structure the input
        already has instead of starting from a random partition. With images or a given
        ``encoder`` only the heads start from k-means (of the trunk's initial features).
        ``"random"``: PyTorch's initialisation, a random start as in the authors' code.
        ``"auto"``: ``"kmeans"`` for feature vectors, ``"random"`` for images. Whether the
        start was used is ``kmeans_start_``.
    device : {"auto", "cpu", "cuda", "cuda:N"}, default="auto"
    random_state : int, RandomState or None, default=None
    verbose : int, default=0

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Clusters of the rows of the last ``fit`` (or of ``adapt``'s target rows).
    best_subhead_ : int
        Head-B subhead used by ``predict``: the lowest mean training loss over the last
        epoch that trained head B in the latest phase (see **Prediction** above).
    subhead_losses_ : ndarray of shape (n_subheads,)
        Mean training loss per head-B subhead over the epoch that chose ``best_subhead_``.
    source_domains_ : ndarray of int
        Source domain ids seen in phase 1 (slot order).
    adapted_ : bool
        Whether phase 2 has run.
    kmeans_start_ : bool
        Whether training started from k-means (``init``).
    net_ : skorch.NeuralNet
        ``net_.history`` records each epoch's ``phase``, ``heads`` and ``subhead_loss``.
    n_features_in_ : int
    device_ : str

    Notes
    -----
    Differences from the authors' code (documented choices, not omissions): the trunk and
    views are adapted to feature vectors (images keep the authors' Sobel input), with the
    neighbour pairs above; the target statistics are estimated at the start of phase 2 only
    (strictly source-free), never during phase 1; the phase-2 moving averages start afresh
    rather than from the phase-1 ones; heads are trained jointly by default; with
    ``init="random"`` the subheads keep PyTorch's default initialisation (the authors'
    N(0, 0.01) suits a ResNet-18's large features, and left small MLP trunks stuck at the
    uniform assignment); the subhead
    is selected by training loss (the paper's rule is not in its code); ``lr`` is 3e-3 for
    small trunks (the authors use 1e-4 with a ResNet-18); on feature vectors the trunk and
    heads start from k-means of the input geometry and ``adapt`` re-centres the clusters on
    the target (``init``), where the authors' heads start at random.

    Examples
    --------
    >>> import numpy as np
    >>> from skdomainclust import ACIDSClusterer
    >>> rng = np.random.default_rng(0)
    >>> centres = 4 * rng.normal(size=(3, 5))
    >>> y = np.repeat(np.arange(3), 40)
    >>> X = np.concatenate([centres[y] + rng.normal(size=(120, 5)) + shift for shift in (0, 1, 2)])
    >>> sample_domain = np.repeat([0, 1, -1], 120)
    >>> model = ACIDSClusterer(n_clusters=3, max_epochs=10, adapt_epochs=4, random_state=0)
    >>> model.fit(X, sample_domain=sample_domain).labels_.shape
    (360,)
    """

    __metadata_request__adapt = {"sample_domain": True}
    _default_image_encoder = True

    _parameter_constraints = {
        **{name: COMMON_CONSTRAINTS[name] for name in (
            "hidden_dims", "encoder", "optimizer", "lr", "weight_decay", "max_epochs",
            "batch_size", "device", "random_state", "verbose")},
        "n_clusters": [None, positive_int(2)],
        "overcluster_factor": [positive_int()],
        "n_subheads": [positive_int()],
        "domain_specific_bn": ["boolean"],
        "domain_weight": [non_negative_real()],
        "warmup_epochs": [non_negative_int()],
        "ema_alpha": [unit_interval(closed="left")],
        "adapt_ema_alpha": [unit_interval(closed="left")],
        "pivot_threshold": [Interval(Real, 0, 1, closed="right")],
        "views": [None, tuple, list],
        "n_neighbors": [non_negative_int()],
        "adapt_neighbour_space": [StrOptions({"input", "features"})],
        "alternate_heads": ["boolean"],
        "adapt_lr": [None, positive_real()],
        "adapt_epochs": [non_negative_int()],
        "init": [StrOptions({"auto", "kmeans", "random"})],
    }

    def __init__(self, n_clusters=None, overcluster_factor=5, n_subheads=5, hidden_dims=(512, 256),
                 encoder=None, domain_specific_bn=True, domain_weight=10.0, warmup_epochs=8,
                 ema_alpha=0.3, adapt_ema_alpha=0.5, pivot_threshold=0.95, views=None,
                 n_neighbors=10, adapt_neighbour_space="input", alternate_heads=False,
                 optimizer="adam", lr=3e-3, adapt_lr=None, weight_decay=0.0, max_epochs=40,
                 adapt_epochs=40, batch_size=64, init="auto", device="auto", random_state=None,
                 verbose=0):
        self.n_clusters = n_clusters
        self.overcluster_factor = overcluster_factor
        self.n_subheads = n_subheads
        self.hidden_dims = hidden_dims
        self.encoder = encoder
        self.domain_specific_bn = domain_specific_bn
        self.domain_weight = domain_weight
        self.warmup_epochs = warmup_epochs
        self.ema_alpha = ema_alpha
        self.adapt_ema_alpha = adapt_ema_alpha
        self.pivot_threshold = pivot_threshold
        self.views = views
        self.n_neighbors = n_neighbors
        self.adapt_neighbour_space = adapt_neighbour_space
        self.alternate_heads = alternate_heads
        self.optimizer = optimizer
        self.lr = lr
        self.adapt_lr = adapt_lr
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.adapt_epochs = adapt_epochs
        self.batch_size = batch_size
        self.init = init
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # -- validation -------------------------------------------------------------------------

    def _check_n_clusters(self, n_rows, rows="rows"):
        if self.n_clusters > n_rows:
            raise ValueError(f"n_clusters={self.n_clusters} is larger than the number of "
                             f"{rows} ({n_rows}).")

    def _kmeans_start(self, image):
        """Whether this fit starts from k-means (``init``; "auto": feature vectors only)."""
        if self.init == "auto":
            return not image
        return self.init == "kmeans"

    # -- net building -----------------------------------------------------------------------

    def _build_trunk(self, X_source, start):
        """The trunk and its width; with a k-means start on the default MLP, a
        :class:`~skdomainclust.nn.PCAResidual`: the PCA projection of the source rows
        plus an MLP residual that starts at zero, so the start clusters the input geometry."""
        if self.encoder is None and X_source.ndim == 4:
            return default_image_trunk(X_source.shape[1:]), DEFAULT_IMAGE_WIDTH
        if not (start and self.encoder is None):
            return self._build_encoder(X_source.shape[1:])
        hidden = tuple(int(h) for h in self.hidden_dims)
        width = hidden[-1] if hidden else X_source.shape[1]
        # Every hidden block keeps its (domain-specific) batch-norm; the added last Linear is
        # the layer that starts at zero.
        residual = MLP(X_source.shape[1], hidden, out_features=width)
        return PCAResidual(pca_linear(torch.as_tensor(X_source), width), residual), width

    def _trunk_features(self, X, sample_domain):
        """The trunk's features of ``X`` in eval mode, each row through its own slot, on the
        net's device."""
        module = self.net_.module_.eval()
        return self._apply(lambda xb, db: module.features(xb, module.slots(db)), X,
                           sample_domain, device=self.net_.device).to(self.net_.device)

    def _start_heads(self, X, sample_domain, init_probs=False):
        """Heads <- k-means of the trunk's features of ``X`` (each row through its slot)."""
        features = self._trunk_features(X, sample_domain)
        seed = int(torch.randint(2**31 - 1 - 1000, ()).item())
        self.net_.module_.start_heads_from_kmeans(features, seed, init_probs=init_probs)

    @staticmethod
    def _scale_views(module, X):
        """Noise scales of the feature views from the rows being trained on."""
        for view in (module.plain_view, module.transformed_view):
            if hasattr(view, "set_scale"):
                view.set_scale(X)
                view.to(module.source_domains.device)

    # -- training ---------------------------------------------------------------------------

    @fit_context
    def fit(self, X, y=None, sample_domain=None):
        """Phase 1 on the source rows; then phase 2 on the target rows if there are any.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, C, H, W)
            Source (and optionally target) rows stacked.
        y : ignored
            Accepted for API compatibility (and validated for length); labels are never used.
        sample_domain : array-like of int
            ``>= 0`` a source domain id (two or more distinct ids needed), ``< 0`` target.

        Returns
        -------
        self
        """
        data = self._validate_fit_data(X, y, sample_domain, min_source_domains=2)
        source, target = data.source_mask, data.target_mask
        check_n_clusters_given(self, "source rows")
        self._check_n_clusters(int(source.sum()), rows="source rows")
        if target.any():
            self._check_n_clusters(int(target.sum()), rows="target rows")
        self.source_domains_ = data.source_domains
        image = data.X.ndim == 4
        start = self._kmeans_start(image)
        with self._training_context():
            encoder, width = self._build_trunk(data.X[source], start)
            if self.domain_specific_bn:
                encoder = convert_to_dsbn(encoder, len(self.source_domains_) + 1)
            plain, transformed = view_pair(self.views, iic_views(image),
                                           names=("plain", "transformed"))
            k = int(self.n_clusters)
            self.net_ = self._make_net(
                ACIDSNet, ACIDSModule,
                module__trunk=encoder,
                module__n_features=width,
                module__source_domains=self.source_domains_,
                module__head_sizes=(int(self.overcluster_factor) * k, k),
                module__n_subheads=self.n_subheads,
                module__plain_view=plain,
                module__transformed_view=transformed,
                iterator_train=DomainBalancedIterator,
                batch_size=self.batch_size,
                callbacks=[("subheads", SubheadLossRecorder())],
                progress="ACIDS (sources)",
                phase="source",
                domain_weight=self.domain_weight,
                warmup_epochs=self.warmup_epochs,
                ema_alpha=self.ema_alpha,
                pivot_threshold=self.pivot_threshold,
                alternate_heads=self.alternate_heads,
            )
            self.net_.initialize()
            self._scale_views(self.net_.module_, data.X[source])
            self.kmeans_start_ = start
            if start:
                self._start_heads(data.X[source], data.sample_domain[source])
            self._train_phase(data.X[source], data.sample_domain[source])
            self.net_.module_.pool_source_statistics_into_target_slot()
            self._select_subhead(keep_previous=False)
            self.adapted_ = False
            if target.any():
                self._adapt(data.X[target])
                self._select_subhead()
        self.labels_ = self._predict_rows(data.X, data.sample_domain)
        return self

    @fit_context(updates_fitted_state=True)
    def adapt(self, X, sample_domain=None):
        """Phase 2: adapt the fitted network to unlabelled target rows, without source data.

        Estimates the target batch-norm statistics of ``X``, then trains ``adapt_epochs``
        epochs of two-view mutual information with one-hot pivots. Only ``X`` is used; the
        source rows of ``fit`` are not kept and not needed.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, C, H, W)
            Target rows only.
        sample_domain : None, int or array-like of int
            Must be negative (target) if given.

        Returns
        -------
        self
        """
        data = self._validate_predict_data(X, sample_domain)
        if not data.target_mask.all():
            raise ValueError("adapt takes target rows only (sample_domain < 0): it is the "
                             "source-free phase.")
        if len(data.X) < 2:
            raise ValueError("adapt needs at least 2 target rows.")
        self._check_n_clusters(len(data.X), rows="target rows")
        with self._training_context():
            self._adapt(data.X)
        self._select_subhead()
        self.labels_ = self._predict_rows(data.X, data.sample_domain)
        return self

    def _adapt(self, X_target):
        net, module = self.net_, self.net_.module_
        n_sources = len(self.source_domains_)
        batch_size = int(self.batch_size) * n_sources
        X_target = torch.as_tensor(X_target, dtype=torch.float32, device=net.device)
        module.estimate_target_statistics(X_target, batch_size)
        if self.kmeans_start_:
            self._start_heads(X_target, np.full(len(X_target), -1, dtype=np.int64),
                              init_probs=True)
        self.adapted_ = True
        if not self.adapt_epochs:
            return
        self._scale_views(module, X_target)
        module.reset_ema()
        lr = self.lr if self.adapt_lr is None else self.adapt_lr
        for group in net.optimizer_.param_groups:
            group["lr"] = lr
        net.phase = "target"
        for name, callback in net.callbacks_:
            if name == "progress":  # the bar says which phase runs (verbose only)
                callback.desc = "ACIDS adapt (target, source-free)"
        net.ema_alpha = self.adapt_ema_alpha
        net.phase_start = len(net.history)
        net.batch_size = batch_size
        net.max_epochs = self.adapt_epochs
        self._train_phase(X_target, np.full(len(X_target), -1, dtype=np.int64),
                          space=self.adapt_neighbour_space)

    def _train_phase(self, X, sample_domain, space="input"):
        """Train the net on ``X`` for its ``max_epochs``; neighbour views when asked.

        The rows (and their neighbour table) are held by the net only while it trains, so
        no training data stays in the fitted model.
        """
        net = self.net_
        X = torch.as_tensor(X, dtype=torch.float32, device=net.device)
        domains = torch.as_tensor(sample_domain, dtype=torch.long, device=net.device)
        if self.n_neighbors:
            net.neighbour_X_ = X
            points = X
            if space == "features":  # the trunk's embedding, each row through its own slot
                points = self._trunk_features(X, sample_domain)
            net.neighbours_ = within_domain_neighbours(points, domains, self.n_neighbors)
        try:
            net.partial_fit({"X": X, "sample_domain": domains})
        finally:
            net.neighbour_X_ = net.neighbours_ = None

    def _select_subhead(self, keep_previous=True):
        """Best head-B subhead: lowest mean loss over the last head-B epoch of the last phase.

        Without such an epoch (e.g. one epoch with ``alternate_heads``) the choice of phase 1
        is kept after ``adapt`` (``keep_previous``), and subhead 0 is taken after phase 1,
        never a choice left over from an earlier ``fit``.
        """
        history = self.net_.history
        phase = self.net_.phase
        for row in reversed(history):
            if "subhead_loss" in row and row.get("phase") == phase:
                losses = np.asarray(row["subhead_loss"], dtype=float)
                break
        else:  # no head-B epoch in this phase (e.g. a single epoch): keep the previous choice
            if keep_previous and hasattr(self, "best_subhead_"):
                return
            losses = np.zeros(self.n_subheads)
        self.subhead_losses_ = losses
        self.best_subhead_ = int(np.argmin(losses))

    # -- inference --------------------------------------------------------------------------

    def _predict_rows(self, X, sample_domain):
        return self._proba_rows(X, sample_domain).argmax(dim=1).numpy()

    def _proba_rows(self, X, sample_domain):
        module = self.net_.module_.eval()
        subhead = self.best_subhead_
        return self._apply(lambda xb, db: module(xb, db, head=HEAD_B)[subhead], X,
                           sample_domain, device=self.net_.device)

    def predict_proba(self, X, sample_domain=None):
        """Cluster probabilities of the best subhead, shape (n_samples, n_clusters)."""
        data = self._validate_predict_data(X, sample_domain)
        return self._proba_rows(data.X, data.sample_domain).double().numpy()

    def predict(self, X, sample_domain=None):
        """Cluster of every row (target rows by default; see ``sample_domain``)."""
        data = self._validate_predict_data(X, sample_domain)
        return self._predict_rows(data.X, data.sample_domain)
