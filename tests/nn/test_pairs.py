"""Pair enumeration and the factorised pair head against the explicit concatenation."""

import pytest
import torch

from skdomainclust.nn.pairs import PairHead, pair_enum, pair_probabilities, similarity_targets


def test_pair_enum_follows_the_authors_row_order():
    x = torch.arange(12, dtype=torch.float32).reshape(4, 3)
    pairs = pair_enum(x)
    assert pairs.shape == (16, 6)
    for a in range(4):
        for b in range(4):
            torch.testing.assert_close(pairs[a * 4 + b], torch.cat([x[b], x[a]]))


@pytest.mark.parametrize("train", [True, False])
def test_factorised_head_equals_enumerated_head(train):
    torch.manual_seed(0)
    head = PairHead(5, hidden=7).double()
    # Non-trivial running statistics for the eval-mode comparison.
    head.bn.running_mean.normal_()
    head.bn.running_var.uniform_(0.5, 2.0)
    head.train(train)
    x = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    fast = head(x)
    slow = head.forward_enumerated(x).view(6, 6, 2)
    torch.testing.assert_close(fast, slow)
    # Same gradients, parameters and inputs alike.
    grads_fast = torch.autograd.grad(fast.square().sum(), [x, *head.parameters()])
    grads_slow = torch.autograd.grad(head.forward_enumerated(x).square().sum(),
                                     [x, *head.parameters()])
    for g_fast, g_slow in zip(grads_fast, grads_slow):
        torch.testing.assert_close(g_fast, g_slow)


def test_head_on_two_sets_scores_second_then_first():
    torch.manual_seed(1)
    head = PairHead(3).eval()
    first, second = torch.randn(2, 3), torch.randn(4, 3)
    out = head(first, second)
    assert out.shape == (2, 4, 2)
    with torch.no_grad():
        for a in range(2):
            for b in range(4):
                row = torch.cat([second[b], first[a]])[None]
                expected = head.fc2(head.relu(head.bn(head.fc1(row))))[0]
                torch.testing.assert_close(out[a, b], expected)


def test_default_hidden_width_is_four_times_the_embedding():
    assert PairHead(8).fc1.out_features == 32


def test_similarity_targets():
    S = similarity_targets(torch.tensor([0, 1, 0]))
    torch.testing.assert_close(S, torch.tensor([[1.0, 0, 1], [0, 1, 0], [1, 0, 1]]))


def test_pair_enum_rejects_non_matrices():
    with pytest.raises(ValueError, match="expects"):
        pair_enum(torch.zeros(2, 3, 4))


def test_pair_probabilities_streams_the_full_matrix():
    torch.manual_seed(2)
    head = PairHead(4).eval()
    h = torch.randn(7, 4)
    full = torch.softmax(head(h), dim=-1)[..., 1]
    blocks = list(pair_probabilities(head, h, rows_per_chunk=3))
    assert [(rows.start, rows.stop) for rows, _ in blocks] == [(0, 3), (3, 6), (6, 7)]
    torch.testing.assert_close(torch.cat([p for _, p in blocks]), full)
    assert not any(p.requires_grad for _, p in blocks)
