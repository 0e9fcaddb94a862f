"""CCN: learning to cluster from pairwise similarity, across tasks and across domains.

Hsu, Lv & Kira, "Learning to cluster in order to transfer across domains and tasks" (ICLR 2018),
and the MCL loss of Hsu et al. (ICLR 2019):

- :class:`PairwiseSimilarity` is the similarity network G: an encoder, the enumeration of all
  ``B^2`` ordered pairs of a batch and a pair head, trained with two-class cross-entropy
  (same class or not) on class-balanced batches of a labelled auxiliary set.
- :class:`CCNClusterer` (cross-task transfer) trains a clustering network on the unlabelled
  target alone, with G's binarised pair predictions as the targets of the learnable clustering
  objective (LCO, "KCL") or of MCL. The number of clusters may be set large: clusters left
  nearly empty are not counted in ``n_clusters_estimated_`` (NDC).
- :class:`CCNAdapter` (cross-domain transfer, CCN+) adds the same clustering term on the target
  rows of each batch to cross-entropy on labelled source rows; ``adversarial=True`` adds a
  domain classifier behind gradient reversal (CCN++). ``cluster_weight=0`` turns the clustering
  term off (with ``adversarial=True``: plain DANN).
"""

import copy
import functools

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import ClassifierMixin, ClusterMixin, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import Callback
from torch import nn

from ._base import DeepDomainEstimator, EmbeddingTransformerMixin, TargetAccuracyMixin
from ._contract import MASK_LABEL
from ._net import (
    DomainDataset,
    DomainNet,
    SourceTargetIterator,
    resolve_optimizer,
    seed_from_random_state,
)
from ._validation import check_choice, check_int
from .losses.adversarial import domain_adversarial_loss
from .losses.lco import kcl_loss, mcl_loss
from .nn import MLP, build_encoder, dann_lambda, dann_lr_factor, grad_reverse
from .nn.batchnorm import batchnorm_train_mode, reestimate_batchnorm, row_chunks
from .nn.pairs import PairHead, pair_probabilities, similarity_targets
from .nn.views import FeatureView, IdentityView, ImageView

__all__ = ["PairwiseSimilarity", "CCNClusterer", "CCNAdapter", "n_clusters_estimate"]

_BN_MODES = ("batch", "adapt", "frozen")
_LOSSES = ("kcl", "mcl")


# -- small helpers -----------------------------------------------------------------------------


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


def _check_fractions(name, value):
    if any(not 0 < float(f) < 1 for f in value):
        raise ValueError(f"{name} must hold fractions of training in (0, 1), got {value!r}.")


def _step_decay(progress, milestones=()):
    """Learning-rate factor ``0.1 ** (milestones passed)`` at training progress ``p``."""
    return 0.1 ** sum(progress >= m for m in milestones)


def _build_augment(augment, X, *, for_images_only=False):
    """The augmentation module of a fit: a copy of the user's, or the default ("auto")."""
    image = X.ndim == 4
    if augment is None or augment is False:
        return IdentityView()
    if isinstance(augment, str):
        if augment != "auto":
            raise ValueError(f"augment must be 'auto', None or an nn.Module, got {augment!r}.")
        if image:
            # The authors' RandomResizedCrop(32, scale=(0.85, 1)): no flip, no colour change.
            return ImageView(crop_scale=(0.85, 1.0), flip_prob=0.0, brightness=0.0,
                             contrast=0.0, saturation=0.0)
        if for_images_only:
            return IdentityView()
        view = FeatureView(noise=0.1, n_features=X.shape[1])
    elif isinstance(augment, nn.Module):
        view = copy.deepcopy(augment)
    else:
        raise TypeError(f"augment must be 'auto', None or an nn.Module, got {augment!r}.")
    if hasattr(view, "set_scale"):
        view.set_scale(torch.as_tensor(X))
    return view


# -- batching and the learning-rate schedule ----------------------------------------------------


class ClassBalancedIterator:
    """Batches of ``classes_per_batch`` random classes x ``samples_per_class`` rows each.

    Pairs of the same class are rare in a uniformly drawn batch when there are many classes;
    drawing a few classes per batch keeps similar pairs frequent (the authors draw 20 classes x
    5 images of Omniglot's 964). Rows of a class are drawn without replacement (with it when
    the class has fewer rows). An epoch has ``n_rows // batch`` batches.

    Parameters
    ----------
    dataset : DomainDataset
        With labels ``0 .. n_classes - 1``.
    batch_size, shuffle, drop_last : ignored
        Accepted for skorch's iterator interface.
    classes_per_batch : int
    samples_per_class : int
    """

    def __init__(self, dataset, batch_size=None, shuffle=True, drop_last=None,
                 classes_per_batch=20, samples_per_class=5):
        if not isinstance(dataset, DomainDataset) or dataset.y is None:
            raise TypeError("ClassBalancedIterator iterates over a labelled DomainDataset.")
        self.dataset = dataset
        y = dataset.y
        device = y.device
        self.counts = torch.bincount(y)
        self.n_classes = len(self.counts)
        order = torch.argsort(y, stable=True)
        starts = torch.cumsum(self.counts, 0) - self.counts
        position = torch.arange(len(y), device=device) - starts[y[order]]
        self.table = torch.full((self.n_classes, int(self.counts.max())), -1, dtype=torch.long,
                                device=device)
        self.table[y[order], position] = order
        self.classes_per_batch = min(int(classes_per_batch), self.n_classes)
        self.samples_per_class = int(samples_per_class)

    def __len__(self):
        return max(1, len(self.dataset) // (self.classes_per_batch * self.samples_per_class))

    def __iter__(self):
        device = self.table.device
        c, m = self.classes_per_batch, self.samples_per_class
        wrap = torch.arange(m, device=device)
        for _ in range(len(self)):
            classes = torch.randperm(self.n_classes, device=device)[:c]
            rows = self.table[classes]
            keys = torch.rand(rows.shape, device=device)
            keys[rows < 0] = 2.0  # padding sorts last
            ranked = torch.argsort(keys, dim=1)
            picks = torch.gather(ranked, 1, wrap[None, :] % self.counts[classes][:, None])
            yield self.dataset[torch.gather(rows, 1, picks).reshape(-1)]


class StepSchedule(Callback):
    """Tracks the training progress ``p`` in [0, 1] of a :class:`CCNNet`, step by step."""

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        steps = len(net.get_iterator(net.get_dataset(X, y), training=True))
        net.total_steps_ = max(1, steps * net.max_epochs)
        net.steps_done_ = 0


class _TrainingNet(DomainNet):
    """A :class:`DomainNet` whose learning rate follows ``lr_factor(progress)``."""

    def __init__(self, *args, lr_factor=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lr_factor = lr_factor

    def _advance(self):
        """Training progress before this step; sets the learning rate for it."""
        progress = min(1.0, self.steps_done_ / self.total_steps_)
        self.steps_done_ += 1
        if self.lr_factor is not None:
            for group in self.optimizer_.param_groups:
                group["lr"] = self.lr * self.lr_factor(progress)
        return progress


# -- the similarity network G ------------------------------------------------------------------


class SimilarityModule(nn.Module):
    """Encoder h and pair head of G; ``augment`` is applied to training batches only."""

    def __init__(self, encoder, n_features, head_hidden=None, augment=None):
        super().__init__()
        self.encoder = encoder
        self.head = PairHead(n_features, head_hidden)
        self.augment = augment if augment is not None else IdentityView()

    def forward(self, X, sample_domain=None, index=None):
        return self.encoder(X)


class SimilarityNet(_TrainingNet):
    """Two-class cross-entropy on every ordered pair of a class-balanced batch."""

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        self._advance()
        Xi, yi = batch
        module = self.module_
        logits = module.head(module.encoder(module.augment(Xi["X"])))
        targets = similarity_targets(yi).long()
        loss = F.cross_entropy(logits.reshape(-1, 2), targets.reshape(-1))
        loss.backward()
        return {"loss": loss, "y_pred": logits}


def _prepared_embeddings(module, X, bn, batch_size):
    """``(module, h)``: G's embeddings of ``X`` under batch-norm mode ``bn`` (no gradient).

    ``"frozen"`` uses the statistics learned on the auxiliary data; ``"adapt"`` re-estimates
    every batch-norm statistic (encoder and pair head) on ``X`` and its pairs, on a copy of the
    module, which is returned.
    """
    chunks = row_chunks(len(X), max(int(batch_size), 2))
    if bn == "adapt":
        module = copy.deepcopy(module)
        reestimate_batchnorm(module.encoder, lambda s: module.encoder(X[s]), chunks)
    module.eval()
    with torch.no_grad():
        h = torch.cat([module.encoder(X[s]) for s in chunks])
    if bn == "adapt" and len(h) > 1:
        rows = max(1, 16384 // len(h))
        reestimate_batchnorm(module.head, lambda s: module.head(h[s], h), row_chunks(len(h), rows))
    return module.eval(), h


class PairwiseSimilarity(EmbeddingTransformerMixin, DeepDomainEstimator):
    """CCN's similarity network G: are two samples of the same class?

    An encoder ``h`` embeds each sample; every ordered pair ``(a, b)`` of a batch (self-pairs
    included) is scored by the pair head ``Linear(2d, 4d) -> BN -> ReLU -> Linear(4d, 2)`` on
    ``[h_b ; h_a]``, trained with two-class cross-entropy against ``1[y_a == y_b]``. Batches are
    class-balanced (``classes_per_batch`` classes x ``samples_per_class`` rows) so that similar
    pairs are frequent. G is trained on a labelled auxiliary set and transfers to new classes
    (cross-task) and new domains: it is the similarity source of :class:`CCNClusterer` and
    :class:`CCNAdapter`.

    Only labelled source rows are used in ``fit`` (target rows and ``y == -1`` are ignored).

    Parameters
    ----------
    hidden_dims : tuple of int, default=(512, 128)
        Widths of the default MLP encoder; the last one is the embedding width ``d`` (ignored
        when ``encoder`` is given).
    encoder : None, nn.Module class or instance, default=None
        Feature extractor; None builds an MLP over feature vectors. Pass a module, e.g.
        :class:`skdomainclust.nn.convnet.ConvNet`, for images ``(n, C, H, W)``. An instance is
        copied, never modified.
    head_hidden : int or None, default=None
        Hidden width of the pair head; None is ``4 d``.
    dropout : float, default=0.0
        Dropout of the default encoder.
    classes_per_batch : int, default=20
    samples_per_class : int, default=5
        A batch holds ``classes_per_batch * samples_per_class`` rows and its square of pairs.
    augment : "auto", None or nn.Module, default="auto"
        Augmentation of training batches. "auto": the authors' random resized crop (area 0.85
        to 1) for images, none for feature vectors. A module (e.g.
        :class:`~skdomainclust.nn.views.FeatureView`) is copied; its ``set_scale`` is called
        with the training rows when it has one.
    optimizer : {"adam", "adamw", "sgd"} or torch.optim.Optimizer class, default="adam"
    lr : float, default=1e-3
    lr_decay_at : tuple of float, default=(0.6, 0.8)
        Fractions of training at which the learning rate is multiplied by 0.1 (the authors: 30
        and 40 of 50 epochs).
    weight_decay : float, default=0.0
    max_epochs : int, default=30
        An epoch draws as many rows as there are labelled rows.
    device : {"auto", "cpu", "cuda", "cuda:N"}, default="auto"
    random_state : int, RandomState or None, default=None
    verbose : int, default=0

    Attributes
    ----------
    classes_ : ndarray
        Labels of the training rows.
    net_ : skorch.NeuralNet
    n_features_in_ : int
    device_ : str

    Notes
    -----
    The pair head never materialises the ``(B^2, 2d)`` pair features: its first layer on
    ``[h_b ; h_a]`` is computed as ``W_1 h_b + W_2 h_a + c`` from two ``(B, d)`` products.

    Methods taking ``bn`` choose how batch-norm behaves on the rows given: ``"frozen"`` uses
    the statistics of the auxiliary data; ``"adapt"`` re-estimates them on the rows given (a
    deterministic stand-in for the authors' practice of leaving G in training mode on the new
    domain, see :class:`CCNClusterer`'s ``similarity_bn``).

    ``predict`` clusters the rows given by average linkage on ``1 - P(similar)`` cut at 0.5:
    groups whose pairs are on average predicted similar. It is a baseline that needs no K;
    :class:`CCNClusterer` is the method.

    Examples
    --------
    >>> from skdomainclust import PairwiseSimilarity
    >>> from skdomainclust.datasets import make_digits_shift, stack_domains
    >>> data = make_digits_shift(domains=("original", "noisy"))
    >>> X, y, sample_domain = stack_domains(data, source="original", target="noisy")
    >>> G = PairwiseSimilarity(max_epochs=5, random_state=0)
    >>> G = G.fit(X, y, sample_domain=sample_domain)  # learns from the source rows only
    >>> G.similarity_matrix(X[:4]).shape
    (4, 4)
    >>> sorted(G.pair_report(X[-200:], y[-200:]))[:2]
    ['accuracy', 'dissimilar_precision']
    """

    __metadata_request__score = {"sample_domain": True}

    def __init__(self, hidden_dims=(512, 128), encoder=None, head_hidden=None, dropout=0.0,
                 classes_per_batch=20, samples_per_class=5, augment="auto", optimizer="adam",
                 lr=1e-3, lr_decay_at=(0.6, 0.8), weight_decay=0.0, max_epochs=30,
                 device="auto", random_state=None, verbose=0):
        self.hidden_dims = hidden_dims
        self.encoder = encoder
        self.head_hidden = head_hidden
        self.dropout = dropout
        self.classes_per_batch = classes_per_batch
        self.samples_per_class = samples_per_class
        self.augment = augment
        self.optimizer = optimizer
        self.lr = lr
        self.lr_decay_at = lr_decay_at
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    @property
    def _inference_batch_size(self):
        return 1024

    def _check_params(self):
        check_int("classes_per_batch", self.classes_per_batch)
        check_int("samples_per_class", self.samples_per_class)
        check_int("max_epochs", self.max_epochs)
        _check_fractions("lr_decay_at", self.lr_decay_at)

    def fit(self, X, y, sample_domain=None):
        """Train G on the labelled source rows of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, C, H, W)
        y : array-like of shape (n_samples,)
            Class labels; target rows and ``-1`` entries are ignored.
        sample_domain : array-like of int, int or None
            ``>= 0`` source, ``< 0`` target; None infers it from ``y == -1``.

        Returns
        -------
        self
        """
        self._check_params()
        data = self._validate_fit_data(X, y, sample_domain, require_source_labels=True)
        rows = data.labelled_mask
        self.classes_, y_encoded = np.unique(data.y[rows], return_inverse=True)
        X_train = data.X[rows]
        with self._fit_context():
            encoder, width = build_encoder(self.encoder, X_train.shape[1:],
                                           hidden_dims=self.hidden_dims, dropout=self.dropout)
            augment = _build_augment(self.augment, X_train, for_images_only=True)
            self.net_ = SimilarityNet(
                SimilarityModule,
                module__encoder=encoder,
                module__n_features=width,
                module__head_hidden=self.head_hidden,
                module__augment=augment,
                optimizer=resolve_optimizer(self.optimizer),
                optimizer__weight_decay=self.weight_decay,
                lr=self.lr,
                lr_factor=functools.partial(_step_decay, milestones=tuple(self.lr_decay_at)),
                max_epochs=self.max_epochs,
                iterator_train=ClassBalancedIterator,
                iterator_train__classes_per_batch=self.classes_per_batch,
                iterator_train__samples_per_class=self.samples_per_class,
                device=self.device_,
                callbacks=[("schedule", StepSchedule()), *self._callbacks()],
            )
            self.net_.fit({"X": X_train, "sample_domain": data.sample_domain[rows]},
                          y_encoded.astype(np.int64))
        return self

    # -- inference ----------------------------------------------------------------------------

    def _embeddings(self, X, bn):
        check_choice("bn", bn, ("frozen", "adapt"))
        data = self._validate_predict_data(X)
        X_t = torch.as_tensor(data.X, device=self.net_.device)
        return _prepared_embeddings(self.net_.module_, X_t, bn, self._inference_batch_size)

    def transform(self, X, sample_domain=None):
        """Embeddings ``h`` of every row (eval mode), shape (n_samples, d)."""
        module, h = self._embeddings(X, "frozen")
        return h.cpu().numpy()

    def predict_proba_pairs(self, X, bn="frozen"):
        """P(same class) of every ordered pair of rows of ``X``, shape (n, n).

        Entry ``[a, b]`` scores the pair ``(a, b)`` (head input ``[h_b ; h_a]``); the network
        is not exactly symmetric. ``O(n^2)`` memory: for large ``n`` see :meth:`pair_report`,
        which streams.

        Parameters
        ----------
        X : array-like of shape (n, ...)
        bn : {"frozen", "adapt"}, default="frozen"
            Batch-norm statistics: the auxiliary data's, or re-estimated on ``X``.
        """
        module, h = self._embeddings(X, bn)
        out = np.empty((len(h), len(h)), dtype=np.float32)
        for rows, block in pair_probabilities(module.head, h):
            out[rows] = block.cpu().numpy()
        return out

    def similarity_matrix(self, X, bn="frozen", threshold=0.5):
        """Binary similarity ``S[a, b] = 1[P(same class) > threshold]``, shape (n, n), int8."""
        return (self.predict_proba_pairs(X, bn=bn) > threshold).astype(np.int8)

    def pair_report(self, X, y, bn="frozen", include_self_pairs=False):
        """Precision and recall of G's similar / dissimilar pair predictions on labelled rows.

        Every ordered pair of rows of ``X`` is predicted (``P(same class) > 0.5``) and checked
        against ``1[y_a == y_b]``, streaming over blocks of rows (``O(n)`` memory).

        Parameters
        ----------
        X : array-like of shape (n, ...)
            Held-out rows (new classes or a new domain, typically).
        y : array-like of shape (n,)
            Their true labels.
        bn : {"frozen", "adapt"}, default="frozen"
        include_self_pairs : bool, default=False
            Count the ``n`` pairs ``(a, a)``, which are always similar.

        Returns
        -------
        dict
            ``similar_precision``, ``similar_recall``, ``dissimilar_precision``,
            ``dissimilar_recall``, ``accuracy`` (of all pairs), ``n_similar_pairs`` and
            ``n_dissimilar_pairs`` (true counts).
        """
        y = np.asarray(y)
        module, h = self._embeddings(X, bn)
        if len(y) != len(h):
            raise ValueError(f"y has {len(y)} entries but X has {len(h)} rows.")
        labels = torch.as_tensor(np.unique(y, return_inverse=True)[1], device=h.device)
        counts = np.zeros((2, 2), dtype=np.int64)  # [true, predicted]
        for rows, prob in pair_probabilities(module.head, h):
            truth = labels[rows, None] == labels[None, :]
            pred = prob > 0.5
            keep = torch.ones_like(truth)
            if not include_self_pairs:
                index = torch.arange(rows.start, rows.stop, device=h.device)
                keep[index - rows.start, index] = False
            for t in (0, 1):
                for p in (0, 1):
                    counts[t, p] += int(((truth == bool(t)) & (pred == bool(p)) & keep).sum())

        def ratio(a, b):
            return float(a / b) if b else float("nan")

        return {
            "similar_precision": ratio(counts[1, 1], counts[:, 1].sum()),
            "similar_recall": ratio(counts[1, 1], counts[1].sum()),
            "dissimilar_precision": ratio(counts[0, 0], counts[:, 0].sum()),
            "dissimilar_recall": ratio(counts[0, 0], counts[0].sum()),
            "accuracy": ratio(counts[0, 0] + counts[1, 1], counts.sum()),
            "n_similar_pairs": int(counts[1].sum()),
            "n_dissimilar_pairs": int(counts[0].sum()),
        }

    def predict(self, X, sample_domain=None):
        """Cluster the rows of ``X`` from G's pair predictions alone (no K needed).

        Average-linkage agglomerative clustering on the distance ``1 - (P + P^T) / 2`` cut at
        0.5 (see Notes). Labels are ids of this clustering of ``X``, not classes.
        """
        from sklearn.cluster import AgglomerativeClustering

        P = self.predict_proba_pairs(X).astype(np.float64)
        if len(P) < 2:
            return np.zeros(len(P), dtype=np.int64)
        distance = 1.0 - (P + P.T) / 2
        np.fill_diagonal(distance, 0.0)
        model = AgglomerativeClustering(n_clusters=None, metric="precomputed", linkage="average",
                                        distance_threshold=0.5)
        return model.fit_predict(distance).astype(np.int64)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags


# -- similarity sources of the clustering networks ---------------------------------------------


class _NetworkSimilarity:
    """Binarised pair predictions of (a private copy of) G's module during training.

    ``bn="batch"`` runs G on every training batch (as the clustering network sees it,
    augmentation included) with batch-norm in training mode, as the authors do. ``"adapt"``
    and ``"frozen"`` embed the rows once (statistics re-estimated on them, or G's own); up to
    ``max_cached`` rows, the whole binary ``(n, n)`` matrix is computed once as well (one byte
    a pair), otherwise each batch's pairs are scored from the cached embeddings.
    """

    max_cached = 8192

    def __init__(self, module, bn, X, batch_size):
        self.module, self.h, self.matrix = None, None, None
        if bn == "batch":
            self.module = batchnorm_train_mode(copy.deepcopy(module))
            return
        self.module, self.h = _prepared_embeddings(module, X, bn, batch_size)
        if len(X) <= self.max_cached:
            self.matrix = torch.empty((len(X), len(X)), dtype=torch.bool, device=X.device)
            for rows, prob in pair_probabilities(self.module.head, self.h):
                self.matrix[rows] = prob > 0.5

    def __call__(self, X_seen, X_raw, rows):
        if self.matrix is not None:
            return self.matrix[rows[:, None], rows[None, :]].to(X_seen.dtype)
        with torch.no_grad():
            if self.h is None:
                logits = self.module.head(self.module.encoder(X_seen))
            else:
                logits = self.module.head(self.h[rows])
            return (logits[..., 1] > logits[..., 0]).to(X_seen.dtype)


class _CallableSimilarity:
    """A user function ``similarity(X_batch) -> (B, B)`` on the un-augmented rows."""

    def __init__(self, function):
        self.function = function

    def __call__(self, X_seen, X_raw, rows):
        out = self.function(X_raw.detach().cpu().numpy())
        simi = torch.as_tensor(np.asarray(out, dtype=np.float32), device=X_seen.device)
        n = len(X_raw)
        if simi.shape != (n, n):
            raise ValueError(f"similarity(X_batch) must return a ({n}, {n}) array for a batch "
                             f"of {n} rows, got shape {tuple(simi.shape)}.")
        if not torch.isfinite(simi).all() or simi.min() < 0 or simi.max() > 1:
            raise ValueError("similarity(X_batch) must return values in [0, 1].")
        return simi.to(X_seen.dtype)


def _unwrap_similarity(similarity):
    """``(pairwise_similarity or None, callable or None)`` from a ``similarity`` parameter."""
    inner = getattr(similarity, "estimator", None)  # sklearn.frozen.FrozenEstimator
    if isinstance(inner, PairwiseSimilarity):
        similarity = inner
    if similarity is None or isinstance(similarity, PairwiseSimilarity):
        return similarity, None
    if callable(similarity):
        return None, similarity
    raise TypeError("similarity must be None, a PairwiseSimilarity (fitted or not, or wrapped "
                    f"in sklearn.frozen.FrozenEstimator) or a callable, got {similarity!r}.")


def _is_fitted(estimator):
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        return False
    return True


def _resolve_similarity(owner, data, X_target):
    """The similarity source of a fit, fitting G on the labelled source rows when needed.

    Returns ``(source, fitted_G or None)``.
    """
    network, function = _unwrap_similarity(owner.similarity)
    if function is not None:
        return _CallableSimilarity(function), None
    if network is None or not _is_fitted(network):
        if not data.labelled_mask.any():
            raise ValueError(
                f"{type(owner).__name__} needs a similarity: pass a fitted PairwiseSimilarity "
                "(or a callable) as `similarity`, or labelled source rows to fit one on "
                "(No labelled source rows: every row is target or masked with y == -1)."
            )
        network = clone(network) if network is not None else PairwiseSimilarity(
            device=owner.device)
        if network.random_state is None:
            network.set_params(random_state=seed_from_random_state(owner.random_state))
        network.fit(data.X, data.y, sample_domain=data.sample_domain)
    if X_target.shape[1] != network.n_features_in_:
        raise ValueError(
            f"The similarity network was fitted on {network.n_features_in_} features (or "
            f"channels), X has {X_target.shape[1]}: fit it on the same representation."
        )
    module = network.net_.module_
    device = next(module.parameters()).device
    module = copy.deepcopy(module).to(owner.device_) if str(device) != owner.device_ else module
    X_t = torch.as_tensor(X_target, device=owner.device_)
    return _NetworkSimilarity(module, owner.similarity_bn, X_t, 1024), network


# -- the clustering network (CCN, CCN+, CCN++) -------------------------------------------------


class ClusterModule(nn.Module):
    """Encoder, linear head to K outputs, optional augmentation and domain classifier."""

    def __init__(self, encoder, n_features, n_outputs, augment=None, domain_hidden_dims=None,
                 domain_dropout=0.5):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(n_features, n_outputs)
        self.augment = augment if augment is not None else IdentityView()
        self.domain_classifier = (
            None if domain_hidden_dims is None else
            MLP(n_features, domain_hidden_dims, out_features=2, batch_norm=False,
                dropout=domain_dropout)
        )

    def forward(self, X, sample_domain=None, index=None):
        return self.head(self.encoder(X))


class CCNNet(_TrainingNet):
    """One step of CCN / CCN+ / CCN++ on a batch of labelled source and target rows.

    ``loss = CE(source) + cluster_weight * LCO(target) [+ domain CE through GRL]``: the
    target rows' similarity comes from ``similarity(X_seen, X_raw, target_rows)``.
    """

    def __init__(self, *args, similarity=None, loss="kcl", margin=2.0, cluster_weight=1.0,
                 adversarial=False, adversarial_weight=1.0, target_offset=0, **kwargs):
        super().__init__(*args, **kwargs)
        self.similarity = similarity
        self.loss = loss
        self.margin = margin
        self.cluster_weight = cluster_weight
        self.adversarial = adversarial
        self.adversarial_weight = adversarial_weight
        self.target_offset = target_offset

    def cluster_loss(self, prob, simi):
        if self.loss == "mcl":
            return mcl_loss(prob, simi)
        return kcl_loss(prob, simi, margin=self.margin)

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        progress = self._advance()
        Xi, yi = batch
        module = self.module_
        X = Xi["X"]
        target = Xi["sample_domain"] < 0
        source = ~target if yi is None else (~target & (yi >= 0))
        n_target = int(target.sum())
        X_seen = X
        if n_target:
            X_seen = X.clone()
            X_seen[target] = module.augment(X[target])
        features = module.encoder(X_seen)
        logits = module.head(features)
        terms = []
        if source.any():
            terms.append(F.cross_entropy(logits[source], yi[source]))
        if self.cluster_weight and n_target:
            simi = self.similarity(X_seen[target], X[target],
                                   Xi["index"][target] - self.target_offset)
            prob = torch.softmax(logits[target], dim=1)
            terms.append(self.cluster_weight * self.cluster_loss(prob, simi))
        if self.adversarial and n_target and source.any():
            rows = source | target
            coeff = self.adversarial_weight * dann_lambda(progress)
            domain_logits = module.domain_classifier(grad_reverse(features[rows], coeff))
            terms.append(domain_adversarial_loss(domain_logits, source[rows]))
        loss = torch.stack(terms).sum() if terms else logits.sum() * 0.0
        loss.backward()
        return {"loss": loss, "y_pred": logits}


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
    n_clusters : int, default=100
        Outputs of the clustering network (an upper bound on the number of clusters).
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
    n_clusters_estimated_ : int
        NDC on the target rows: clusters holding at least ``n_target / n_clusters`` rows.
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

    def __init__(self, n_clusters=100, similarity=None, loss="kcl", margin=2.0,
                 similarity_bn="batch", hidden_dims=(512, 256), encoder=None, dropout=0.0,
                 augment="auto", optimizer="adam", lr=1e-3, lr_decay_at=(2 / 3,),
                 weight_decay=0.0, max_epochs=100, batch_size=100, device="auto",
                 random_state=None, verbose=0):
        self.n_clusters = n_clusters
        self.similarity = similarity
        self.loss = loss
        self.margin = margin
        self.similarity_bn = similarity_bn
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

    def _check_params(self):
        check_int("n_clusters", self.n_clusters)
        check_int("max_epochs", self.max_epochs)
        check_int("batch_size", self.batch_size, minimum=2)
        check_choice("loss", self.loss, _LOSSES)
        check_choice("similarity_bn", self.similarity_bn, _BN_MODES)
        _check_fractions("lr_decay_at", self.lr_decay_at)
        _unwrap_similarity(self.similarity)

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
        self._check_params()
        data = self._validate_fit_data(X, y, sample_domain)
        target = data.target_mask if data.target_mask.any() else np.ones(len(data.X), bool)
        X_target = data.X[target]
        if self.n_clusters > len(X_target):
            raise ValueError(f"n_clusters={self.n_clusters} exceeds the {len(X_target)} rows "
                             "to cluster.")
        with self._fit_context():
            source, self.similarity_ = _resolve_similarity(self, data, X_target)
            encoder, width = build_encoder(self.encoder, X_target.shape[1:],
                                           hidden_dims=self.hidden_dims, dropout=self.dropout)
            self.net_ = CCNNet(
                ClusterModule,
                module__encoder=encoder,
                module__n_features=width,
                module__n_outputs=self.n_clusters,
                module__augment=_build_augment(self.augment, X_target),
                similarity=source,
                loss=self.loss,
                margin=self.margin,
                optimizer=resolve_optimizer(self.optimizer),
                optimizer__weight_decay=self.weight_decay,
                lr=self.lr,
                lr_factor=functools.partial(_step_decay, milestones=tuple(self.lr_decay_at)),
                max_epochs=self.max_epochs,
                batch_size=self.batch_size,
                device=self.device_,
                callbacks=[("schedule", StepSchedule()), *self._callbacks()],
            )
            try:
                self.net_.fit({"X": X_target,
                               "sample_domain": np.full(len(X_target), -1, dtype=np.int64)})
            finally:
                self.net_.similarity = None  # cached embeddings and G's copy stay out of pickles
        target_labels = self.predict(X_target)
        self.labels_ = np.full(len(data.X), MASK_LABEL, dtype=np.int64)
        self.labels_[target] = target_labels
        self.n_clusters_estimated_ = n_clusters_estimate(target_labels, self.n_clusters)
        return self

    def _logits(self, X, sample_domain=None):
        data = self._validate_predict_data(X, sample_domain)
        module = self.net_.module_.eval()
        return self._apply(lambda xb, db: module(xb), data.X, data.sample_domain,
                           device=self.net_.device)

    def predict_proba(self, X, sample_domain=None):
        """Cluster probabilities ``softmax(f(x))`` of every row, shape (n_samples, n_clusters)."""
        return torch.softmax(self._logits(X, sample_domain).double(), dim=1).numpy()

    def predict(self, X, sample_domain=None):
        """Cluster of every row: ``argmax f(x)`` (no augmentation)."""
        return self._logits(X, sample_domain).argmax(dim=1).numpy().astype(np.int64)

    def fit_predict(self, X, y=None, sample_domain=None):
        """Fit and return ``labels_`` (clusters of the target rows, -1 elsewhere)."""
        return self.fit(X, y, sample_domain=sample_domain).labels_


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
        G's batch-norm on the target rows (see :class:`CCNClusterer`).
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

    def __init__(self, similarity=None, loss="kcl", margin=2.0, cluster_weight=1.0,
                 similarity_bn="batch", adversarial=False, adversarial_weight=1.0,
                 domain_hidden_dims=(1024, 1024), hidden_dims=(256,), encoder=None, dropout=0.2,
                 optimizer="adam", lr=1e-3, momentum=0.9, weight_decay=1e-4, max_epochs=50,
                 source_batch_size=32, target_batch_size=96, device="auto", random_state=None,
                 verbose=0):
        self.similarity = similarity
        self.loss = loss
        self.margin = margin
        self.cluster_weight = cluster_weight
        self.similarity_bn = similarity_bn
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

    def _check_params(self):
        check_int("max_epochs", self.max_epochs)
        check_int("source_batch_size", self.source_batch_size)
        check_int("target_batch_size", self.target_batch_size, minimum=2)
        check_choice("loss", self.loss, _LOSSES)
        check_choice("similarity_bn", self.similarity_bn, _BN_MODES)
        if self.cluster_weight < 0:
            raise ValueError(f"cluster_weight must be >= 0, got {self.cluster_weight!r}.")
        _unwrap_similarity(self.similarity)

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
        self._check_params()
        data = self._validate_fit_data(X, y, sample_domain, require_source_labels=True,
                                       require_target=True)
        source, target = data.labelled_mask, data.target_mask
        self.classes_, y_source = np.unique(data.y[source], return_inverse=True)
        n_source = int(source.sum())
        X_fit = np.concatenate([data.X[source], data.X[target]])
        y_fit = np.concatenate([y_source, np.full(int(target.sum()), MASK_LABEL)]).astype(np.int64)
        sd_fit = np.concatenate([data.sample_domain[source], data.sample_domain[target]])
        with self._fit_context():
            similarity, self.similarity_ = (
                _resolve_similarity(self, data, data.X[target]) if self.cluster_weight
                else (None, None))
            encoder, width = build_encoder(self.encoder, data.X.shape[1:],
                                           hidden_dims=self.hidden_dims, dropout=self.dropout)
            optimizer = resolve_optimizer(self.optimizer)
            extra = {"optimizer__momentum": self.momentum} if optimizer is torch.optim.SGD else {}
            self.net_ = CCNNet(
                ClusterModule,
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
                optimizer=optimizer,
                optimizer__weight_decay=self.weight_decay,
                lr=self.lr,
                lr_factor=dann_lr_factor,
                max_epochs=self.max_epochs,
                iterator_train=SourceTargetIterator,
                iterator_train__source_batch_size=self.source_batch_size,
                iterator_train__target_batch_size=self.target_batch_size,
                device=self.device_,
                callbacks=[("schedule", StepSchedule()), *self._callbacks()],
                **extra,
            )
            try:
                self.net_.fit({"X": X_fit, "sample_domain": sd_fit}, y_fit)
            finally:
                self.net_.similarity = None
        return self

    # -- inference ----------------------------------------------------------------------------

    def _outputs(self, X, sample_domain, pick):
        data = self._validate_predict_data(X, sample_domain)
        module = self.net_.module_.eval()
        return self._apply(lambda xb, db: pick(module, xb), data.X, data.sample_domain,
                           device=self.net_.device)

    def predict_proba(self, X, sample_domain=None):
        """Class probabilities of every row, shape (n_samples, n_classes)."""
        logits = self._outputs(X, sample_domain, lambda m, xb: m(xb))
        return torch.softmax(logits.double(), dim=1).numpy()

    def predict(self, X, sample_domain=None):
        """Predicted class of every row."""
        logits = self._outputs(X, sample_domain, lambda m, xb: m(xb))
        return self.classes_[logits.argmax(dim=1).numpy()]

    def transform(self, X, sample_domain=None):
        """Encoder features (the bottleneck) of every row."""
        return self._outputs(X, sample_domain, lambda m, xb: m.encoder(xb)).numpy()

