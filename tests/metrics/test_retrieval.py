"""Retrieval metrics against per-query loops, with ties, chunking and both ranking paths."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skdomainclust.metrics import mean_average_precision, precision_at_k
from skdomainclust.metrics import retrieval as retrieval_module

TOL = 1e-12


# -- references: one query at a time, sorting with an explicit (similarity, index) key --------


def ranked_relevance(query_label, gallery_labels, similarities):
    order = sorted(range(len(gallery_labels)), key=lambda g: (-similarities[g], g))
    return [int(gallery_labels[g] == query_label) for g in order]


def reference_precision(query_labels, gallery_labels, similarity, k, variant):
    hits = total = 0.0
    for q, label in enumerate(query_labels):
        relevant = ranked_relevance(label, gallery_labels, similarity[q])
        if variant == "standard":
            hits += sum(relevant[:k]) / k
            total += 1
        else:
            cut = min(k, sum(relevant))
            hits += sum(relevant[:cut])
            total += cut
    return hits / total if total else 0.0


def reference_average_precision(query_labels, gallery_labels, similarity, k=None):
    aps = []
    for q, label in enumerate(query_labels):
        relevant = ranked_relevance(label, gallery_labels, similarity[q])
        n_relevant = sum(relevant)
        if n_relevant == 0:
            continue
        depth = len(relevant) if k is None else k
        ap = sum(sum(relevant[:r]) / r for r in range(1, min(depth, len(relevant)) + 1)
                 if relevant[r - 1])
        aps.append(ap / n_relevant)
    return sum(aps) / len(aps) if aps else 0.0


def cosine(queries, gallery):
    queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    gallery = gallery / np.linalg.norm(gallery, axis=1, keepdims=True)
    return queries @ gallery.T


def tied_problem(seed, n_queries=37, n_gallery=50, n_labels=5, n_levels=4):
    """Similarities on a few levels only, so most rankings hinge on the tie-break."""
    rng = np.random.default_rng(seed)
    similarity = rng.integers(0, n_levels, (n_queries, n_gallery)).astype(np.float64)
    return (rng.integers(0, n_labels, n_queries), rng.integers(0, n_labels, n_gallery),
            similarity)


# k = 1, 3 take the partition path (4k < n_gallery); 20, 50, 80 the full sort.
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("variant", ["standard", "truncated"])
def test_precision_at_k_matches_loops_with_ties(seed, variant):
    queries, gallery, similarity = tied_problem(seed)
    cutoffs = [1, 3, 12, 20, 50, 80]
    result = precision_at_k(queries, gallery, similarity, k=cutoffs, variant=variant)
    assert list(result) == cutoffs
    for k in cutoffs:
        expected = reference_precision(queries, gallery, similarity, k, variant)
        assert abs(result[k] - expected) <= TOL, k
        single = precision_at_k(queries, gallery, similarity, k=k, variant=variant)
        assert single == result[k]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("k", [None, 1, 5, 11, 40, 50, 70])
def test_mean_average_precision_matches_loops_with_ties(seed, k):
    queries, gallery, similarity = tied_problem(seed)
    expected = reference_average_precision(queries, gallery, similarity, k)
    assert abs(mean_average_precision(queries, gallery, similarity, k=k) - expected) <= TOL


def test_ties_rank_lower_gallery_index_first():
    similarity = np.ones((1, 6))
    # Only items 0 and 1 are relevant; all are tied, so they rank first and second.
    gallery = ["a", "a", "b", "b", "b", "b"]
    assert precision_at_k(["a"], gallery, similarity, k=2) == 1.0
    assert precision_at_k(["b"], gallery, similarity, k=2) == 0.0
    # Ties at the partition boundary: items 3..9 tie, the lowest indices fill the top 5.
    similarity = np.array([[9, 8, 7] + [1] * 7 + [0] * 30], dtype=float)
    gallery = np.zeros(40, dtype=int)
    gallery[[3, 4]] = 1
    gallery[[8, 9]] = 2
    assert precision_at_k([1], gallery, similarity, k=5) == pytest.approx(2 / 5)
    assert precision_at_k([2], gallery, similarity, k=5) == 0.0
    assert mean_average_precision([1], gallery, similarity, k=5) == pytest.approx(
        (1 / 4 + 2 / 5) / 2)


@pytest.mark.parametrize("variant", ["standard", "truncated"])
def test_embeddings_use_cosine_similarity(variant):
    rng = np.random.default_rng(0)
    queries, gallery = rng.normal(size=(30, 6)), rng.normal(size=(45, 6)) * 3.0
    query_labels, gallery_labels = rng.integers(0, 4, 30), rng.integers(0, 4, 45)
    similarity = cosine(queries, gallery)
    for k in (1, 5, 45):
        expected = reference_precision(query_labels, gallery_labels, similarity, k, variant)
        got = precision_at_k(query_labels, gallery_labels, query_embeddings=queries,
                             gallery_embeddings=gallery, k=k, variant=variant)
        assert abs(got - expected) <= TOL
    expected = reference_average_precision(query_labels, gallery_labels, similarity)
    got = mean_average_precision(query_labels, gallery_labels, query_embeddings=queries,
                                 gallery_embeddings=gallery)
    assert abs(got - expected) <= TOL


def test_chunking_does_not_change_results(monkeypatch):
    queries, gallery, similarity = tied_problem(7, n_queries=53)
    expected_p = precision_at_k(queries, gallery, similarity, k=[1, 4, 30], variant="truncated")
    expected_map = mean_average_precision(queries, gallery, similarity)
    monkeypatch.setattr(retrieval_module, "_MAX_CHUNK_ROWS", 8)  # 7 chunks, the last short
    # Integer hit counts: exactly equal. mAP sums floats in another order: equal to rounding.
    assert precision_at_k(queries, gallery, similarity, k=[1, 4, 30],
                          variant="truncated") == expected_p
    assert mean_average_precision(queries, gallery, similarity) == pytest.approx(
        expected_map, abs=TOL)
    monkeypatch.setattr(retrieval_module, "_CHUNK_CELLS", 1)  # one query at a time
    assert mean_average_precision(queries, gallery, similarity) == pytest.approx(
        expected_map, abs=TOL)
    assert precision_at_k(queries, gallery, similarity, k=[1, 4, 30],
                          variant="truncated") == expected_p


def test_queries_without_relevant_items():
    similarity = np.array([[0.5, 0.1], [0.2, 0.9], [0.3, 0.4]])
    queries, gallery = ["x", "a", "b"], ["a", "b"]  # "x" has no relevant item
    # standard: every query counts; truncated and mAP skip "x".
    assert precision_at_k(queries, gallery, similarity, k=1) == pytest.approx(1 / 3)
    assert precision_at_k(queries, gallery, similarity, k=1, variant="truncated") == 0.5
    assert mean_average_precision(queries, gallery, similarity) == pytest.approx(
        (1 / 2 + 1) / 2)
    assert precision_at_k(["x"], gallery, similarity[:1], k=1, variant="truncated") == 0.0
    assert mean_average_precision(["x"], gallery, similarity[:1]) == 0.0


def test_k_beyond_gallery_size():
    similarity = np.array([[0.3, 0.2, 0.1]])
    assert precision_at_k([1], [1, 0, 1], similarity, k=10) == pytest.approx(2 / 10)
    # R = 2, so the truncated variant looks at the top 2 only.
    assert precision_at_k([1], [1, 0, 1], similarity, k=10, variant="truncated") == 0.5
    assert mean_average_precision([1], [1, 0, 1], similarity, k=10) == pytest.approx(
        (1 + 2 / 3) / 2)


@settings(deadline=None, max_examples=50)
@given(data=st.data(), n_queries=st.integers(1, 8), n_gallery=st.integers(1, 12),
       k=st.integers(1, 14))
def test_random_problems_hypothesis(data, n_queries, n_gallery, k):
    labels = st.sampled_from(["cat", "dog", "cow"])
    queries = data.draw(st.lists(labels, min_size=n_queries, max_size=n_queries))
    gallery = data.draw(st.lists(labels, min_size=n_gallery, max_size=n_gallery))
    levels = st.sampled_from([-1.0, 0.0, 0.25, 1.0])
    similarity = np.array(data.draw(st.lists(
        st.lists(levels, min_size=n_gallery, max_size=n_gallery),
        min_size=n_queries, max_size=n_queries)))
    for variant in ("standard", "truncated"):
        got = precision_at_k(queries, gallery, similarity, k=k, variant=variant)
        assert 0.0 <= got <= 1.0
        assert abs(got - reference_precision(queries, gallery, similarity, k, variant)) <= TOL
    for cutoff in (None, k):
        got = mean_average_precision(queries, gallery, similarity, k=cutoff)
        expected = reference_average_precision(queries, gallery, similarity, cutoff)
        assert abs(got - expected) <= TOL


def test_perfect_ranking_scores_one():
    labels = np.repeat(np.arange(4), 5)
    embeddings = np.eye(4)[labels] + 0.01 * np.random.default_rng(0).normal(size=(20, 4))
    kwargs = dict(query_embeddings=embeddings, gallery_embeddings=embeddings)
    assert precision_at_k(labels, labels, k=5, **kwargs) == 1.0
    assert precision_at_k(labels, labels, k=[1, 50], variant="truncated", **kwargs) == {
        1: 1.0, 50: 1.0}
    assert mean_average_precision(labels, labels, **kwargs) == pytest.approx(1.0, abs=TOL)


def test_validation():
    similarity = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"shape \(n_queries, n_gallery\) = \(2, 3\)"):
        precision_at_k([0, 1], [0, 1, 2], similarity.T)
    with pytest.raises(ValueError, match="not both"):
        precision_at_k([0, 1], [0, 1, 2], similarity, query_embeddings=np.zeros((2, 1)))
    with pytest.raises(ValueError, match="both query_embeddings"):
        mean_average_precision([0, 1], [0, 1, 2], query_embeddings=np.zeros((2, 1)))
    with pytest.raises(ValueError, match="same number of columns, got 2 and 3"):
        precision_at_k([0], [0], query_embeddings=np.ones((1, 2)),
                       gallery_embeddings=np.ones((1, 3)))
    with pytest.raises(ValueError, match="gallery_embeddings has 2 rows but there are 3"):
        precision_at_k([0], [0, 1, 2], query_embeddings=np.ones((1, 2)),
                       gallery_embeddings=np.ones((2, 2)))
    with pytest.raises(ValueError, match="NaN"):
        precision_at_k([0, 1], [0, 1, 2], np.full((2, 3), np.nan))
    with pytest.raises(ValueError, match="NaN"):
        precision_at_k([0], [0], query_embeddings=[[np.inf]], gallery_embeddings=[[1.0]])
    with pytest.raises(ValueError, match="positive integer"):
        precision_at_k([0, 1], [0, 1, 2], similarity, k=0)
    with pytest.raises(ValueError, match="positive integer"):
        precision_at_k([0, 1], [0, 1, 2], similarity, k=[1, 2.5])
    with pytest.raises(ValueError, match="positive integer"):
        mean_average_precision([0, 1], [0, 1, 2], similarity, k=True)
    with pytest.raises(ValueError, match="empty sequence"):
        precision_at_k([0, 1], [0, 1, 2], similarity, k=[])
    with pytest.raises(ValueError, match="variant"):
        precision_at_k([0, 1], [0, 1, 2], similarity, variant="micro")
    with pytest.raises(ValueError, match="query_labels must be 1-D"):
        precision_at_k(np.zeros((2, 1)), [0, 1, 2], similarity)
    with pytest.raises(ValueError, match="gallery_labels is empty"):
        precision_at_k([0, 1], [], np.zeros((2, 0)))
