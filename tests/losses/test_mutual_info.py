import math

import numpy as np
import pytest
import torch

from skdomainclust.losses.mutual_info import (
    EPS,
    domain_cluster_joint,
    ema_joint,
    iic_loss,
    mutual_information,
    pivot_one_hot,
    view_joint,
)


def _slow_mi(P, lam=1.0, eps=EPS):
    """Entry by entry, with the marginals summed before clamping."""
    P = np.asarray(P, dtype=np.float64)
    rows, cols = P.sum(axis=1), P.sum(axis=0)
    total = 0.0
    for i in range(P.shape[0]):
        for j in range(P.shape[1]):
            pij = max(P[i, j], eps)
            total += pij * (math.log(pij) - lam * math.log(max(rows[i], eps))
                            - lam * math.log(max(cols[j], eps)))
    return total


def test_mi_equals_hand_computed_value_on_small_joint():
    P = torch.tensor([[0.4, 0.1], [0.1, 0.4]], dtype=torch.float64)
    # Marginals are (0.5, 0.5): MI = 2 * 0.4 log(0.4 / 0.25) + 2 * 0.1 log(0.1 / 0.25).
    expected = 0.8 * math.log(1.6) + 0.2 * math.log(0.4)
    assert mutual_information(P).item() == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(0.19274475702175742, rel=1e-12)


def test_mi_lambda_adds_marginal_entropy():
    P = torch.tensor([[0.3, 0.1], [0.2, 0.4]], dtype=torch.float64)
    h_rows = -sum(p * math.log(p) for p in (0.4, 0.6))
    h_cols = -sum(p * math.log(p) for p in (0.5, 0.5))
    gap = mutual_information(P, lam=2.0) - mutual_information(P, lam=1.0)
    assert gap.item() == pytest.approx(h_rows + h_cols, rel=1e-12)


def test_mi_clamps_zero_entries_and_marginals_like_the_reference():
    P = torch.tensor([[0.5, 0.0, 0.0], [0.0, 0.5, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    value = mutual_information(P)
    assert torch.isfinite(value)
    assert value.item() == pytest.approx(_slow_mi(P.numpy()), rel=1e-12)
    assert value.item() == pytest.approx(math.log(2), abs=1e-12)


def test_mi_of_random_joints_matches_slow_reference(rng):
    for shape in [(3, 3), (4, 7), (2, 5)]:
        P = rng.random(shape)
        P /= P.sum()
        for lam in (1.0, 1.5):
            got = mutual_information(torch.as_tensor(P), lam=lam).item()
            assert got == pytest.approx(_slow_mi(P, lam), rel=1e-10)


def test_mi_gradient_is_finite_at_the_uniform_joint():
    P = torch.full((4, 4), 1 / 16, dtype=torch.float64, requires_grad=True)
    mutual_information(P).backward()
    assert torch.isfinite(P.grad).all()


def test_view_joint_is_symmetric_normalised_and_matches_outer_products(rng):
    p = torch.softmax(torch.as_tensor(rng.normal(size=(6, 4))), dim=1)
    q = torch.softmax(torch.as_tensor(rng.normal(size=(6, 4))), dim=1)
    slow = sum(torch.outer(p[i], q[i]) for i in range(6))
    slow = (slow + slow.t()) / 2
    slow = slow / slow.sum()
    torch.testing.assert_close(view_joint(p, q), slow)
    torch.testing.assert_close(view_joint(p, q), view_joint(p, q).t())
    with pytest.raises(ValueError, match="one shape"):
        view_joint(p, q[:5])


def test_batched_leading_dimensions_equal_one_by_one(rng):
    p = torch.softmax(torch.as_tensor(rng.normal(size=(3, 8, 5))), dim=-1)
    q = torch.softmax(torch.as_tensor(rng.normal(size=(3, 8, 5))), dim=-1)
    domains = torch.tensor([0, 0, 1, 1, 2, 2, 2, 0])
    batched = mutual_information(view_joint(p, q))
    dc = domain_cluster_joint(p, domains, 3)
    for s in range(3):
        assert batched[s].item() == pytest.approx(mutual_information(view_joint(p[s], q[s])).item())
        torch.testing.assert_close(dc[s], domain_cluster_joint(p[s], domains, 3))


def test_domain_cluster_joint_matches_loop(rng):
    p = torch.softmax(torch.as_tensor(rng.normal(size=(7, 3))), dim=1)
    domains = torch.tensor([0, 2, 2, 0, 1, 0, 2])
    expected = torch.zeros(3, 3, dtype=p.dtype)
    for i, d in enumerate(domains):
        expected[d] += p[i]
    expected /= expected.sum()
    torch.testing.assert_close(domain_cluster_joint(p, domains, 3), expected)
    # Identical per-domain cluster distributions: domain and cluster are independent.
    same = torch.tensor([[0.7, 0.3]] * 4, dtype=torch.float64)
    joint = domain_cluster_joint(same, torch.tensor([0, 0, 1, 1]), 2)
    assert mutual_information(joint).item() == pytest.approx(0.0, abs=1e-12)


def test_ema_first_call_is_identity_then_detached_average():
    first = torch.tensor([[0.5, 0.0], [0.0, 0.5]])
    assert ema_joint(first, None, 0.3) is first
    current = torch.full((2, 2), 0.25, requires_grad=True)
    previous = torch.tensor([[0.5, 0.0], [0.0, 0.5]], requires_grad=True)
    out = ema_joint(current, previous, 0.3)
    torch.testing.assert_close(out, 0.3 * previous.detach() + 0.7 * current.detach())
    out.sum().backward()
    assert previous.grad is None
    torch.testing.assert_close(current.grad, torch.full((2, 2), 0.7))


def test_iic_loss_returns_detached_moving_average():
    p = torch.tensor([[0.9, 0.1], [0.2, 0.8]], requires_grad=True)
    loss, state = iic_loss(p, p)
    assert not state.requires_grad
    loss2, state2 = iic_loss(p, p, previous=torch.full((2, 2), 0.25), alpha=0.5)
    torch.testing.assert_close(state2, 0.5 * torch.full((2, 2), 0.25) + 0.5 * state)
    assert loss2.item() > loss.item()  # mixing in the uniform joint lowers the MI


def test_pivot_one_hot_replaces_confident_rows_without_touching_input():
    p = torch.tensor([[0.97, 0.02, 0.01], [0.5, 0.3, 0.2], [0.01, 0.01, 0.98]],
                     requires_grad=True)
    before = p.detach().clone()
    out = pivot_one_hot(p, 0.95)
    torch.testing.assert_close(out[0], torch.tensor([1.0, 0.0, 0.0]))
    torch.testing.assert_close(out[2], torch.tensor([0.0, 0.0, 1.0]))
    torch.testing.assert_close(out[1], p[1])
    torch.testing.assert_close(p.detach(), before)
    out.sum(dim=0)[1].backward()
    # Only the non-pivot row carries a gradient.
    torch.testing.assert_close(p.grad, torch.tensor([[0.0, 0, 0], [0, 1, 0], [0, 0, 0]]))
