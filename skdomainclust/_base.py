"""The base class of every public estimator: validation, seeding, net training and inference.

Methods stay thin: they build their torch module and a :class:`~skdomainclust._net.DomainNet`
subclass, and this base class handles the parameters, the data contract, the device,
reproducible seeding, building the net, batched inference and the per-fit state the same way
for all of them.
"""

import contextlib
import copy
import functools

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.metrics import accuracy_score
from sklearn.utils.validation import check_is_fitted, validate_data

from ._contract import MASK_LABEL, split_domains
from ._net import (
    EpochProgressBar,
    apply_in_batches,
    resolve_device,
    resolve_optimizer,
    seed_from_random_state,
    torch_seed,
)
from .nn import build_encoder

__all__ = ["DeepDomainEstimator", "EmbeddingTransformerMixin", "fit_context"]


def fit_context(method=None, *, updates_fitted_state=False):
    """Decorate ``fit`` (or any method that fits): validate the parameters, then fit as a
    transaction.

    The constructor parameters are checked against ``_parameter_constraints`` before any data
    is looked at. If the method raises anything, ``KeyboardInterrupt`` and
    :class:`~skdomainclust.exceptions.DivergenceError` included, the estimator's attributes
    are put back as they were before the call and the exception propagates: an unfitted
    estimator stays unfitted, a refit that fails keeps the previous model whole, and nothing
    of the training data stays behind. Every fitted attribute is assigned anew by each fit,
    so a shallow snapshot suffices; a method that trains a fitted net further
    (``updates_fitted_state=True``, e.g. ACIDS's ``adapt``) snapshots copies of the fitted
    attributes instead.
    """
    if method is None:
        return functools.partial(fit_context, updates_fitted_state=updates_fitted_state)

    @functools.wraps(method)
    def transactional(estimator, *args, **kwargs):
        estimator._validate_params()
        before = dict(estimator.__dict__)
        if updates_fitted_state:
            before = {name: copy.deepcopy(value) if _is_fitted_attribute(name) else value
                      for name, value in before.items()}
        try:
            return method(estimator, *args, **kwargs)
        except BaseException:
            estimator.__dict__.clear()
            estimator.__dict__.update(before)
            raise

    return transactional


def _is_fitted_attribute(name):
    return name.endswith("_") and not name.startswith("__")


class DeepDomainEstimator(BaseEstimator):
    """Shared plumbing of skdomainclust's estimators (not public API).

    Subclasses declare their hyper-parameters in ``__init__`` (stored verbatim, as sklearn
    requires) and implement ``fit``. ``sample_domain`` is requested from sklearn's metadata
    routing at class level for ``fit``, ``predict`` and ``score``-like methods, so a
    ``Pipeline`` or ``GridSearchCV`` routes it once the user enables routing; nothing here
    flips global configuration.
    """

    __metadata_request__fit = {"sample_domain": True}
    __metadata_request__predict = {"sample_domain": True}

    #: Whether ``X`` may be a batch of images ``(n, C, H, W)`` (needs a convolutional encoder).
    _accepts_images = True
    #: Whether ``encoder=None`` also takes images (the method builds a conv trunk for them).
    _default_image_encoder = False

    # -- validation ---------------------------------------------------------------------------

    def _validate_X(self, X, *, reset):
        allow_images = self._accepts_images and (
            getattr(self, "encoder", None) is not None or self._default_image_encoder)
        # Training needs two rows at least: batch-norm cannot normalise a single sample.
        X = validate_data(
            self, X, reset=reset, dtype=np.float32, allow_nd=allow_images,
            ensure_min_samples=2 if reset else 1,
        )
        if not X.flags.writeable:
            # A read-only float32 array (a memmap, a loader's cache) passes validation
            # uncopied, and torch warns on every tensor made from it although nothing here
            # writes to it; one copy here is what any other dtype costs anyway.
            X = X.copy()
        if not allow_images and X.ndim != 2:
            raise ValueError(f"X must be 2-D (n_samples, n_features), got ndim={X.ndim}.")
        if allow_images and X.ndim not in (2, 4):
            raise ValueError(
                f"X must be 2-D feature vectors or 4-D images (n, C, H, W), got ndim={X.ndim}."
            )
        return X

    #: Whether ``fit`` warns when every row becomes a labelled source row by inference (the
    #: estimators that learn from labelled rows and are typically given target rows too).
    _warn_if_all_source = False

    def _validate_fit_data(self, X, y=None, sample_domain=None, **requirements):
        """Validate a fit call: ``X`` as float32, labels and domains per the data contract."""
        X = self._validate_X(X, reset=True)
        requirements.setdefault("warn_if_all_source", self._warn_if_all_source)
        return split_domains(X, y, sample_domain, fit=True, **requirements)

    def _validate_labelled_fit_data(self, X, y, sample_domain, **requirements):
        """Validate a fit that learns from labelled source rows.

        Returns ``(data, classes, y_source)``: the validated data, the sorted labels of the
        labelled source rows and those rows' labels encoded as ``0 .. n_classes - 1``.
        """
        data = self._validate_fit_data(X, y, sample_domain, require_source_labels=True,
                                       **requirements)
        classes, y_source = np.unique(data.y[data.labelled_mask], return_inverse=True)
        return data, classes, y_source

    def _validate_predict_data(self, X, sample_domain=None):
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return split_domains(X, None, sample_domain, fit=False)

    # -- training -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _training_context(self):
        """Resolve the device and seed torch for the whole fit.

        Module construction, initialisation, dropout and shuffling all happen inside, so two
        fits with the same integer ``random_state`` are identical on the CPU, and the caller's
        global torch RNG state is restored afterwards.
        """
        self.device_ = resolve_device(getattr(self, "device", "auto"))
        seed = seed_from_random_state(getattr(self, "random_state", None))
        with torch_seed(seed, self.device_):
            yield

    def _callbacks(self, desc=None):
        """Callbacks every net gets: a progress bar when ``verbose``."""
        if getattr(self, "verbose", 0):
            return [("progress", EpochProgressBar(desc=desc or type(self).__name__))]
        return []

    def _build_encoder(self, input_shape, **options):
        """The default MLP (or a copy of the user's ``encoder``) and its output width.

        ``hidden_dims`` and ``dropout`` come from the estimator's parameters unless given.
        """
        options.setdefault("hidden_dims", self.hidden_dims)
        if hasattr(self, "dropout"):
            options.setdefault("dropout", self.dropout)
        return build_encoder(self.encoder, input_shape, **options)

    def _make_net(self, net_class, module_class, *, callbacks=(), progress=None, **settings):
        """The method's net with the settings every estimator shares.

        The optimizer (with ``momentum`` for SGD when the estimator has one), its weight
        decay, the learning rate, the epochs, the device and the progress bar come from the
        estimator; ``settings`` adds the method's own (``module__*``, iterators, ...).
        """
        optimizer = resolve_optimizer(self.optimizer)
        if optimizer is torch.optim.SGD and hasattr(self, "momentum"):
            settings.setdefault("optimizer__momentum", self.momentum)
        settings.setdefault("optimizer__weight_decay", self.weight_decay)
        settings.setdefault("lr", self.lr)
        settings.setdefault("max_epochs", self.max_epochs)
        return net_class(
            module_class,
            optimizer=optimizer,
            device=self.device_,
            callbacks=[*callbacks, *self._callbacks(progress)],
            **settings,
        )

    # -- inference ----------------------------------------------------------------------------

    @property
    def _inference_batch_size(self):
        return max(int(getattr(self, "batch_size", 256)), 1024)

    def _apply(self, fn, X, sample_domain=None, *, device):
        """Run ``fn(X_batch, sample_domain_batch)`` over validated rows, without gradients."""
        return apply_in_batches(
            fn, X, sample_domain=sample_domain, batch_size=self._inference_batch_size,
            device=device,
        )

    def _forward(self, X, sample_domain, output, *, validated=False):
        """Validate ``X`` and run ``output(module, X_batch, sample_domain_batch)`` over it.

        The one inference path of the estimators: the fitted module in eval mode, batches of
        ``_inference_batch_size`` rows on the training device, results as a CPU tensor (or a
        tuple of them). ``validated=True`` is for ``fit`` labelling its own, already validated
        rows (every row a target row): validating them again would compare the numpy copy
        with the feature names of a DataFrame ``X`` and warn for nothing.
        """
        if validated:
            domains = np.full(len(X), -1, dtype=np.int64)
        else:
            data = self._validate_predict_data(X, sample_domain)
            X, domains = data.X, data.sample_domain
        module = self.net_.module_.eval()
        return self._apply(lambda xb, db: output(module, xb, db), X, domains,
                           device=self.net_.device)

    @staticmethod
    def _probabilities(logits):
        """``predict_proba``'s values: the softmax of ``logits`` in float64, as numpy."""
        return torch.softmax(logits.double(), dim=1).numpy()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


class EmbeddingTransformerMixin(TransformerMixin):
    """``TransformerMixin`` for estimators whose ``transform`` returns a network embedding.

    Networks compute in float32 whatever the input precision, which the dtype tag must say.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


class TargetAccuracyMixin:
    """``score`` of the domain adaptation classifiers: accuracy on the target rows.

    Put it before ``ClassifierMixin`` in the bases, whose ``score`` would count every row.
    """

    def score(self, X, y, sample_domain=None):
        """Accuracy on target rows if ``sample_domain`` is given, else on rows where ``y != -1``."""
        y = np.asarray(y)
        if sample_domain is not None:
            rows = np.broadcast_to(np.asarray(sample_domain) < 0, y.shape)
        else:
            rows = y != MASK_LABEL if y.dtype.kind in "iuf" else np.ones(len(y), dtype=bool)
        if not rows.any():
            raise ValueError("No rows to score: every row is a source row or masked (y == -1).")
        return accuracy_score(y[rows], self.predict(X)[rows])
