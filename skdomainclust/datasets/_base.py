"""Where the benchmark data lives, and how one dataset Bunch becomes estimator input.

Every loader returns a :class:`sklearn.utils.Bunch` with the same core fields:

- ``X``: ndarray of shape (n_samples, n_features), float32;
- ``y``: ndarray of shape (n_samples,), int64 class labels;
- ``domain``: ndarray of shape (n_samples,), int64, an index into ``domain_names``;
- ``domain_names``: tuple of str;
- ``DESCR``: str.

:func:`stack_domains` turns such a Bunch into the ``(X, y, sample_domain)`` triple of the data
contract (source rows first, source domain ids ``0, 1, ...``, target ids ``-1, -2, ...``), and
:func:`concatenate_domains` merges Bunches of different sets (e.g. MNIST and USPS) into one.
"""

import os
from collections.abc import Sequence

import numpy as np
from sklearn.utils import Bunch

__all__ = ["DATA_HOME_ENV_VAR", "concatenate_domains", "get_data_home", "stack_domains"]

#: The environment variable naming the folder that holds the benchmark sets.
DATA_HOME_ENV_VAR = "SKDOMAINCLUST_DATA"

_DEFAULT_DATA_HOME = os.path.join("~", "skdomainclust_data")


def get_data_home(data_home=None):
    """Return the folder that holds (or will hold) the benchmark data sets.

    The folder is resolved in this order: the ``data_home`` argument, then the
    ``SKDOMAINCLUST_DATA`` environment variable, then ``~/skdomainclust_data``. Each set lives
    in its own sub-folder (``<data_home>/usps/usps_16x16.npz``, ...). The folder is not
    created here: only a download creates it, so a typo never leaves empty folders behind.

    Parameters
    ----------
    data_home : str or os.PathLike, default=None
        An explicit folder; ``~`` is expanded.

    Returns
    -------
    data_home : str
        The absolute path of the folder.

    Examples
    --------
    >>> from skdomainclust.datasets import get_data_home
    >>> get_data_home("/tmp/my_data")
    '/tmp/my_data'
    """
    if data_home is None:
        data_home = os.environ.get(DATA_HOME_ENV_VAR) or _DEFAULT_DATA_HOME
    return os.path.abspath(os.path.expanduser(os.fspath(data_home)))


def _as_name_list(names, argument):
    """Turn a domain name or a sequence of names into a list of str."""
    if isinstance(names, str):
        return [names]
    if not isinstance(names, Sequence) and not isinstance(names, np.ndarray):
        raise TypeError(
            f"{argument} must be a domain name or a list of domain names, "
            f"got {type(names).__name__}."
        )
    names = list(names)
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"{argument} must hold domain names (str), got {name!r}.")
    if len(set(names)) != len(names):
        raise ValueError(f"{argument} names a domain twice: {names}.")
    return names


def _check_domain_bunch(data):
    missing = [key for key in ("X", "y", "domain", "domain_names") if key not in data]
    if missing:
        raise ValueError(
            f"data must be a dataset Bunch with X, y, domain and domain_names; missing {missing}."
        )


def stack_domains(data, *, source, target, mask_target_labels=False, use_images=False):
    """Stack the rows of chosen domains into the ``(X, y, sample_domain)`` of the estimators.

    Source rows come first, in the order the source domains are given, then the target rows in
    the order the target domains are given; inside a domain the rows keep the Bunch's order.
    Source domains get ids ``0, 1, 2, ...`` and target domains ``-1, -2, ...`` (the skada
    convention of the data contract).

    Parameters
    ----------
    data : Bunch
        A dataset Bunch with ``X``, ``y``, ``domain`` and ``domain_names``, as returned by
        :func:`make_digits_shift` or any loader of this module.
    source : str or list of str
        The source domain name(s). May be an empty list (every row is then target).
    target : str or list of str
        The target domain name(s); at least one.
    mask_target_labels : bool, default=False
        If True, the target rows of ``y`` hold ``-1``. By default they hold the true labels:
        the estimators ignore target labels in ``fit``, and scorers need them.
    use_images : bool, default=False
        Return the rows of ``data.images`` (n, C, H, W) instead of ``data.X``, for estimators
        given a convolutional encoder.

    Returns
    -------
    X : ndarray of shape (n_rows, n_features) or (n_rows, C, H, W)
        A new array (never a view into ``data``).
    y : ndarray of int64, shape (n_rows,)
    sample_domain : ndarray of int64, shape (n_rows,)

    Raises
    ------
    ValueError
        On an unknown domain name, a domain named both as source and as target, a domain named
        twice, or no target domain.

    Examples
    --------
    >>> from skdomainclust.datasets import make_digits_shift, stack_domains
    >>> data = make_digits_shift(domains=("original", "rotated", "noisy"))
    >>> X, y, sample_domain = stack_domains(data, source=["original", "noisy"], target="rotated")
    >>> sorted(set(sample_domain.tolist()))
    [-1, 0, 1]
    >>> X.shape[1]
    64
    """
    _check_domain_bunch(data)
    source_names = _as_name_list(source, "source")
    target_names = _as_name_list(target, "target")
    if not target_names:
        raise ValueError("target must name at least one domain.")
    overlap = sorted(set(source_names) & set(target_names))
    if overlap:
        raise ValueError(f"Domains {overlap} are named both as source and as target.")
    domain_names = list(data.domain_names)
    unknown = [name for name in source_names + target_names if name not in domain_names]
    if unknown:
        raise ValueError(f"Unknown domain name(s) {unknown}; this dataset has {domain_names}.")
    if use_images:
        if "images" not in data:
            raise ValueError(
                "use_images=True needs a Bunch with an 'images' field (ask the loader for it, "
                "e.g. return_images=True)."
            )
        features = np.asarray(data.images)
    else:
        features = np.asarray(data.X)
    domain = np.asarray(data.domain)
    labels = np.asarray(data.y)

    blocks = [(name, index) for index, name in enumerate(source_names)]
    blocks += [(name, -1 - index) for index, name in enumerate(target_names)]
    # Integer-array indexing always copies, so the returned arrays never alias the arrays of
    # the Bunch (which a caller may cache and reuse across tasks).
    row_indices = [np.flatnonzero(domain == domain_names.index(name)) for name, _ in blocks]
    rows = np.concatenate(row_indices)
    X = features[rows]
    y = labels[rows].astype(np.int64, copy=False)
    sample_domain = np.concatenate(
        [np.full(len(index), domain_id, dtype=np.int64)
         for index, (_, domain_id) in zip(row_indices, blocks)]
    )
    if mask_target_labels:
        y[sample_domain < 0] = -1
    return X, y, sample_domain


def concatenate_domains(*datasets):
    """Merge dataset Bunches of different sets into one, keeping every domain separate.

    Useful when the domains of a task come from different loaders, e.g. MNIST (resized to
    16x16) and USPS, or Omniglot background alphabets and one evaluation alphabet. The domain
    ids of each Bunch are shifted so that they index the concatenated ``domain_names``.

    Parameters
    ----------
    *datasets : Bunch
        Dataset Bunches with ``X``, ``y``, ``domain`` and ``domain_names``. Their ``X`` must
        have the same number of features and their domain names must all differ.

    Returns
    -------
    data : Bunch
        ``X``, ``y``, ``domain``, ``domain_names`` (and ``images`` when every input has images
        of one shape, ``target_names`` when every input has the same) of all inputs, in order.
        Labels are kept as they are: two sets share label values only where their classes
        are the same (digits), which the caller knows best.

    Examples
    --------
    >>> from skdomainclust.datasets import concatenate_domains, make_digits_shift
    >>> a = make_digits_shift(domains=("original",))
    >>> b = make_digits_shift(domains=("noisy",))
    >>> concatenate_domains(a, b).domain_names
    ('original', 'noisy')
    """
    if not datasets:
        raise ValueError("concatenate_domains needs at least one dataset.")
    for data in datasets:
        _check_domain_bunch(data)
    names = [name for data in datasets for name in data.domain_names]
    if len(set(names)) != len(names):
        raise ValueError(f"Domain names must differ across the datasets, got {names}.")
    n_features = {np.asarray(data.X).shape[1:] for data in datasets}
    if len(n_features) != 1:
        raise ValueError(f"The datasets' X have different feature shapes: {sorted(n_features)}.")

    offsets = np.cumsum([0] + [len(data.domain_names) for data in datasets[:-1]])
    merged = Bunch(
        X=np.concatenate([np.asarray(data.X) for data in datasets]),
        y=np.concatenate([np.asarray(data.y, dtype=np.int64) for data in datasets]),
        domain=np.concatenate([np.asarray(data.domain, dtype=np.int64) + offset
                               for data, offset in zip(datasets, offsets)]),
        domain_names=tuple(names),
        DESCR="Concatenation of: " + "; ".join(
            data.get("DESCR", "").splitlines()[0] if data.get("DESCR") else "unnamed set"
            for data in datasets),
    )
    if all("images" in data for data in datasets):
        shapes = {np.asarray(data.images).shape[1:] for data in datasets}
        if len(shapes) == 1:
            merged.images = np.concatenate([np.asarray(data.images) for data in datasets])
    if all("target_names" in data for data in datasets):
        first = np.asarray(datasets[0].target_names)
        if all(np.array_equal(np.asarray(data.target_names), first) for data in datasets):
            merged.target_names = first.copy()
    return merged
