"""CCN for cross-task transfer (Hsu, Lv & Kira, ICLR 2018): cluster an unlabelled target with
pairwise similarity learned on other classes.

The module and its training step are the clustering network's (``_network``); this file is the
estimator and NDC, its estimate of the number of clusters.
"""

import functools

import numpy as np
from sklearn.base import ClusterMixin

from .._base import DeepDomainEstimator, fit_context
from .._contract import MASK_LABEL
from .._geometry import geometry_agreement, input_geometry, warn_if_geometry_disagrees
from .._net import seed_from_random_state
from .._params import COMMON_CONSTRAINTS, Fractions, positive_int, positive_real
from ._network import (
    NETWORK_CONSTRAINTS,
    CCNNet,
    ClusterModule,
    SameInputCluster,
    resolve_similarity,
)
from ._training import StepSchedule, build_augment, step_decay
from .similarity import AUGMENT_CONSTRAINT

__all__ = ["CCNClusterer", "n_clusters_estimate"]


def n_clusters_estimate(labels, n_clusters):
    """NDC: the number of clusters holding at least ``N / n_clusters`` of the ``N`` rows.

    CCN's estimate of the number of clusters when the clustering network has ``n_clusters``
    outputs, far more than needed (Hsu et al. use 100): outputs the objective leaves (nearly)
    empty are not counted.

    Examples
    --------
    >>> n_clusters_estimate([0, 0, 0, 1, 1, 1, 2], n_clusters=4)
    2
    """
    labels = np.asarray(labels)
    if labels.size == 0:
        return 0
    counts = np.unique(labels, return_counts=True)[1]
    return int(np.sum(counts >= len(labels) / n_clusters))


class CCNClusterer(ClusterMixin, DeepDomainEstimator):
    """Cluster an unlabelled target with pairwise similarity learned elsewhere (CCN, cross-task).

    A clustering network ``f`` (an encoder and a linear head with ``n_clusters`` outputs,
    ``p_i = softmax(f(x_i))``) is trained on the target rows alone. For each batch the
    similarity network G predicts which pairs of rows belong together (``s_ij`` in {0, 1}) and
    ``f`` minimises the learnable clustering objective over all ``B^2`` ordered pairs:

    ``l_ij = s_ij KL(p_i* || p_j) + (1 - s_ij) max(0, margin - KL(p_i* || p_j))`` (``loss="kcl"``)

    or the meta classification likelihood ``-log`` of ``p_i . p_j`` (``s_ij = 1``) or of
    ``1 - p_i . p_j`` (``loss="mcl"``). The classes of G's training data need not be the
    target's (Omniglot: G learns on 30 alphabets, each of 20 new alphabets is clustered).

    ``n_clusters`` may be far larger than the true number of clusters: the objective leaves
    the unneeded outputs (nearly) empty, and ``n_clusters_estimated_`` counts the clusters
    holding at least ``N / n_clusters`` rows (NDC).

    Target rows are those with ``sample_domain < 0`` (with ``y == -1`` when ``sample_domain``
    is omitted); when there are none, every row is clustered.

    Parameters
    ----------
    n_clusters : int or None, default=None
        Outputs of the clustering network: the number of clusters, or an upper bound on it
        when it is unknown (the paper: 100 for Omniglot's 20 to 47 characters per alphabet).
        None: the number of classes of the labelled source rows of the fit data, the
        cross-domain workflow, where the target shares the source classes (with a fitted
        ``similarity`` and no labelled rows, ``fit`` asks for it). An upper bound far above
        the truth costs accuracy when G is weak: on Office-Caltech SURF amazon -> dslr, 100
        outputs fill 58 clusters at 29 % accuracy, 10 fill 10 at 33 %.
    similarity : PairwiseSimilarity, callable or None, default=None
        Where the pair targets come from:

        - a fitted :class:`PairwiseSimilarity` (the cross-task workflow: fit it on the
          auxiliary labelled data first). ``sklearn.base.clone`` (and so ``GridSearchCV``)
          unfits estimator parameters: wrap it in ``sklearn.frozen.FrozenEstimator`` to keep
          it fitted through cloning;
        - an unfitted :class:`PairwiseSimilarity`: a clone is fitted on the labelled source
          rows of the fit data (the auxiliary set stacked as a source domain);
        - None: as above with ``PairwiseSimilarity()``'s defaults;
        - a callable ``similarity(X_batch) -> (B, B)`` array in [0, 1], called with each
          batch's un-augmented rows.
    loss : {"kcl", "mcl"}, default="kcl"
        The learnable clustering objective (KCL, the paper's) or MCL (the authors' code's
        default).
    margin : float, default=2.0
        Hinge margin of dissimilar pairs in KCL.
    similarity_bn : {"batch", "adapt", "frozen"}, default="batch"
        Batch-norm of G on the target. "batch": G stays in training mode and normalises each
        target batch with its own statistics, as the authors do (G's weights stay frozen and
        the fitted G is never modified); G sees the augmented batch. "adapt": its statistics
        are re-estimated once on all target rows, then G scores each batch's pairs from cached
        embeddings (G runs once, not every step). "frozen": G's own statistics, cached likewise.
    geometry : {None, "kmeans"}, default=None
        None: the pair targets are G's. "kmeans": a pair counts as similar only when G says
        so *and* k-means on the target's input rows (``n_clusters`` clusters) puts both rows
        in one cluster, so G may split the input's clusters but never join two. The remedy
        when G does not transfer to the target (see ``geometry_agreement_``): with G fitted
        on five of scikit-learn's digits and the other five clustered (K = 5, both ways
        round, seeds 0-2), ``None`` averages 47 %, ``"kmeans"`` 89 % and k-means 89 %.
        Meant for a known K and input features with class structure (pretrained
        embeddings), not raw pixels.
    hidden_dims : tuple of int, default=(512, 256)
        Hidden widths of the default MLP encoder (ignored when ``encoder`` is given).
    encoder : None, nn.Module class or instance, default=None
        Feature extractor of ``f``; None builds an MLP (with batch-norm, which the objective
        needs to converge) over feature vectors. Pass a module (e.g.
        :class:`skdomainclust.nn.convnet.ConvNet`) for images. An instance is copied.
    dropout : float, default=0.0
        Dropout of the default encoder.
    augment : "auto", None or nn.Module, default="auto"
        Augmentation of training batches. "auto": random resized crops (area 0.85 to 1) for
        images, Gaussian noise of 0.1 per-dimension standard deviation for feature vectors
        (:class:`~skdomainclust.nn.views.FeatureView`). A module is copied; its ``set_scale``
        (when present) is called with the target rows.
    optimizer : {"adam", "adamw", "sgd"} or torch.optim.Optimizer class, default="adam"
    lr : float, default=1e-3
    lr_decay_at : tuple of float, default=(2/3,)
        Fractions of training at which the learning rate is multiplied by 0.1 (the authors:
        epoch 100 of 150).
    weight_decay : float, default=0.0
    max_epochs : int, default=100
    batch_size : int, default=100
        Target rows per step (the authors: 100; keep it large enough for similar pairs to
        occur).
    device : {"auto", "cpu", "cuda", "cuda:N"}, default="auto"
    random_state : int, RandomState or None, default=None
        Seeds initialisation, shuffling and augmentation (and G's fit when one is fitted
        here).
    verbose : int, default=0

    Attributes
    ----------
    labels_ : ndarray of int64, shape (n_samples,)
        Cluster (an output index in ``0 .. n_clusters - 1``) of every target row of the fit
        data, -1 on the other rows.
    n_clusters_ : int
        Outputs of the clustering network (``n_clusters``, or the number of labelled source
        classes when it is None).
    n_clusters_estimated_ : int
        NDC on the target rows: clusters holding at least ``n_target / n_clusters_`` rows.
    geometry_agreement_ : float
        NMI between ``labels_`` and k-means (``n_clusters_`` clusters) on the target's input
        rows: how much of the structure the input already has the clustering kept.
    geometry_stability_ : float
        ARI between two k-means runs of the target's input rows from different seeds: near 1
        where the features hold clusters (digits 0.97, pretrained Office-31 features about
        0.6), low where they hold little (Omniglot pixels 0.25-0.42). With a stability of at
        least 0.5 and an agreement below 0.5, ``fit`` warns
        (:class:`~skdomainclust.exceptions.GeometryDisagreementWarning`): G may not transfer
        to these rows, and k-means or ``geometry="kmeans"`` may do better.
    similarity_ : PairwiseSimilarity or None
        The G used (fitted here or given); None for a callable.
    net_ : skorch.NeuralNet
    n_features_in_ : int
    device_ : str

    Examples
    --------
    The cross-task workflow: G learns "same class or not" on a labelled auxiliary set, then
    the target, whose classes G never saw, is clustered with K unknown.

    >>> import numpy as np
    >>> from skdomainclust import CCNClusterer, PairwiseSimilarity
    >>> from skdomainclust.datasets import make_digits_shift
    >>> digits = make_digits_shift(domains=("original",))
    >>> auxiliary = digits.y < 5                       # G learns on digits 0-4 ...
    >>> G = PairwiseSimilarity(max_epochs=10, random_state=0)
    >>> G = G.fit(digits.X[auxiliary], digits.y[auxiliary])
    >>> model = CCNClusterer(n_clusters=20, similarity=G, max_epochs=10, random_state=0)
    >>> model = model.fit(digits.X[~auxiliary])       # ... and clusters digits 5-9
    >>> model.labels_.shape == (int((~auxiliary).sum()),)
    True

    Inside ``GridSearchCV``, keep G fitted through cloning with
    ``similarity=sklearn.frozen.FrozenEstimator(G)``. Alternatively stack the auxiliary rows
    as a labelled source domain and leave ``similarity=None``: G is then fitted on them.
    """

    _warn_if_all_source = True

    _parameter_constraints = {
        **{name: COMMON_CONSTRAINTS[name] for name in (
            "hidden_dims", "encoder", "dropout", "optimizer", "lr", "weight_decay",
            "max_epochs", "batch_size", "device", "random_state", "verbose")},
        **NETWORK_CONSTRAINTS,
        "n_clusters": [None, positive_int()],
        "margin": [positive_real()],
        "augment": AUGMENT_CONSTRAINT,
        "lr_decay_at": [Fractions()],
    }

    def __init__(self, n_clusters=None, similarity=None, loss="kcl", margin=2.0,
                 similarity_bn="batch", geometry=None, hidden_dims=(512, 256), encoder=None,
                 dropout=0.0,
                 augment="auto", optimizer="adam", lr=1e-3, lr_decay_at=(2 / 3,),
                 weight_decay=0.0, max_epochs=100, batch_size=100, device="auto",
                 random_state=None, verbose=0):
        self.n_clusters = n_clusters
        self.similarity = similarity
        self.loss = loss
        self.margin = margin
        self.similarity_bn = similarity_bn
        self.geometry = geometry
        self.hidden_dims = hidden_dims
        self.encoder = encoder
        self.dropout = dropout
        self.augment = augment
        self.optimizer = optimizer
        self.lr = lr
        self.lr_decay_at = lr_decay_at
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    @fit_context
    def fit(self, X, y=None, sample_domain=None):
        """Cluster the target rows of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, C, H, W)
        y : array-like of shape (n_samples,) or None
            Used only to fit G on labelled source rows when ``similarity`` is not fitted;
            target rows are ignored.
        sample_domain : array-like of int, int or None
            ``< 0`` marks the rows to cluster.

        Returns
        -------
        self
        """
        data = self._validate_fit_data(X, y, sample_domain)
        target = data.target_mask if data.target_mask.any() else np.ones(len(data.X), bool)
        X_target = data.X[target]
        n_outputs = self._n_outputs(data)
        if n_outputs > len(X_target):
            raise ValueError(f"n_clusters={n_outputs} exceeds the {len(X_target)} rows "
                             "to cluster.")
        with self._training_context():
            source, self.similarity_ = resolve_similarity(self, data, X_target)
            input_labels, stability = input_geometry(
                X_target, n_outputs, seed=seed_from_random_state(self.random_state),
                device=self.device_)
            if self.geometry == "kmeans":
                source = SameInputCluster(source, input_labels)
            encoder, width = self._build_encoder(X_target.shape[1:])
            self.net_ = self._make_net(
                CCNNet, ClusterModule,
                module__encoder=encoder,
                module__n_features=width,
                module__n_outputs=n_outputs,
                module__augment=build_augment(self.augment, X_target),
                similarity=source,
                loss=self.loss,
                margin=self.margin,
                lr_factor=functools.partial(step_decay, milestones=tuple(self.lr_decay_at)),
                batch_size=self.batch_size,
                callbacks=[("schedule", StepSchedule())],
            )
            try:
                self.net_.fit({"X": X_target,
                               "sample_domain": np.full(len(X_target), -1, dtype=np.int64)})
            finally:
                self.net_.similarity = None  # cached embeddings and G's copy stay out of pickles
        target_labels = self._predict(X_target, None, validated=True)
        self.labels_ = np.full(len(data.X), MASK_LABEL, dtype=np.int64)
        self.labels_[target] = target_labels
        self.n_clusters_ = n_outputs
        self.n_clusters_estimated_ = n_clusters_estimate(target_labels, n_outputs)
        self.geometry_agreement_ = geometry_agreement(input_labels, target_labels)
        self.geometry_stability_ = stability
        warn_if_geometry_disagrees(self, (
            "The pair similarity G probably does not transfer to these rows: compare with "
            "KMeans" + ("." if self.geometry == "kmeans" else
                        ", or refit with geometry='kmeans' (G's pairs only inside the "
                        "input's k-means clusters).")), stacklevel=3)
        return self

    def _n_outputs(self, data):
        """``n_clusters``, or the number of labelled source classes when it is None."""
        if self.n_clusters is not None:
            return int(self.n_clusters)
        classes = np.unique(data.y[data.labelled_mask]) if data.y is not None else []
        if len(classes) < 2:
            raise ValueError(
                "CCNClusterer needs n_clusters: the fit data holds no labelled source classes "
                "to take it from. Give the number of target clusters, or an upper bound on it "
                "when it is unknown (the paper: 100), and read n_clusters_estimated_."
            )
        return len(classes)

    def _logits(self, X, sample_domain=None, validated=False):
        return self._forward(X, sample_domain, lambda module, xb, db: module(xb),
                             validated=validated)

    def predict_proba(self, X, sample_domain=None):
        """Cluster probabilities ``softmax(f(x))`` of every row, shape (n_samples, n_clusters)."""
        return self._probabilities(self._logits(X, sample_domain))

    def predict(self, X, sample_domain=None):
        """Cluster of every row: ``argmax f(x)`` (no augmentation)."""
        return self._predict(X, sample_domain)

    def _predict(self, X, sample_domain, validated=False):
        return self._logits(X, sample_domain, validated).argmax(dim=1).numpy().astype(np.int64)

    def fit_predict(self, X, y=None, sample_domain=None):
        """Fit and return ``labels_`` (clusters of the target rows, -1 elsewhere)."""
        return self.fit(X, y, sample_domain=sample_domain).labels_
