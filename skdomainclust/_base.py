"""The base class of every public estimator: validation, seeding, net training and inference.

Methods stay thin: they build their torch module and a :class:`~skdomainclust._net.DomainNet`
subclass, and this base class handles the data contract, the device, reproducible seeding and
batched inference the same way for all of them.
"""

import contextlib

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.metrics import accuracy_score
from sklearn.utils.validation import check_is_fitted, validate_data

from ._contract import MASK_LABEL, split_domains
from ._net import (
    EpochProgressBar,
    apply_in_batches,
    resolve_device,
    seed_from_random_state,
    torch_seed,
)

__all__ = ["DeepDomainEstimator", "EmbeddingTransformerMixin"]


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

    # -- validation ---------------------------------------------------------------------------

    def _validate_X(self, X, *, reset):
        allow_images = self._accepts_images and getattr(self, "encoder", None) is not None
        # Training needs two rows at least: batch-norm cannot normalise a single sample.
        X = validate_data(
            self, X, reset=reset, dtype=np.float32, allow_nd=allow_images,
            ensure_min_samples=2 if reset else 1,
        )
        if not allow_images and X.ndim != 2:
            raise ValueError(f"X must be 2-D (n_samples, n_features), got ndim={X.ndim}.")
        if allow_images and X.ndim not in (2, 4):
            raise ValueError(
                f"X must be 2-D feature vectors or 4-D images (n, C, H, W), got ndim={X.ndim}."
            )
        return X

    def _validate_fit_data(self, X, y=None, sample_domain=None, **requirements):
        """Validate a fit call: ``X`` as float32, labels and domains per the data contract."""
        X = self._validate_X(X, reset=True)
        return split_domains(X, y, sample_domain, fit=True, **requirements)

    def _validate_predict_data(self, X, sample_domain=None):
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return split_domains(X, None, sample_domain, fit=False)

    # -- training -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _fit_context(self):
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
