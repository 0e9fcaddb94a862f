"""CCN's similarity network G (Hsu, Lv & Kira, ICLR 2018): are two samples of one class?

Module (an encoder and the pair head over every ordered pair of a batch), training
(class-balanced batches, two-class cross-entropy on the pairs), then the estimator.
"""

import copy
import functools

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._base import DeepDomainEstimator, EmbeddingTransformerMixin, fit_context
from .._labels import number_by_first_member
from .._net import DomainDataset
from .._params import COMMON_CONSTRAINTS, Fractions, StrOptions, positive_int
from .._validation import check_choice
from ..nn.batchnorm import reestimate_batchnorm, row_chunks
from ..nn.pairs import PairHead, pair_probabilities, similarity_targets
from ..nn.views import IdentityView
from ._training import StepSchedule, TrainingNet, build_augment, step_decay

__all__ = ["ClassBalancedIterator", "PairwiseSimilarity"]

#: The constraint of ``augment``, the same for G and the clustering networks.
AUGMENT_CONSTRAINT = [StrOptions({"auto"}), None, nn.Module]


# -- module ------------------------------------------------------------------------------------


class SimilarityModule(nn.Module):
    """Encoder h and pair head of G; ``augment`` is applied to training batches only."""

    def __init__(self, encoder, n_features, head_hidden=None, augment=None):
        super().__init__()
        self.encoder = encoder
        self.head = PairHead(n_features, head_hidden)
        self.augment = augment if augment is not None else IdentityView()

    def forward(self, X, sample_domain=None, index=None):
        return self.encoder(X)


# -- training ----------------------------------------------------------------------------------


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


class SimilarityNet(TrainingNet):
    """Two-class cross-entropy on every ordered pair of a class-balanced batch."""

    def loss_terms(self, batch, **fit_params):
        self._advance()
        Xi, yi = batch
        module = self.module_
        logits = module.head(module.encoder(module.augment(Xi["X"])))
        targets = similarity_targets(yi).long()
        return {"pairs": F.cross_entropy(logits.reshape(-1, 2), targets.reshape(-1))}


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


# -- estimator ---------------------------------------------------------------------------------


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

    _parameter_constraints = {
        **{name: COMMON_CONSTRAINTS[name] for name in (
            "hidden_dims", "encoder", "dropout", "optimizer", "lr", "weight_decay",
            "max_epochs", "device", "random_state", "verbose")},
        "head_hidden": [None, positive_int()],
        "classes_per_batch": [positive_int()],
        "samples_per_class": [positive_int()],
        "augment": AUGMENT_CONSTRAINT,
        "lr_decay_at": [Fractions()],
    }

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

    @fit_context
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
        data, self.classes_, y_encoded = self._validate_labelled_fit_data(
            X, y, sample_domain, min_source_classes=2)
        rows = data.labelled_mask
        X_train = data.X[rows]
        with self._training_context():
            encoder, width = self._build_encoder(X_train.shape[1:])
            self.net_ = self._make_net(
                SimilarityNet, SimilarityModule,
                module__encoder=encoder,
                module__n_features=width,
                module__head_hidden=self.head_hidden,
                module__augment=build_augment(self.augment, X_train, for_images_only=True),
                lr_factor=functools.partial(step_decay, milestones=tuple(self.lr_decay_at)),
                iterator_train=ClassBalancedIterator,
                iterator_train__classes_per_batch=self.classes_per_batch,
                iterator_train__samples_per_class=self.samples_per_class,
                callbacks=[("schedule", StepSchedule())],
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
        0.5 (see Notes). Labels are ids of this clustering of ``X``, not classes, numbered by
        first appearance in ``X``: the same partition always gets the same ids (the tree's own
        numbering follows its merge order, which a rounding difference can flip).
        """
        from sklearn.cluster import AgglomerativeClustering

        P = self.predict_proba_pairs(X).astype(np.float64)
        if len(P) < 2:
            return np.zeros(len(P), dtype=np.int64)
        distance = 1.0 - (P + P.T) / 2
        np.fill_diagonal(distance, 0.0)
        model = AgglomerativeClustering(n_clusters=None, metric="precomputed", linkage="average",
                                        distance_threshold=0.5)
        return number_by_first_member(model.fit_predict(distance))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags


# -- similarity sources of the clustering networks ---------------------------------------------
