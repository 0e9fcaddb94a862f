"""Tests of the data home, stack_domains / concatenate_domains and the benchmark loaders.

The loader tests read the real staged sets and skip (through the ``data_home`` fixture) when
they are absent; the 1-NN checks reproduce the numbers published in the sets' READMEs.
"""

import os
import pathlib

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier
from sklearn.utils import Bunch

import skdomainclust.datasets as datasets
from skdomainclust.datasets import (
    DATASETS,
    _loaders,
    concatenate_domains,
    get_data_home,
    load_dataset,
    load_mnist,
    load_mnist_m,
    load_mnist_usps_jda,
    load_office31,
    load_office_caltech_decaf,
    load_office_caltech_surf,
    load_omniglot,
    load_usps,
    make_digits_shift,
    stack_domains,
)

DIGIT_COUNTS = {
    "mnist_test": [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
    "usps_train": [1194, 1005, 731, 658, 652, 556, 664, 645, 542, 644],
    "usps_test": [359, 264, 198, 166, 200, 160, 170, 147, 166, 177],
    "jda_mnist": [196, 227, 207, 202, 196, 179, 191, 206, 195, 201],
    "jda_usps": [352, 241, 165, 166, 166, 126, 139, 172, 129, 144],
    "mnist_m": [878, 1016, 933, 908, 890, 807, 856, 914, 880, 919],
}


def one_nn_accuracy(data, source, target):
    X, y, sample_domain = stack_domains(data, source=source, target=target)
    source_rows = sample_domain >= 0
    knn = KNeighborsClassifier(n_neighbors=1).fit(X[source_rows], y[source_rows])
    return 100 * knn.score(X[~source_rows], y[~source_rows])


def assert_core_bunch(data, n_samples, n_features):
    assert data.X.shape == (n_samples, n_features) and data.X.dtype == np.float32
    assert data.y.shape == data.domain.shape == (n_samples,)
    assert data.y.dtype == data.domain.dtype == np.int64
    assert isinstance(data.domain_names, tuple)
    assert set(np.unique(data.domain)) <= set(range(len(data.domain_names)))
    assert isinstance(data.DESCR, str) and data.DESCR
    assert np.all(np.isfinite(data.X))


# --------------------------------------------------------------------------------------------
# Data home.
# --------------------------------------------------------------------------------------------


def test_get_data_home_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SKDOMAINCLUST_DATA", raising=False)
    assert get_data_home() == str(tmp_path / "home" / "skdomainclust_data")
    monkeypatch.setenv("SKDOMAINCLUST_DATA", str(tmp_path / "from_env"))
    assert get_data_home() == str(tmp_path / "from_env")
    assert get_data_home(tmp_path / "explicit") == str(tmp_path / "explicit")
    assert get_data_home("~/x") == str(tmp_path / "home" / "x")
    # Resolving never creates the folder.
    assert not (tmp_path / "from_env").exists()


def test_package_never_refers_to_the_shared_folder():
    for path in pathlib.Path(datasets.__file__).parent.glob("*.py"):
        assert "shared" not in path.read_text(), path


# --------------------------------------------------------------------------------------------
# Loader options on small synthetic arrays (no data needed): the reader is replaced.
# --------------------------------------------------------------------------------------------


def fake_reader(monkeypatch, arrays):
    def read(relative_path, *, data_home, download_if_missing):
        return {key: value.copy() for key, value in arrays.items()}

    monkeypatch.setattr(_loaders, "_read_npz", read)


def test_mnist_m_options_on_synthetic_pixels(monkeypatch):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(5, 32, 32, 3), dtype=np.uint8)
    pixels[0] = 255
    fake_reader(monkeypatch, {"X_test": pixels, "y_test": np.arange(5),
                              "mnist_test_index": np.arange(5)})
    colour = load_mnist_m()
    np.testing.assert_allclose(colour.images, pixels.transpose(0, 3, 1, 2) / 255, atol=1e-7)
    np.testing.assert_array_equal(colour.X[:, :1024], colour.images[:, 0].reshape(5, -1))
    grey = load_mnist_m(grayscale=True, image_size=28)
    assert grey.images.shape == (5, 1, 28, 28) and grey.X.shape == (5, 784)
    assert grey.X.max() == 1.0 and grey.X.min() >= 0.0
    np.testing.assert_allclose(grey.images[0], 1.0)
    same_size = load_mnist_m(grayscale=True)
    luminance = pixels.astype(np.float64) @ [0.299, 0.587, 0.114] / 255
    np.testing.assert_allclose(same_size.images[:, 0], luminance, atol=1e-6)


def test_omniglot_options_on_synthetic_ink(monkeypatch):
    ink = np.zeros((4, 105, 105), dtype=bool)
    ink[:, 30:70, 40:80] = True
    fake_reader(monkeypatch, {
        "ink": ink, "char_id": np.array([1, 1, 27, 27]), "char_label": np.array([0, 0, 1, 1]),
        "alphabet": np.array([0, 0, 1, 1]), "alphabet_names": np.array(["Arcadian", "Armenian"]),
        "char_in_alphabet": np.array([0, 0, 0, 0]), "drawer": np.array([0, 1, 0, 1]),
    })
    raw = load_omniglot(normalize=False, image_size=105)
    np.testing.assert_array_equal(raw.images[:, 0], ink)
    small = load_omniglot(normalize=False, image_size=21)
    assert small.images.shape == (4, 1, 21, 21)
    assert small.X.min() == 0.0 and small.X.max() == 1.0
    normalised = load_omniglot(image_size=21)
    np.testing.assert_allclose(
        normalised.X, (small.X - _loaders.OMNIGLOT_MEAN) / _loaders.OMNIGLOT_STD, rtol=1e-5)
    assert normalised.domain_names == ("Arcadian", "Armenian")
    X, y, sample_domain = stack_domains(normalised, source="Arcadian", target="Armenian")
    np.testing.assert_array_equal(sample_domain, [0, 0, -1, -1])


@pytest.mark.parametrize("loader", [
    load_office_caltech_surf, load_office_caltech_decaf, load_office31, load_mnist_usps_jda,
    load_usps, load_mnist, load_mnist_m, load_omniglot,
])
def test_missing_file_message(loader, tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        loader(data_home=tmp_path)
    message = str(error.value)
    assert str(tmp_path) in message and ".npz" in message
    assert "SKDOMAINCLUST_DATA" in message and "download_if_missing=True" in message


@pytest.mark.parametrize("call, message", [
    (lambda: load_office_caltech_surf(preprocessing="l2"), "preprocessing"),
    (lambda: load_office_caltech_decaf(preprocessing="standard"), "preprocessing"),
    (lambda: load_office31(preprocessing="zscore"), "preprocessing"),
    (lambda: load_mnist_usps_jda(preprocessing="zscore"), "preprocessing"),
    (lambda: load_usps(subset="valid"), "subset"),
    (lambda: load_mnist(subset="train"), "subset"),
    (lambda: load_mnist(image_size=0), "image_size"),
    (lambda: load_mnist_m(image_size=2.5), "image_size"),
    (lambda: load_omniglot(subset="small1"), "subset"),
])
def test_bad_options_fail_before_reading(call, message, monkeypatch, tmp_path):
    monkeypatch.setenv("SKDOMAINCLUST_DATA", str(tmp_path))
    with pytest.raises(ValueError, match=message):
        call()


def test_load_dataset_dispatch():
    assert DATASETS == ("digits_shift", "office_caltech_surf", "office_caltech_decaf",
                        "office31", "mnist_usps_jda", "usps", "mnist", "mnist_m", "omniglot")
    data = load_dataset("digits_shift", domains=("original", "noisy"), random_state=1,
                        data_home="/nonexistent", download_if_missing=False)
    reference = make_digits_shift(domains=("original", "noisy"), random_state=1)
    np.testing.assert_array_equal(data.X, reference.X)
    with pytest.raises(ValueError, match="Unknown data set"):
        load_dataset("office_31")


def test_load_dataset_passes_options_to_the_loader(data_home):
    data = load_dataset("usps", subset="test", data_home=data_home)
    assert data.X.shape == (2007, 256)


def test_resize_in_chunks_equals_one_shot(monkeypatch):
    images = np.random.default_rng(0).random((10, 1, 21, 21)) > 0.7
    one_shot = _loaders._resize_images(images, 8)
    monkeypatch.setattr(_loaders, "_RESIZE_CHUNK", 3)
    np.testing.assert_array_equal(_loaders._resize_images(images, 8), one_shot)
    assert one_shot.dtype == np.float32 and one_shot.shape == (10, 1, 8, 8)
    # Same size: values only rescaled.
    pixels = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 1, 4, 4)
    np.testing.assert_allclose(_loaders._resize_images(pixels, 4, divisor=255.0), pixels / 255)


# --------------------------------------------------------------------------------------------
# stack_domains and concatenate_domains.
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits():
    return make_digits_shift(domains=("original", "rotated", "noisy", "blurred"),
                             return_images=True)


def test_stack_domains_order_and_ids(digits):
    X, y, sample_domain = stack_domains(digits, source=["noisy", "original"],
                                        target=["blurred", "rotated"])
    expected_blocks = [("noisy", 0), ("original", 1), ("blurred", -1), ("rotated", -2)]
    start = 0
    for name, domain_id in expected_blocks:
        rows = digits.domain == digits.domain_names.index(name)
        stop = start + rows.sum()
        np.testing.assert_array_equal(X[start:stop], digits.X[rows])
        np.testing.assert_array_equal(y[start:stop], digits.y[rows])
        assert np.all(sample_domain[start:stop] == domain_id)
        start = stop
    assert start == len(X) == len(digits.X)
    assert y.dtype == sample_domain.dtype == np.int64


def test_stack_domains_single_names_masking_and_copies(digits):
    X, y, sample_domain = stack_domains(digits, source="original", target="rotated")
    assert set(np.unique(sample_domain)) == {0, -1}
    assert np.all(y >= 0)
    _, masked, _ = stack_domains(digits, source="original", target="rotated",
                                 mask_target_labels=True)
    assert np.all(masked[sample_domain < 0] == -1)
    np.testing.assert_array_equal(masked[sample_domain >= 0], y[sample_domain >= 0])
    assert not np.shares_memory(X, digits.X) and not np.shares_memory(y, digits.y)
    X[:] = -5.0
    y[:] = 99
    assert digits.X.min() >= 0.0 and digits.y.max() <= 9


def test_stack_domains_images(digits):
    images, _, sample_domain = stack_domains(digits, source="original", target="noisy",
                                             use_images=True)
    assert images.shape == (len(sample_domain), 1, 8, 8)
    flat, _, _ = stack_domains(digits, source="original", target="noisy")
    np.testing.assert_array_equal(images.reshape(len(images), -1), flat)
    with pytest.raises(ValueError, match="images"):
        stack_domains(make_digits_shift(domains=("original", "noisy")), source="original",
                      target="noisy", use_images=True)


def test_stack_domains_target_only(digits):
    X, _, sample_domain = stack_domains(digits, source=[], target="rotated")
    assert np.all(sample_domain == -1) and len(X) == np.sum(digits.domain == 1)


@pytest.mark.parametrize("source, target, error, message", [
    ("original", "sideways", ValueError, "Unknown domain"),
    ("upside", "rotated", ValueError, "Unknown domain"),
    (["original", "noisy"], ["noisy"], ValueError, "both as source and as target"),
    (["original", "original"], "noisy", ValueError, "twice"),
    ("original", [], ValueError, "at least one"),
    ("original", 3, TypeError, "domain name"),
])
def test_stack_domains_errors(digits, source, target, error, message):
    with pytest.raises(error, match=message):
        stack_domains(digits, source=source, target=target)


def test_stack_domains_needs_a_dataset_bunch():
    with pytest.raises(ValueError, match="domain_names"):
        stack_domains({"X": np.zeros((2, 2))}, source="a", target="b")


def test_concatenate_domains():
    first = make_digits_shift(domains=("original", "noisy"), return_images=True)
    second = make_digits_shift(domains=("rotated",), return_images=True)
    merged = concatenate_domains(first, second)
    assert merged.domain_names == ("original", "noisy", "rotated")
    assert merged.X.shape == (2 * 1797, 64) and merged.images.shape == (2 * 1797, 1, 8, 8)
    np.testing.assert_array_equal(merged.domain[1797:], 2)
    np.testing.assert_array_equal(merged.target_names, np.arange(10))
    X, y, _ = stack_domains(merged, source="noisy", target="rotated")
    assert len(X) == np.sum(first.domain == 1) + 1797
    with pytest.raises(ValueError, match="differ"):
        concatenate_domains(first, first)
    with pytest.raises(ValueError, match="feature shapes"):
        concatenate_domains(first, Bunch(X=np.zeros((3, 5)), y=np.zeros(3, dtype=int),
                                         domain=np.zeros(3, dtype=int), domain_names=("z",)))


# --------------------------------------------------------------------------------------------
# The staged sets (skipped when absent).
# --------------------------------------------------------------------------------------------


def test_office_caltech_surf(data_home):
    data = load_office_caltech_surf()
    assert_core_bunch(data, 958 + 1123 + 157 + 295, 800)
    assert data.domain_names == ("amazon", "caltech", "dslr", "webcam")
    assert list(data.target_names[:3]) == ["back_pack", "bike", "calculator"]
    np.testing.assert_array_equal(np.bincount(data.y[data.domain == 2]),
                                  [12, 21, 12, 13, 10, 24, 22, 12, 8, 23])
    # Standardised within each domain: zero mean, unit (or zero) population std per feature.
    webcam = data.X[data.domain == 3].astype(np.float64)
    np.testing.assert_allclose(webcam.mean(axis=0), 0, atol=1e-5)
    assert set(np.round(webcam.std(axis=0), 4)) <= {0.0, 1.0}
    raw = load_office_caltech_surf(preprocessing=None)
    assert raw.X.dtype == np.float32 and raw.X.min() == 0 and np.all(raw.X == np.round(raw.X))


def test_office_caltech_surf_one_nn_matches_meda(data_home):
    """1-NN with the standard preprocessing gives the "1NN" row of MEDA (ACM MM 2018)."""
    data = load_office_caltech_surf(preprocessing="standard")
    assert round(one_nn_accuracy(data, "amazon", "webcam"), 1) == 29.8
    assert round(one_nn_accuracy(data, "dslr", "webcam"), 1) == 63.4
    assert round(one_nn_accuracy(data, "caltech", "amazon"), 1) == 23.7


def test_office_caltech_decaf(data_home):
    data = load_office_caltech_decaf()
    assert_core_bunch(data, 157 + 295, 4096)
    assert data.domain_names == ("dslr", "webcam")
    np.testing.assert_allclose(np.linalg.norm(data.X, axis=1), 1.0, rtol=1e-5)
    assert round(one_nn_accuracy(data, "webcam", "dslr"), 1) == 100.0
    assert round(one_nn_accuracy(data, "dslr", "webcam"), 1) == 99.7
    raw = load_office_caltech_decaf(preprocessing=None)
    assert raw.X.min() == 0 and 80 < raw.X.max() < 82
    assert round(one_nn_accuracy(raw, "webcam", "dslr"), 1) == 98.7


def test_office31(data_home):
    data = load_office31()
    assert_core_bunch(data, 2817 + 498 + 795, 1280)
    assert data.domain_names == ("amazon", "dslr", "webcam")
    assert len(data.target_names) == 31
    assert list(data.target_names[:3]) == ["back_pack", "bike", "bike_helmet"]
    assert data.target_names[-1] == "trash_can"
    for index, size in enumerate((2817, 498, 795)):
        rows = data.domain == index
        assert rows.sum() == size and set(data.y[rows]) == set(range(31))
        # Z-scored within each domain (population std; constant features stay 0).
        block = data.X[rows].astype(np.float64)
        np.testing.assert_allclose(block.mean(axis=0), 0, atol=1e-4)
        assert np.all((np.abs(block.std(axis=0) - 1) < 1e-3) | (block.std(axis=0) < 1e-6))
    np.testing.assert_array_equal(np.bincount(data.y[data.domain == 1])[:4], [12, 21, 24, 12])
    l2 = load_office31(preprocessing="l2")
    np.testing.assert_allclose(np.linalg.norm(l2.X, axis=1), 1.0, rtol=1e-5)
    raw = load_office31(preprocessing=None)
    assert raw.X.min() >= 0 and raw.X.max() < 6.5  # ReLU6 activations, averaged
    # The staged README's check: 1-NN on L2-normalised rows, amazon -> webcam 74.09 %.
    assert round(one_nn_accuracy(l2, "amazon", "webcam"), 2) == 74.09


def test_mnist_usps_jda(data_home):
    data = load_mnist_usps_jda(return_images=True)
    assert_core_bunch(data, 3800, 256)
    assert data.domain_names == ("mnist", "usps")
    assert data.images.shape == (3800, 1, 16, 16)
    assert 0 <= data.X.min() and data.X.max() <= 1
    np.testing.assert_array_equal(np.bincount(data.y[data.domain == 0]), DIGIT_COUNTS["jda_mnist"])
    np.testing.assert_array_equal(np.bincount(data.y[data.domain == 1]), DIGIT_COUNTS["jda_usps"])
    assert round(one_nn_accuracy(data, "mnist", "usps"), 2) == 64.44
    assert round(one_nn_accuracy(data, "usps", "mnist"), 2) == 35.85


def test_mnist_usps_jda_one_nn_matches_jda(data_home):
    """1-NN on L2-normalised pixels gives the NN baseline of the JDA paper (Table 2)."""
    data = load_mnist_usps_jda(preprocessing="l2")
    assert round(one_nn_accuracy(data, "mnist", "usps"), 2) == 65.94
    assert round(one_nn_accuracy(data, "usps", "mnist"), 2) == 44.70


def test_usps(data_home):
    data = load_usps(return_images=True)
    assert_core_bunch(data, 9298, 256)
    assert data.domain_names == ("usps",) and np.all(data.domain == 0)
    assert data.images.shape == (9298, 1, 16, 16) and np.shares_memory(data.images, data.X)
    assert 0 <= data.X.min() and data.X.max() <= 1
    train, test = load_usps(subset="train"), load_usps(subset="test")
    np.testing.assert_array_equal(np.bincount(train.y), DIGIT_COUNTS["usps_train"])
    np.testing.assert_array_equal(np.bincount(test.y), DIGIT_COUNTS["usps_test"])
    np.testing.assert_array_equal(data.X, np.concatenate([train.X, test.X]))
    assert load_usps(subset="test", image_size=28).X.shape == (2007, 784)


def test_mnist(data_home):
    data = load_mnist(return_images=True)
    assert_core_bunch(data, 10000, 784)
    assert data.domain_names == ("mnist",) and data.images.shape == (10000, 1, 28, 28)
    np.testing.assert_array_equal(np.bincount(data.y), DIGIT_COUNTS["mnist_test"])
    assert data.X.min() == 0 and data.X.max() == 1
    train = load_mnist(subset="train5k", image_size=16)
    assert_core_bunch(train, 5000, 256)
    np.testing.assert_array_equal(np.bincount(train.y), [500] * 10)
    assert 0 <= train.X.min() and train.X.max() <= 1
    both = load_mnist(subset="all", image_size=32)
    assert both.X.shape == (15000, 1024)
    np.testing.assert_array_equal(both.y, np.concatenate([train.y, data.y]))


def test_mnist_m(data_home):
    data = load_mnist_m()
    assert_core_bunch(data, 9001, 3 * 32 * 32)
    assert data.domain_names == ("mnist_m",)
    assert data.images.shape == (9001, 3, 32, 32) and data.images.dtype == np.float32
    assert 0 <= data.X.min() and data.X.max() <= 1
    np.testing.assert_array_equal(data.mnist_test_index, np.arange(9001))
    np.testing.assert_array_equal(np.bincount(data.y), DIGIT_COUNTS["mnist_m"])
    # Index-aligned with MNIST test: same labels.
    np.testing.assert_array_equal(data.y, load_mnist().y[:9001])


@pytest.fixture(scope="module")
def omniglot_evaluation(data_home):
    return load_omniglot(subset="evaluation")


@pytest.fixture(scope="module")
def omniglot_background(data_home):
    return load_omniglot(subset="background")


def test_omniglot_evaluation(omniglot_evaluation):
    data = omniglot_evaluation
    assert_core_bunch(data, 13180, 32 * 32)
    assert data.images.shape == (13180, 1, 32, 32) and np.shares_memory(data.images, data.X)
    assert len(data.domain_names) == 20 and data.domain_names == data.alphabet_names
    np.testing.assert_array_equal(data.domain, data.alphabet)
    assert data.y.max() == 658 and len(np.unique(data.y)) == 659
    assert set(np.unique(data.drawer)) == set(range(20))
    assert data.char_id.min() == 965 and data.char_id.max() == 1623
    counts = {name: len(np.unique(data.y[data.alphabet == index]))
              for index, name in enumerate(data.alphabet_names)}
    assert counts["Angelic"] == 20 and counts["Malayalam"] == 47 and counts["Oriya"] == 46
    # Characters are numbered 0..k-1 inside each alphabet.
    for index in range(20):
        inside = data.char_in_alphabet[data.alphabet == index]
        assert inside.min() == 0 and inside.max() == counts[data.alphabet_names[index]] - 1
    X, y, sample_domain = stack_domains(data, source=[], target="Angelic")
    assert X.shape == (400, 1024) and len(np.unique(y)) == 20


def test_omniglot_normalisation(omniglot_evaluation):
    ink = omniglot_evaluation.X * _loaders.OMNIGLOT_STD + _loaders.OMNIGLOT_MEAN
    # Ink is 1 and background 0 before normalisation; strokes are thin.
    np.testing.assert_allclose([ink.min(), ink.max()], [0.0, 1.0], atol=1e-5)
    assert 0.05 < ink.mean() < 0.12


def test_omniglot_background(omniglot_background):
    data = omniglot_background
    assert_core_bunch(data, 19280, 32 * 32)
    assert len(data.alphabet_names) == 30 and len(np.unique(data.y)) == 964
    assert data.char_id.min() == 1 and data.char_id.max() == 964
    assert abs(data.X.mean()) < 0.1 and 0.8 < data.X.std() < 1.1


def test_cross_task_setting_with_concatenate(omniglot_background, omniglot_evaluation):
    """Background alphabets as sources, one evaluation alphabet as target."""
    merged = concatenate_domains(omniglot_background, omniglot_evaluation)
    X, _, sample_domain = stack_domains(merged, source=list(omniglot_background.domain_names),
                                        target="Angelic", use_images=True)
    assert X.shape == (19280 + 400, 1, 32, 32)
    assert np.sum(sample_domain < 0) == 400 and sample_domain.max() == 29


def test_mnist_to_usps_with_concatenate(data_home):
    merged = concatenate_domains(load_mnist(subset="train5k", image_size=16), load_usps())
    X, y, sample_domain = stack_domains(merged, source="mnist", target="usps")
    assert X.shape == (5000 + 9298, 256) and np.sum(sample_domain < 0) == 9298


def test_data_home_fixture_points_at_the_staged_sets(data_home):
    assert os.path.isfile(os.path.join(data_home, "usps", "usps_16x16.npz"))
