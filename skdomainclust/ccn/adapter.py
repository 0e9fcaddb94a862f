"""CCN+ and CCN++ for cross-domain transfer (Hsu, Lv & Kira, ICLR 2018): classify an unlabelled
target with source labels and learned pairwise similarity.

The module and its training step are the clustering network's (``_network``); this file is the
estimator.
"""

import numpy as np
from sklearn.base import ClassifierMixin

from .._base import DeepDomainEstimator, EmbeddingTransformerMixin, TargetAccuracyMixin, fit_context
from .._contract import MASK_LABEL
from .._geometry import input_geometry
from .._net import SourceTargetIterator, seed_from_random_state
from .._params import (
    COMMON_CONSTRAINTS,
    Widths,
    non_negative_real,
    positive_int,
    positive_real,
)
from ..nn import dann_lr_factor
from ._network import (
    NETWORK_CONSTRAINTS,
    CCNNet,
    ClusterModule,
    SameInputCluster,
    resolve_similarity,
)
from ._training import StepSchedule

__all__ = ["CCNAdapter"]


class CCNAdapter(TargetAccuracyMixin, ClassifierMixin, EmbeddingTransformerMixin,
                 DeepDomainEstimator):
    """Classify an unlabelled target domain with source labels + learned pairwise similarity (CCN+).

    One network (an encoder and a linear head over the source classes) is trained on batches
    of ``source_batch_size`` labelled source rows and ``target_batch_size`` target rows with

    ``loss = CE(source rows) + cluster_weight * LCO(target rows)``

    where the learnable clustering objective (see :class:`CCNClusterer`) acts on the same
    K-way output as the classifier, tying the target's clusters to the source classes. The
    target pairs' similarity comes from the similarity network G (fitted on the source labels
    unless a fitted one is given). ``adversarial=True`` adds a domain classifier on the encoder
    features behind a gradient-reversal layer (CCN++), with DANN's schedule
    ``lambda_p = 2 / (1 + exp(-10 p)) - 1``. The learning rate anneals as
    ``lr / (1 + 10 p) ** 0.75`` (DANN), ``p`` being the training progress.

    Switches: ``cluster_weight=0, adversarial=True`` is DANN; ``cluster_weight=0,
    adversarial=False`` is a source-only network trained on the same schedule.

    Parameters
    ----------
    similarity : PairwiseSimilarity, callable or None, default=None
        As in :class:`CCNClusterer`: a fitted G (wrap it in ``sklearn.frozen.FrozenEstimator``
        for ``GridSearchCV``), an unfitted one or None (fitted here on the labelled source
        rows), or a callable on batches of target rows. Not used when ``cluster_weight=0``.
    loss : {"kcl", "mcl"}, default="kcl"
    margin : float, default=2.0
    cluster_weight : float, default=1.0
        Weight of the clustering term (the paper: 1).
    similarity_bn : {"batch", "adapt", "frozen"}, default="batch"
        G's batch-norm on the target rows (see :class:`CCNClusterer`). "adapt" saves G's
        forward pass per step but scores G's pairs up front; on Office-31 (seeds 0-2) it cost
        about as much (adapter CPU, seed 2: CCN+ 15.7 s vs 16.6 s, CCN++ 21.5 s vs 24.2 s;
        slower on the 2,817-row Amazon targets) and 0.2-0.3 points of accuracy (CCN+ 82.0 vs
        82.3 %, CCN++ 82.6 vs 82.8 %), so "batch", the authors' choice, stays.
    geometry : {None, "kmeans"}, default=None
        None: the target pairs' targets are G's. "kmeans": a target pair counts as similar
        only when G says so and k-means on the target's input rows (one cluster per class)
        puts both in one cluster (see :class:`CCNClusterer`). For input features whose
        k-means is stable across seeds (pretrained embeddings); not for bag-of-words or raw
        pixels, where that partition is noise.
    adversarial : bool, default=False
        Add the domain-adversarial branch (CCN++).
    adversarial_weight : float, default=1.0
        Multiplies DANN's ``lambda_p``.
    domain_hidden_dims : tuple of int, default=(1024, 1024)
        Hidden widths of the domain classifier (DANN's), with dropout 0.5.
    hidden_dims : tuple of int, default=(256,)
        Hidden widths of the default MLP encoder; the last is the bottleneck the domain
        classifier sees.
    encoder : None, nn.Module class or instance, default=None
    dropout : float, default=0.2
        Dropout of the default encoder.
    optimizer : {"adam", "adamw", "sgd"} or torch.optim.Optimizer class, default="adam"
    lr : float, default=1e-3
    momentum : float, default=0.9
        Momentum of SGD (ignored by other optimizers).
    weight_decay : float, default=1e-4
    max_epochs : int, default=50
        An epoch has as many batches as the larger side needs to be seen once.
    source_batch_size : int, default=32
    target_batch_size : int, default=96
    device : {"auto", "cpu", "cuda", "cuda:N"}, default="auto"
    random_state : int, RandomState or None, default=None
    verbose : int, default=0

    Attributes
    ----------
    classes_ : ndarray
        Source classes.
    similarity_ : PairwiseSimilarity or None
        The G used; None for a callable or ``cluster_weight=0``.
    net_ : skorch.NeuralNet
    n_features_in_ : int
    device_ : str

    Examples
    --------
    >>> from skdomainclust import CCNAdapter
    >>> from skdomainclust.datasets import make_digits_shift, stack_domains
    >>> data = make_digits_shift(domains=("original", "noisy"))
    >>> X, y, sample_domain = stack_domains(data, source="original", target="noisy")
    >>> model = CCNAdapter(max_epochs=5, random_state=0).fit(X, y, sample_domain=sample_domain)
    >>> model.predict(X[:3]).shape
    (3,)
    """

    __metadata_request__score = {"sample_domain": True}

    _parameter_constraints = {
        **{name: COMMON_CONSTRAINTS[name] for name in (
            "hidden_dims", "encoder", "dropout", "optimizer", "lr", "momentum", "weight_decay",
            "max_epochs", "device", "random_state", "verbose")},
        **NETWORK_CONSTRAINTS,
        "margin": [positive_real()],
        "cluster_weight": [non_negative_real()],
        "adversarial": ["boolean"],
        "adversarial_weight": [non_negative_real()],
        "domain_hidden_dims": [Widths()],
        "source_batch_size": [positive_int()],
        "target_batch_size": [positive_int(2)],
    }

    def __init__(self, similarity=None, loss="kcl", margin=2.0, cluster_weight=1.0,
                 similarity_bn="batch", geometry=None, adversarial=False,
                 adversarial_weight=1.0,
                 domain_hidden_dims=(1024, 1024), hidden_dims=(256,), encoder=None, dropout=0.2,
                 optimizer="adam", lr=1e-3, momentum=0.9, weight_decay=1e-4, max_epochs=50,
                 source_batch_size=32, target_batch_size=96, device="auto", random_state=None,
                 verbose=0):
        self.similarity = similarity
        self.loss = loss
        self.margin = margin
        self.cluster_weight = cluster_weight
        self.similarity_bn = similarity_bn
        self.geometry = geometry
        self.adversarial = adversarial
        self.adversarial_weight = adversarial_weight
        self.domain_hidden_dims = domain_hidden_dims
        self.hidden_dims = hidden_dims
        self.encoder = encoder
        self.dropout = dropout
        self.optimizer = optimizer
        self.lr = lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.source_batch_size = source_batch_size
        self.target_batch_size = target_batch_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    @property
    def _inference_batch_size(self):
        return 1024

    @fit_context
    def fit(self, X, y, sample_domain=None):
        """Train on labelled source rows and unlabelled target rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, C, H, W)
            Source and target rows stacked.
        y : array-like of shape (n_samples,)
            Source labels; target rows and ``-1`` entries are ignored.
        sample_domain : array-like of int, int or None
            ``>= 0`` source, ``< 0`` target; None infers it from ``y == -1``.

        Returns
        -------
        self
        """
        data, self.classes_, y_source = self._validate_labelled_fit_data(
            X, y, sample_domain, require_target=True)
        source, target = data.labelled_mask, data.target_mask
        n_source = int(source.sum())
        X_fit = np.concatenate([data.X[source], data.X[target]])
        y_fit = np.concatenate([y_source, np.full(int(target.sum()), MASK_LABEL)]).astype(np.int64)
        sd_fit = np.concatenate([data.sample_domain[source], data.sample_domain[target]])
        with self._training_context():
            similarity, self.similarity_ = (
                resolve_similarity(self, data, data.X[target]) if self.cluster_weight
                else (None, None))
            if similarity is not None and self.geometry == "kmeans":
                input_labels, _ = input_geometry(
                    data.X[target], len(self.classes_),
                    seed=seed_from_random_state(self.random_state), device=self.device_)
                similarity = SameInputCluster(similarity, input_labels)
            encoder, width = self._build_encoder(data.X.shape[1:])
            self.net_ = self._make_net(
                CCNNet, ClusterModule,
                module__encoder=encoder,
                module__n_features=width,
                module__n_outputs=len(self.classes_),
                module__domain_hidden_dims=(tuple(self.domain_hidden_dims) if self.adversarial
                                            else None),
                similarity=similarity,
                loss=self.loss,
                margin=self.margin,
                cluster_weight=self.cluster_weight,
                adversarial=bool(self.adversarial),
                adversarial_weight=self.adversarial_weight,
                target_offset=n_source,
                lr_factor=dann_lr_factor,
                iterator_train=SourceTargetIterator,
                iterator_train__source_batch_size=self.source_batch_size,
                iterator_train__target_batch_size=self.target_batch_size,
                callbacks=[("schedule", StepSchedule())],
            )
            try:
                self.net_.fit({"X": X_fit, "sample_domain": sd_fit}, y_fit)
            finally:
                self.net_.similarity = None
        return self

    # -- inference ----------------------------------------------------------------------------

    def _outputs(self, X, sample_domain, pick):
        return self._forward(X, sample_domain, lambda module, xb, db: pick(module, xb))

    def predict_proba(self, X, sample_domain=None):
        """Class probabilities of every row, shape (n_samples, n_classes)."""
        return self._probabilities(self._outputs(X, sample_domain, lambda m, xb: m(xb)))

    def predict(self, X, sample_domain=None):
        """Predicted class of every row."""
        logits = self._outputs(X, sample_domain, lambda m, xb: m(xb))
        return self.classes_[logits.argmax(dim=1).numpy()]

    def transform(self, X, sample_domain=None):
        """Encoder features (the bottleneck) of every row."""
        return self._outputs(X, sample_domain, lambda m, xb: m.encoder(xb)).numpy()
