"""Instance pivot subgraphs on a tiny hand-made set, checked against hand-computed graphs."""

import numpy as np
import pytest
import torch

from skdomainclust.nn.pivot_graph import (
    build_pivot_subgraphs,
    hop1_link_labels,
    knn_graph,
    knn_search,
    pivot_node_features,
)

# Six unit vectors at these angles (degrees): nearest neighbours by angle, no ties.
ANGLES = [0, 10, 25, 45, 95, 100]
# Worked out by hand from the angle differences.
KNN3 = [
    [1, 2, 3],  # 0: 10, 25, 45 degrees away
    [0, 2, 3],  # 1: 10, 15, 35
    [1, 3, 0],  # 2: 15, 20, 25
    [2, 1, 0],  # 3: 20, 35, 45
    [5, 3, 2],  # 4: 5, 50, 70
    [4, 3, 2],  # 5: 5, 55, 75
]
LABELS = torch.tensor([0, 0, 0, 0, 1, 1])


def _points(angles=ANGLES):
    radians = np.deg2rad(np.asarray(angles, dtype=np.float64))
    return torch.tensor(np.stack([np.cos(radians), np.sin(radians)], axis=1), dtype=torch.float32)


def test_knn_graph_matches_hand_computed_neighbours():
    assert knn_graph(_points(), 3).tolist() == KNN3


def test_knn_graph_has_exactly_k_distinct_neighbours_despite_duplicates():
    X = torch.tensor([[1.0, 0.0]] * 4 + [[0.0, 1.0]] * 3)  # ties everywhere
    knn = knn_graph(X, 5)
    for i, row in enumerate(knn.tolist()):
        assert len(set(row)) == 5
        assert i not in row
    # The duplicates of a point come before the other points.
    assert set(knn[0, :3].tolist()) == {1, 2, 3}


def test_knn_search_in_batches_equals_one_batch():
    gen = torch.Generator().manual_seed(0)
    X = torch.nn.functional.normalize(torch.randn(50, 4, generator=gen))
    np.testing.assert_array_equal(knn_graph(X, 7, batch_size=8), knn_graph(X, 7, batch_size=100))
    assert knn_search(X[:3], X, 1)[:, 0].tolist() == [0, 1, 2]


def test_knn_rejects_too_many_neighbours():
    with pytest.raises(ValueError, match="k must be"):
        knn_graph(_points(), 6)


def test_subgraphs_equal_hand_computed_nodes_and_adjacency():
    knn = torch.tensor(KNN3)
    # Pivot 4, k1=2, k2=2, u=1: hop 1 = {5, 3}; hop 2 = knn[5][:2] + knn[3][:2] = {4, 3, 2, 1}.
    graphs = build_pivot_subgraphs(knn, torch.tensor([4]), k1=2, k2=2, u=1)
    assert graphs.nodes.tolist() == [[4, 5, 3, 2, 1]]
    assert graphs.mask.all()
    # u=1 links: 4-5, 5-4, 3-2, 2-1, 1-0 (0 is not a node) -> edges {4,5}, {3,2}, {2,1}.
    expected = torch.tensor([
        [0, 1, 0, 0, 0],
        [1, 0, 0, 0, 0],
        [0, 0, 0, 1, 0],
        [0, 0, 0.5, 0, 0.5],
        [0, 0, 0, 1, 0],
    ])
    torch.testing.assert_close(graphs.adjacency[0], expected)
    assert graphs.hop1.tolist() == [[5, 3]]
    assert hop1_link_labels(LABELS, graphs).tolist() == [[1, 0]]


def test_subgraph_batch_pads_and_masks_smaller_graphs():
    knn = torch.tensor(KNN3)
    graphs = build_pivot_subgraphs(knn, torch.tensor([4, 0]), k1=2, k2=2, u=2)
    # Pivot 0: hop 1 = {1, 2}, hop 2 = {0, 2, 1, 3}: nodes 0, 1, 2, 3 plus one padding slot.
    assert graphs.nodes[1].tolist() == [0, 1, 2, 3, -1]
    assert graphs.mask[1].tolist() == [True, True, True, True, False]
    # u=2 links: 0-{1,2}, 1-{0,2}, 2-{1,3}, 3-{2,1}.
    expected = torch.tensor([
        [0, 1 / 2, 1 / 2, 0, 0],
        [1 / 3, 0, 1 / 3, 1 / 3, 0],
        [1 / 3, 1 / 3, 0, 1 / 3, 0],
        [0, 1 / 2, 1 / 2, 0, 0],
        [0, 0, 0, 0, 0],
    ])
    torch.testing.assert_close(graphs.adjacency[1], expected)
    assert hop1_link_labels(LABELS, graphs).tolist() == [[1, 0], [1, 1]]
    padded = build_pivot_subgraphs(knn, torch.tensor([4, 0]), k1=2, k2=2, u=2, pad_to_max=True)
    assert padded.nodes.shape == (2, 2 * (2 + 1) + 1)
    torch.testing.assert_close(padded.adjacency[:, :5, :5], graphs.adjacency)
    assert padded.adjacency[:, 5:].abs().sum() == 0


def test_adjacency_is_symmetric_before_normalisation_and_rows_sum_to_one():
    gen = torch.Generator().manual_seed(1)
    X = torch.nn.functional.normalize(torch.randn(40, 3, generator=gen))
    knn = knn_graph(X, 6)
    graphs = build_pivot_subgraphs(knn, torch.arange(40), k1=4, k2=3, u=2)
    binary = (graphs.adjacency > 0).float()
    torch.testing.assert_close(binary, binary.transpose(1, 2))
    assert (graphs.adjacency.diagonal(dim1=1, dim2=2) == 0).all()
    sums = graphs.adjacency.sum(2)
    real = graphs.mask & (binary.sum(2) > 0)
    torch.testing.assert_close(sums[real], torch.ones(int(real.sum())))
    # Every real node is unique within its subgraph.
    for row, mask in zip(graphs.nodes.tolist(), graphs.mask.tolist()):
        ids = [n for n, m in zip(row, mask) if m]
        assert len(ids) == len(set(ids))


def test_subgraphs_match_a_slow_reference():
    """The set-and-loop construction of the reference code, on random data."""
    gen = torch.Generator().manual_seed(2)
    X = torch.nn.functional.normalize(torch.randn(30, 3, generator=gen))
    k1, k2, u = 5, 3, 2
    knn = knn_graph(X, 6)
    graphs = build_pivot_subgraphs(knn, torch.arange(30), k1, k2, u)
    for p in range(30):
        hop1 = knn[p, :k1].tolist()
        nodes = {p, *hop1}
        for h in hop1:
            nodes.update(knn[h, :k2].tolist())
        got = [n for n, m in zip(graphs.nodes[p].tolist(), graphs.mask[p].tolist()) if m]
        assert set(got) == nodes and got[0] == p and got[1:1 + k1] == hop1
        slot = {n: i for i, n in enumerate(got)}
        A = torch.zeros(len(got), len(got))
        for n in got:
            for m in knn[n, :u].tolist():
                if m in slot:
                    A[slot[n], slot[m]] = A[slot[m], slot[n]] = 1
        A = A / A.sum(1, keepdim=True).clamp(min=1)
        torch.testing.assert_close(graphs.adjacency[p, :len(got), :len(got)], A)


def test_external_pivot_gets_its_own_links():
    knn = torch.tensor(KNN3)
    # A query at 97 degrees: nearest 4 (2 degrees), then 5 (3), then 3 (52).
    query = _points([97])
    neighbours = knn_search(query, _points(), 3)
    assert neighbours.tolist() == [[4, 5, 3]]
    graphs = build_pivot_subgraphs(knn, None, k1=2, k2=1, u=1, pivot_knn=neighbours)
    assert graphs.nodes.tolist() == [[6, 4, 5]]  # the query gets id n = 6
    torch.testing.assert_close(graphs.adjacency[0], torch.tensor([
        [0, 1, 0], [0.5, 0, 0.5], [0, 1, 0]]))
    feats = pivot_node_features(_points(), graphs, pivot_features=query)
    torch.testing.assert_close(feats[0, 0], torch.zeros(2))
    torch.testing.assert_close(feats[0, 1], _points()[4] - query[0])


def test_node_features_subtract_the_pivot_and_zero_padding():
    X = _points()
    knn = torch.tensor(KNN3)
    graphs = build_pivot_subgraphs(knn, torch.tensor([4, 0]), k1=2, k2=2, u=1)
    feats = pivot_node_features(X, graphs)
    assert feats.shape == (2, 5, 2)
    torch.testing.assert_close(feats[0, 2], X[3] - X[4])
    torch.testing.assert_close(feats[1, 4], torch.zeros(2))  # padding
    torch.testing.assert_close(feats[:, 0], torch.zeros(2, 2))


def test_too_short_knn_table_is_rejected():
    with pytest.raises(ValueError, match="too short"):
        build_pivot_subgraphs(torch.tensor(KNN3)[:, :2], torch.tensor([0]), k1=3, k2=2, u=1)
