"""The data contract shared by every estimator: validating and splitting ``(X, y, sample_domain)``.

Source and target rows arrive stacked in one ``X``. ``sample_domain`` says which is which
(``>= 0``: a source domain id, ``< 0``: a target domain id, the convention of skada) and ``y``
holds the labels, where target rows are ignored whatever they hold and ``-1`` marks a row as
unlabelled. When ``sample_domain`` is omitted at fit time it is inferred from ``y``; at predict
time every row is taken as target. Keeping this logic in one place is what lets every estimator
behave the same inside ``Pipeline`` and ``GridSearchCV``.
"""

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.utils.multiclass import type_of_target

from .exceptions import DomainInferenceWarning

#: The label value of an unlabelled row.
MASK_LABEL = -1

#: The ``sample_domain`` value given to target rows when it has to be inferred.
DEFAULT_TARGET_DOMAIN = -1

#: The ``sample_domain`` value given to source rows when it has to be inferred.
DEFAULT_SOURCE_DOMAIN = 0


@dataclass(frozen=True)
class DomainData:
    """Validated arrays of one call, with the masks every method needs.

    Attributes
    ----------
    X : ndarray of float32, shape (n_samples, ...)
    y : ndarray of shape (n_samples,) or None
        Labels as given; target rows and rows equal to ``-1`` are unlabelled.
    sample_domain : ndarray of int64, shape (n_samples,)
    """

    X: np.ndarray
    y: np.ndarray | None
    sample_domain: np.ndarray

    @property
    def source_mask(self):
        return self.sample_domain >= 0

    @property
    def target_mask(self):
        return self.sample_domain < 0

    @property
    def labelled_mask(self):
        """Source rows that carry a label (target labels are never used in training)."""
        if self.y is None:
            return np.zeros(len(self.sample_domain), dtype=bool)
        return self.source_mask & ~_is_mask(self.y)

    @property
    def source_domains(self):
        return np.unique(self.sample_domain[self.source_mask])

    @property
    def target_domains(self):
        return np.unique(self.sample_domain[self.target_mask])


def _is_mask(y):
    """Rows whose label is the mask value ``-1`` (only numeric labels can be masked)."""
    y = np.asarray(y)
    if y.dtype.kind in "iuf":
        return y == MASK_LABEL
    return np.zeros(y.shape, dtype=bool)


def check_sample_domain(sample_domain, n_samples, *, y=None, fit=True):
    """Return a validated int64 ``sample_domain`` array of length ``n_samples``.

    Parameters
    ----------
    sample_domain : array-like of int, int or None
        Per-row domain ids, or one id for every row. ``None`` is inferred: at fit time rows
        with ``y == -1`` are target and the rest source (every row is target when ``y`` is
        None); at predict time (``fit=False``) every row is target.
    n_samples : int
    y : array-like or None
        Labels, used only to infer a missing ``sample_domain`` at fit time.
    fit : bool
        Whether this is a fit call.

    Returns
    -------
    sample_domain : ndarray of int64, shape (n_samples,)

    Examples
    --------
    >>> import numpy as np
    >>> check_sample_domain(None, 4, y=np.array([0, 1, -1, -1]))
    array([ 0,  0, -1, -1])
    >>> check_sample_domain(-2, 3, fit=False)
    array([-2, -2, -2])
    """
    if sample_domain is None:
        if fit and y is not None:
            return np.where(_is_mask(y), DEFAULT_TARGET_DOMAIN, DEFAULT_SOURCE_DOMAIN).astype(
                np.int64
            )
        return np.full(n_samples, DEFAULT_TARGET_DOMAIN, dtype=np.int64)
    sample_domain = np.asarray(sample_domain)
    if sample_domain.dtype.kind == "b":
        # A boolean "is target" mask would read as domain ids 0 and 1: every row a source row,
        # and the target labels would reach training.
        raise TypeError(
            "sample_domain must hold integer domain ids (>= 0: a source domain, < 0: a target "
            "domain), got booleans. For an is-target mask m, pass np.where(m, -1, 0)."
        )
    if sample_domain.ndim == 0:
        sample_domain = np.full(n_samples, sample_domain.item())
    if sample_domain.ndim != 1:
        raise ValueError(
            f"sample_domain must be a scalar or 1-D, got an array of shape {sample_domain.shape}."
        )
    if len(sample_domain) != n_samples:
        raise ValueError(
            f"sample_domain has {len(sample_domain)} entries but X has {n_samples} rows."
        )
    if sample_domain.dtype.kind == "f":
        integral = np.all(np.isfinite(sample_domain)) and np.all(
            sample_domain == np.round(sample_domain))
        if not integral:
            raise ValueError("sample_domain must hold integer domain ids.")
    elif sample_domain.dtype.kind not in "iu":
        raise TypeError(
            f"sample_domain must hold integer domain ids, got dtype {sample_domain.dtype}."
        )
    return sample_domain.astype(np.int64)


def check_labels(y, n_samples):
    """Validate ``y`` as a 1-D label array of length ``n_samples`` (a copy, never a view)."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        import warnings

        from sklearn.exceptions import DataConversionWarning

        warnings.warn(
            "A column-vector y was passed when a 1d array was expected; it was raveled.",
            DataConversionWarning,
            stacklevel=3,
        )
        y = y.ravel()
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D, got an array of shape {y.shape}.")
    if len(y) != n_samples:
        raise ValueError(f"y has {len(y)} entries but X has {n_samples} rows.")
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise ValueError("y contains NaN or infinity.")
    return y.copy()


def split_domains(X, y=None, sample_domain=None, *, fit=True, require_target=False,
                  require_source_labels=False, min_source_classes=1, min_source_domains=0,
                  warn_if_all_source=False):
    """Validate labels and domains for an already validated ``X``; return :class:`DomainData`.

    Parameters
    ----------
    X : ndarray of shape (n_samples, ...)
        Already validated by ``sklearn.utils.validation.validate_data``.
    y, sample_domain : see :func:`check_sample_domain`.
    fit : bool
        Fit time (infer domains from ``y``) or predict time (every row target by default).
    require_target : bool
        Raise unless at least one target row is present.
    require_source_labels : bool
        Raise unless at least one source row carries a label.
    min_source_classes : int
        With ``require_source_labels``: raise unless the labelled source rows hold that many
        distinct classes (a pair learner cannot learn "dissimilar" from one class).
    min_source_domains : int
        Raise unless that many distinct source domains are present.
    warn_if_all_source : bool
        Warn (:class:`~skdomainclust.exceptions.DomainInferenceWarning`) when no
        ``sample_domain`` is given and no label is ``-1``, so that every row becomes a labelled
        source row: for the estimators that are given target rows to predict, where true
        target labels passed along would otherwise be trained on.

    Returns
    -------
    DomainData
    """
    n_samples = X.shape[0]
    if y is not None:
        y = check_labels(y, n_samples)
    if warn_if_all_source and fit and sample_domain is None and y is not None \
            and not _is_mask(y).any():
        # Without the warning, true target labels passed along "for scoring" would be
        # trained on: the first mistake of a new user.
        warnings.warn(
            "fit got no sample_domain and no row of y is -1: every row is taken as a labelled "
            "source row and trained on. If some rows are target rows, pass sample_domain "
            "(< 0 for target rows) or set their y to -1; pass sample_domain=0 to say that "
            "every row is a source row.",
            DomainInferenceWarning, stacklevel=4,
        )
    sample_domain = check_sample_domain(sample_domain, n_samples, y=y, fit=fit)
    data = DomainData(X=X, y=y, sample_domain=sample_domain)
    if require_target and not data.target_mask.any():
        raise ValueError(
            "No target rows: mark target rows with a negative sample_domain, or with y == -1 "
            "when sample_domain is not given."
        )
    if require_source_labels:
        if y is None:
            # The wording is the one scikit-learn's estimator checks expect.
            raise ValueError(
                "This estimator requires y to be passed, but the target y is None: it needs "
                "labelled source rows."
            )
        if not data.labelled_mask.any():
            raise ValueError(
                "No labelled source rows: every row is target (sample_domain < 0) or masked "
                "(y == -1)."
            )
        labelled = y[data.labelled_mask]
        target_type = type_of_target(labelled, input_name="y")
        if target_type not in ("binary", "multiclass"):
            raise ValueError(
                f"Unknown label type: source labels must be class labels, got {target_type!r}."
            )
        n_classes = len(np.unique(labelled))
        if n_classes < min_source_classes:
            raise ValueError(
                f"The labelled source rows hold {n_classes} class; this estimator learns which "
                f"pairs differ and needs at least {min_source_classes} classes."
            )
    n_domains = len(data.source_domains)
    if n_domains < min_source_domains:
        raise ValueError(
            f"This estimator needs at least {min_source_domains} source domains "
            f"(sample_domain >= 0), got {n_domains}."
        )
    return data
