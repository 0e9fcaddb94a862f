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
The method is Hu & Lee, "Feature Representation Learning for Unsupervised Cross-domain Image
Retrieval" (ECCV 2022); the differences from the authors' code are listed in the class
docstring.
"""


import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from sklearn.base import ClusterMixin

from .._base import DeepDomainEstimator, EmbeddingTransformerMixin, fit_context
from .._n_clusters import check_n_clusters_given
from .._net import PairedDomainIterator
from .._params import (
    COMMON_CONSTRAINTS,
    StrOptions,
    Widths,
    non_negative_int,
    non_negative_real,
    positive_int,
    positive_real,
    unit_interval,
)
from ..metrics import cross_domain_retrieval_scores
from ..nn.pca import pca_linear
from ..nn.views import moco_views, view_pair
from ._network import SLOT_A, SLOT_B, UCDIRModule, UCDIRNet, UCDIRSchedule

__all__ = ["UCDIRRetriever", "order_domains"]


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


# -- estimator ---------------------------------------------------------------------------------


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

    **Training** (Hu & Lee, ECCV 2022). Per step, ``batch_size`` rows of A and of B go
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
    n_clusters : int, default=None
        Clusters per domain (the same in both: the distance-of-distance needs it); required
        (``fit`` says so when it is missing). No default serves every pair of domains;
        without a known K, :func:`~skdomainclust.model_selection.estimate_n_clusters` gives
        a rough label-free estimate.
    intersect_n_clusters : "auto" or tuple of int, default="auto"
        Further numbers of clusters (the authors' list of ``k``): each domain is also
        clustered into each of them, and the cluster-wise positives of a row are the rows
        that share its cluster in every clustering. Smaller, purer positive sets keep the
        cluster-wise loss from pulling a row towards the mis-clustered members of a coarse
        cluster, which costs precision at the top of the ranking. ``"auto"``:
        ``(2 * n_clusters,)`` when the smaller domain has that many rows, else ``()``. The
        prototypes, the confidence filter and the alignment losses use ``n_clusters``.
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
    init : {"auto", "pca", "random"}, default="auto"
        How the embedding starts. ``"pca"`` (feature vectors only): the embedding is a
        trainable linear map initialised to the PCA projection of the training rows on their
        ``embedding_dim`` leading axes, plus the trunk and head as a residual whose last
        layer starts at zero; before training, retrieval is therefore cosine retrieval on the
        (centred, projected) inputs, and training only has to improve on it. This stands in
        for the authors' pretrained backbone: a network trained from a random start first
        destroys the geometry good features already have. ``"random"``: trunk and head alone
        from a random initialisation. ``"auto"``: ``"pca"`` for feature vectors,
        ``"random"`` for images.
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
        Neighbour mixup of the views (a stand-in for image augmentation on feature
        vectors): before its random view, each row is mixed with a random one of its
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
    Differences from the authors' code, for feature vectors: a PCA projection of the inputs
    plus a zero-initialised MLP residual (``init="pca"``) instead of a MoCo-pretrained
    ResNet-50 (both make the first epoch retrieve with features that already carry
    semantics; from a random start the network first destroys them), and noise / masking /
    jitter views with in-domain neighbour mixup instead of image augmentations; no shuffled
    batch-norm (one batch-norm over the concatenated A and B rows); the banks are overwritten
    with fresh eval-mode embeddings at every re-clustering (the authors fill them from eval
    features once, then only with the training keys); the intersected clusterings default
    to ``n_clusters`` and its double (the authors pass their list of ``k`` by hand), and only
    the first defines the prototypes; k-means++ seeding in torch instead of faiss; the
    schedule is shorter (100 epochs, warm-up 20, saturation and alignment at 60, against
    200 / 20 / 100 / 100), the key momentum lower (0.99 against 0.999) and the learning rate
    higher (SGD 0.05 against 2e-4): the data sets are a few hundred to a few thousand rows,
    and a momentum of 0.999 makes the key encoder lag by ~1000 steps, more than most fits
    take.

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

    _parameter_constraints = {
        **{name: COMMON_CONSTRAINTS[name] for name in (
            "hidden_dims", "encoder", "optimizer", "lr", "momentum", "weight_decay",
            "max_epochs", "batch_size", "device", "random_state", "verbose")},
        "n_clusters": [None, positive_int(2)],
        "intersect_n_clusters": [StrOptions({"auto"}), Widths()],
        "embedding_dim": [positive_int()],
        "projection_dims": [Widths()],
        "views": [None, tuple, list],
        "init": [StrOptions({"auto", "pca", "random"})],
        "temperature": [positive_real()],
        "key_momentum": [unit_interval(closed="left")],
        "confidence_threshold": [unit_interval(closed="left")],
        **{name: [non_negative_real()] for name in (
            "instance_weight", "cluster_weight", "cluster_weight_start", "entropy_weight",
            "dd_weight")},
        "entropy_temperature": [positive_real()],
        "dd_temperature": [positive_real()],
        **{name: [non_negative_int()] for name in (
            "warmup_epochs", "saturation_epoch", "alignment_epoch", "mixup_neighbors")},
        "kmeans_n_init": [positive_int()],
        "kmeans_n_iter": [positive_int()],
        "mixup_share": [unit_interval()],
    }

    def __init__(self, n_clusters=None, intersect_n_clusters="auto", embedding_dim=128,
                 hidden_dims=(256,), projection_dims=(256,), encoder=None, init="auto",
                 views=None, temperature=0.2, key_momentum=0.99, confidence_threshold=0.2,
                 instance_weight=1.0, cluster_weight=1.0, cluster_weight_start=0.0,
                 entropy_weight=0.5, entropy_temperature=0.1, dd_weight=0.1, dd_temperature=0.01,
                 warmup_epochs=20, saturation_epoch=60, alignment_epoch=60, kmeans_n_init=5,
                 kmeans_n_iter=20, mixup_neighbors=10, mixup_share=1.0, optimizer="sgd", lr=0.05,
                 momentum=0.9, weight_decay=1e-4, max_epochs=100, batch_size=64, device="auto",
                 random_state=None, verbose=0):
        self.n_clusters = n_clusters
        self.intersect_n_clusters = intersect_n_clusters
        self.embedding_dim = embedding_dim
        self.hidden_dims = hidden_dims
        self.projection_dims = projection_dims
        self.encoder = encoder
        self.init = init
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

    def _check_params(self, domain_sizes, input_shape):
        """The checks that involve two parameters or the data (the table checks the rest)."""
        if self.saturation_epoch < self.warmup_epochs:
            raise ValueError(f"saturation_epoch ({self.saturation_epoch}) must be >= "
                             f"warmup_epochs ({self.warmup_epochs}).")
        check_n_clusters_given(self, "rows of each domain")
        if self.init == "pca" and len(input_shape) != 1:
            raise ValueError(f"init='pca' needs feature vectors, got rows of shape "
                             f"{tuple(input_shape)}; use init='random' (or 'auto') for images.")
        smallest = min(domain_sizes)
        for name, k in (("n_clusters", self.n_clusters),
                        *(("intersect_n_clusters", k)
                          for k in self._intersection(domain_sizes))):
            if k > smallest:
                raise ValueError(f"{name}: {k} clusters is more than the number of rows of "
                                 f"the smaller domain ({smallest}).")
            if k < 2:
                raise ValueError(f"{name}: every clustering needs at least 2 clusters, got {k}.")

    def _intersection(self, domain_sizes):
        """The further clusterings' numbers of clusters, ``"auto"`` resolved."""
        if self.intersect_n_clusters != "auto":
            return tuple(int(k) for k in self.intersect_n_clusters)
        finer = 2 * int(self.n_clusters)
        return (finer,) if finer <= min(domain_sizes) else ()

    # -- fit --------------------------------------------------------------------------------

    @fit_context
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
        self._check_params((len(rows_a), len(rows_b)), data.X.shape[1:])
        self.domains_ = np.array([domain_a, domain_b], dtype=np.int64)
        self.fit_rows_ = (rows_a, rows_b)
        X_train = np.concatenate([data.X[rows_a], data.X[rows_b]])
        slots = np.repeat(np.array([SLOT_A, SLOT_B], dtype=np.int64),
                          [len(rows_a), len(rows_b)])
        image = data.X.ndim == 4
        with self._training_context():
            encoder, width = self._build_encoder(data.X.shape[1:])
            train_X = torch.as_tensor(X_train, dtype=torch.float32)
            skip = None
            if self.init == "pca" or (self.init == "auto" and not image):
                skip = pca_linear(train_X, int(self.embedding_dim))
            query_view, key_view = view_pair(self.views, moco_views(image),
                                             names=("query", "key"))
            schedule = UCDIRSchedule(
                warmup_epochs=self.warmup_epochs, saturation_epoch=self.saturation_epoch,
                alignment_epoch=self.alignment_epoch, cluster_weight=self.cluster_weight,
                cluster_weight_start=self.cluster_weight_start,
                entropy_weight=self.entropy_weight, dd_weight=self.dd_weight,
                kmeans_n_init=self.kmeans_n_init, kmeans_n_iter=self.kmeans_n_iter)
            self.net_ = self._make_net(
                UCDIRNet, UCDIRModule,
                module__encoder=encoder,
                module__n_features=width,
                module__embedding_dim=int(self.embedding_dim),
                module__projection_dims=tuple(self.projection_dims),
                module__domain_sizes=(len(rows_a), len(rows_b)),
                module__n_clusters=int(self.n_clusters),
                module__query_view=query_view,
                module__key_view=key_view,
                module__skip=skip,
                module__intersect_n_clusters=self._intersection(
                    (len(rows_a), len(rows_b))),
                iterator_train=PairedDomainIterator,
                batch_size=self.batch_size,
                callbacks=[("ucdir", schedule)],
                progress="UCDIR",
                temperature=self.temperature,
                key_momentum=self.key_momentum,
                confidence_threshold=self.confidence_threshold,
                instance_weight=self.instance_weight,
                entropy_temperature=self.entropy_temperature,
                dd_temperature=self.dd_temperature,
                mixup_neighbors=int(self.mixup_neighbors),
                mixup_share=float(self.mixup_share),
            )
            self.net_.initialize()
            module = self.net_.module_
            device = self.net_.device
            for view in (module.query_view, module.key_view):
                if hasattr(view, "set_scale"):
                    view.set_scale(X_train)
                    view.to(device)
            train_X = train_X.to(device)
            self.net_.partial_fit({"X": train_X,
                                   "sample_domain": torch.as_tensor(slots, device=device)})
            # The gallery and the final prototypes, from the trained key encoder.
            module.refresh(train_X, cluster=True,
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
