"""Data sets for clustering across domain shift.

- :func:`make_digits_shift`: a built-in benchmark made from scikit-learn's 8x8 digits (no
  download).
- Loaders of the standard benchmark sets (Office-Caltech10 SURF and DeCAF6, Office-31 with
  pretrained features, MNIST/USPS (JDA),
  USPS, MNIST, MNIST-M, Omniglot), read as ``.npz`` from the data home (the argument
  ``data_home``, else the ``SKDOMAINCLUST_DATA`` environment variable, else
  ``~/skdomainclust_data``); with ``download_if_missing=True`` they download and convert the
  public source files, checked against recorded checksums.
- :func:`stack_domains` turns any of them into the ``(X, y, sample_domain)`` the estimators
  take; :func:`concatenate_domains` merges sets (e.g. MNIST and USPS) first.
"""

from ._base import DATA_HOME_ENV_VAR, concatenate_domains, get_data_home, stack_domains
from ._digits_shift import DIGITS_SHIFT_DOMAINS, make_digits_shift
from ._loaders import (
    DATASETS,
    load_dataset,
    load_mnist,
    load_mnist_m,
    load_mnist_usps_jda,
    load_office31,
    load_office_caltech_decaf,
    load_office_caltech_surf,
    load_omniglot,
    load_usps,
)

__all__ = [
    "DATASETS",
    "DATA_HOME_ENV_VAR",
    "DIGITS_SHIFT_DOMAINS",
    "concatenate_domains",
    "get_data_home",
    "load_dataset",
    "load_mnist",
    "load_mnist_m",
    "load_mnist_usps_jda",
    "load_office31",
    "load_office_caltech_decaf",
    "load_office_caltech_surf",
    "load_omniglot",
    "load_usps",
    "make_digits_shift",
    "stack_domains",
]
