"""Plot helpers: what they draw, on the Agg backend."""

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from skdomainclust.plotting import (  # noqa: E402
    plot_confusion_matrix,
    plot_domains_and_clusters,
    plot_embedding,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_confusion_matrix_is_diagonal_after_matching_permuted_clusters():
    y_true = np.repeat([0, 1, 2], 10)
    y_pred = np.repeat([5, 3, 9], 10)  # a perfect clustering under other ids
    ax = plot_confusion_matrix(y_true, y_pred)
    table = ax.images[0].get_array()
    np.testing.assert_allclose(table, np.eye(3))
    assert ax.get_title() == "matched accuracy 100.0%"


def test_confusion_matrix_gathers_unmatched_clusters_and_counts_without_normalising():
    y_true = np.array([0, 0, 0, 1, 1, 1])
    y_pred = np.array([4, 4, 7, 8, 8, 8])  # cluster 7 has no class left to match
    ax = plot_confusion_matrix(y_true, y_pred, normalize=False)
    table = np.asarray(ax.images[0].get_array())
    np.testing.assert_array_equal(table, [[2, 0, 1], [0, 3, 0]])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1", "unmatched"]
    raw = plot_confusion_matrix(y_true, y_pred, match=False, normalize=False)
    np.testing.assert_array_equal(raw.images[0].get_array(), [[2, 1, 0], [0, 0, 3]])
    classified = plot_confusion_matrix(y_true, np.array([0, 0, 1, 1, 1, 1]), match=False)
    assert classified.get_title() == "accuracy 83.3%"


def test_embedding_draws_one_group_per_label_with_names():
    rng = np.random.default_rng(0)
    ax = plot_embedding(rng.normal(size=(30, 6)), np.repeat([0, -1, -2], 10),
                        label_names={0: "source", -1: "target"}, title="t")
    assert len(ax.collections) == 3
    assert sorted(t.get_text() for t in ax.get_legend().get_texts()) == ["-2", "source",
                                                                        "target"]
    assert ax.get_title() == "t"
    with pytest.raises(ValueError, match="rows"):
        plot_embedding(rng.normal(size=(30, 6)), [0, 1])
    with pytest.raises(ValueError, match="2-D"):
        plot_embedding(rng.normal(size=30), np.zeros(30))


def test_domains_and_clusters_share_one_projection():
    rng = np.random.default_rng(1)
    Z = rng.normal(size=(40, 5))
    axes = plot_domains_and_clusters(Z, np.repeat([0, -1], 20), np.tile([0, 1, 2, 3], 10),
                                     domain_names={0: "amazon", -1: "webcam"})
    by_domain = np.vstack([c.get_offsets() for c in axes[0].collections])
    by_cluster = np.vstack([c.get_offsets() for c in axes[1].collections])
    # Same points in both panels (grouped differently).
    np.testing.assert_allclose(np.sort(by_domain, axis=0), np.sort(by_cluster, axis=0))


def test_confusion_matrix_shows_class_names_and_turns_long_column_labels():
    y_true = np.repeat([0, 1, 2], 4)
    names = ["back_pack", "bike", "calculator"]
    ax = plot_confusion_matrix(y_true, y_true, class_names=names)
    assert [t.get_text() for t in ax.get_yticklabels()] == names
    assert [t.get_text() for t in ax.get_xticklabels()] == names
    # Names longer than a few characters would collide side by side: they are turned.
    assert {t.get_rotation() for t in ax.get_xticklabels()} == {90.0}
    short = plot_confusion_matrix(y_true, y_true, class_names={0: "a", 1: "b", 2: "c"})
    assert {t.get_rotation() for t in short.get_xticklabels()} == {0.0}


def test_embedding_says_it_is_a_pca_and_why_a_legend_is_missing():
    rng = np.random.default_rng(2)
    ax = plot_embedding(rng.normal(size=(90, 6)), np.arange(90) % 30, title="by cluster")
    assert ax.get_xlabel() == "PCA 1" and ax.get_ylabel() == "PCA 2"
    assert ax.get_legend() is None
    assert ax.get_title() == "by cluster (30 labels, colours repeat)"
    flat = plot_embedding(rng.normal(size=(10, 2)), np.zeros(10))
    assert flat.get_xlabel() == ""  # two columns are drawn as they are, not projected


def test_the_target_domain_is_drawn_over_the_sources():
    rng = np.random.default_rng(3)
    axes = plot_domains_and_clusters(rng.normal(size=(40, 5)), np.repeat([0, 1, -1], [15, 15, 10]),
                                     np.zeros(40))
    by_label = {c.get_label(): c.get_zorder() for c in axes[0].collections}
    assert by_label["-1"] > max(by_label["0"], by_label["1"])
    assert axes[0].get_xlabel() == "PCA 1"
