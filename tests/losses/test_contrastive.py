"""UCDIR's losses against slow, entry-by-entry references (float64, plain Python loops)."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from skdomainclust.losses.contrastive import (
    cluster_contrastive_loss,
    distance_of_distance_loss,
    instance_contrastive_loss,
    prototype_confidence,
    prototype_distance_matrix,
    prototype_entropy,
)


def _unit(rng, *shape):
    return F.normalize(torch.as_tensor(rng.normal(size=shape)), dim=-1)


def _log_sum_exp(values):
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def _dot(a, b):
    return float(sum(x * y for x, y in zip(a.tolist(), b.tolist())))


# -- references ------------------------------------------------------------------------------


def _slow_instance(q, k, bank, index, t):
    total = 0.0
    for i in range(len(q)):
        logits = [_dot(q[i], k[i]) / t]
        logits += [_dot(q[i], bank[j]) / t for j in range(len(bank)) if j != index[i]]
        total += -(logits[0] - _log_sum_exp(logits))
    return total / len(q)


def _slow_cluster(q, bank, bank_labels, labels, weights, t):
    numerator, denominator = 0.0, 0.0
    for i in range(len(q)):
        scores = [_dot(q[i], bank[j]) / t for j in range(len(bank))]
        positives = [s for s, c in zip(scores, bank_labels.tolist()) if c == int(labels[i])]
        mean_log_prob = sum(s - _log_sum_exp(scores) for s in positives) / len(positives)
        numerator += float(weights[i]) * mean_log_prob
        denominator += float(weights[i])
    return -numerator / (denominator + 1e-8)


def _slow_softmax(values):
    top = max(values)
    exps = [math.exp(v - top) for v in values]
    return [e / sum(exps) for e in exps]


def _slow_entropy(q, prototypes, t):
    total = 0.0
    for i in range(len(q)):
        p = _slow_softmax([_dot(q[i], c) / t for c in prototypes])
        total += -sum(x * math.log(x) for x in p if x > 0)
    return total / len(q)


def _slow_distance_matrix(q, prototypes, t):
    assignments = []
    for i in range(len(q)):
        p = _slow_softmax([_dot(q[i], c) / t for c in prototypes])
        norm = math.sqrt(sum(x * x for x in p))
        assignments.append([x / norm for x in p])
    return [[1.0 - sum(a * b for a, b in zip(assignments[i], assignments[j]))
             for j in range(len(q))] for i in range(len(q))]


def _slow_dd(q, prototypes_a, prototypes_b, t, eps=1e-6):
    dist_a = _slow_distance_matrix(q, prototypes_a, t)
    dist_b = _slow_distance_matrix(q, prototypes_b, t)
    total = 0.0
    for i in range(len(q)):
        total += sum((a - b + eps) ** 2 for a, b in zip(dist_a[i], dist_b[i]))
    return total / len(q)


# -- instance contrast -----------------------------------------------------------------------


@pytest.mark.parametrize("t", [0.2, 0.05])
def test_instance_loss_equals_slow_reference(rng, t):
    q, k, bank = _unit(rng, 6, 5), _unit(rng, 6, 5), _unit(rng, 11, 5)
    index = torch.as_tensor(rng.choice(11, size=6, replace=False))
    got = instance_contrastive_loss(q, k, bank, index, t).item()
    assert got == pytest.approx(_slow_instance(q, k, bank, index, t), rel=1e-10)


def test_instance_loss_ignores_the_rows_own_bank_slot(rng):
    q, k, bank = _unit(rng, 1, 5), _unit(rng, 1, 5), _unit(rng, 9, 5)
    index = torch.as_tensor([4])
    changed = bank.clone()
    changed[index] = _unit(rng, 1, 5)
    assert instance_contrastive_loss(q, k, bank, index).item() == pytest.approx(
        instance_contrastive_loss(q, k, changed, index).item(), rel=1e-12)


def test_instance_loss_equals_cross_entropy_over_the_bank_once_keys_are_written(rng):
    """With k written in its slot first (the authors' order), the loss is CE over the bank."""
    q, k, bank = _unit(rng, 5, 4), _unit(rng, 5, 4), _unit(rng, 12, 4)
    index = torch.as_tensor([3, 7, 0, 11, 5])
    bank[index] = k
    expected = F.cross_entropy(q @ bank.t() / 0.2, index).item()
    assert instance_contrastive_loss(q, k, bank, index, 0.2).item() == pytest.approx(expected)


def test_instance_loss_has_gradient_only_through_q(rng):
    q = _unit(rng, 4, 3).requires_grad_(True)
    k = _unit(rng, 4, 3).requires_grad_(True)
    bank = _unit(rng, 7, 3).requires_grad_(True)
    instance_contrastive_loss(q, k, bank, torch.arange(4)).backward()
    assert q.grad is not None and torch.isfinite(q.grad).all()
    assert k.grad is None and bank.grad is None


# -- cluster-wise contrast -------------------------------------------------------------------


@pytest.mark.parametrize("t", [0.2, 0.07])
def test_cluster_loss_equals_slow_reference(rng, t):
    bank = _unit(rng, 15, 6)
    bank_labels = torch.as_tensor(rng.integers(0, 4, size=15))
    index = torch.as_tensor(rng.choice(15, size=7, replace=False))
    q = _unit(rng, 7, 6)
    labels = bank_labels[index]
    weights = torch.as_tensor(rng.integers(0, 2, size=7), dtype=torch.float64)
    weights[0] = 1.0
    got = cluster_contrastive_loss(q, bank, bank_labels, labels, weights, t).item()
    assert got == pytest.approx(_slow_cluster(q, bank, bank_labels, labels, weights, t),
                                rel=1e-10)
    unweighted = cluster_contrastive_loss(q, bank, bank_labels, labels, None, t).item()
    assert unweighted == pytest.approx(
        _slow_cluster(q, bank, bank_labels, labels, torch.ones(7), t), rel=1e-10)


def test_cluster_loss_with_n_clusters_beyond_the_labels_is_unchanged(rng):
    bank, q = _unit(rng, 10, 4), _unit(rng, 3, 4)
    bank_labels = torch.as_tensor([0, 1, 2] * 3 + [0])
    labels = torch.as_tensor([0, 2, 1])
    base = cluster_contrastive_loss(q, bank, bank_labels, labels)
    wide = cluster_contrastive_loss(q, bank, bank_labels, labels, n_clusters=7)
    assert wide.item() == pytest.approx(base.item(), rel=1e-12)


def test_cluster_loss_is_zero_when_every_row_is_filtered_out(rng):
    q = _unit(rng, 3, 4).requires_grad_(True)
    bank = _unit(rng, 6, 4)
    loss = cluster_contrastive_loss(q, bank, torch.as_tensor([0, 1] * 3),
                                    torch.as_tensor([0, 1, 0]), torch.zeros(3))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.count_nonzero(q.grad) == 0


def test_cluster_loss_gradient_matches_finite_differences(rng):
    bank = _unit(rng, 9, 3)
    bank_labels = torch.as_tensor([0, 0, 1, 1, 1, 2, 2, 0, 2])
    labels = torch.as_tensor([1, 0, 2, 2])
    weights = torch.as_tensor([1.0, 0.0, 1.0, 1.0], dtype=torch.float64)
    q = _unit(rng, 4, 3).requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda x: cluster_contrastive_loss(x, bank, bank_labels, labels, weights, 0.2), (q,))


def test_log_sum_exp_is_stable_at_a_tiny_temperature(rng):
    """Logits of |q.M| / 0.002 reach 500: exp overflows float32, logsumexp does not."""
    bank64, q64 = _unit(rng, 12, 5), _unit(rng, 4, 5)
    bank_labels = torch.as_tensor([0, 1, 2] * 4)
    labels = torch.as_tensor([0, 1, 2, 0])
    t = 0.002
    expected = _slow_cluster(q64, bank64, bank_labels, labels, torch.ones(4), t)
    got = cluster_contrastive_loss(q64.float(), bank64.float(), bank_labels, labels,
                                   temperature=t)
    assert torch.isfinite(got)
    assert got.item() == pytest.approx(expected, rel=1e-4)
    index = torch.as_tensor([0, 4, 8, 9])
    inst = instance_contrastive_loss(q64.float(), q64.float(), bank64.float(), index, t)
    assert torch.isfinite(inst)
    assert inst.item() == pytest.approx(_slow_instance(q64, q64, bank64, index, t), rel=1e-4)


# -- prototypes ------------------------------------------------------------------------------


def test_prototype_confidence_equals_slow_reference(rng):
    k, prototypes = _unit(rng, 5, 4), _unit(rng, 3, 4)
    labels = torch.as_tensor([0, 2, 1, 1, 0])
    got = prototype_confidence(k, prototypes, labels, 0.2)
    for i in range(5):
        p = _slow_softmax([_dot(k[i], c) / 0.2 for c in prototypes])
        assert got[i].item() == pytest.approx(p[int(labels[i])], rel=1e-10)
    assert not got.requires_grad


@pytest.mark.parametrize("t", [0.1, 0.01])
def test_prototype_entropy_equals_slow_reference(rng, t):
    q, prototypes = _unit(rng, 6, 4), _unit(rng, 5, 4)
    got = prototype_entropy(q, prototypes, t).item()
    assert got == pytest.approx(_slow_entropy(q, prototypes, t), rel=1e-9, abs=1e-12)
    assert 0.0 <= got <= math.log(5)


# -- distance of distance --------------------------------------------------------------------


def test_prototype_distance_matrix_equals_slow_reference(rng):
    q, prototypes = _unit(rng, 5, 4), _unit(rng, 3, 4)
    got = prototype_distance_matrix(q, prototypes, 0.3).numpy()
    np.testing.assert_allclose(got, _slow_distance_matrix(q, prototypes, 0.3), rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(np.diag(got), 0.0, atol=1e-12)


@pytest.mark.parametrize("t", [0.01, 0.5])
def test_distance_of_distance_equals_slow_reference(rng, t):
    q = _unit(rng, 7, 5)
    prototypes_a, prototypes_b = _unit(rng, 4, 5), _unit(rng, 4, 5)
    got = distance_of_distance_loss(q, prototypes_a, prototypes_b, t).item()
    assert got == pytest.approx(_slow_dd(q, prototypes_a, prototypes_b, t), rel=1e-9,
                                abs=1e-12)


def test_distance_of_distance_is_eps_only_for_identical_prototypes(rng):
    q, prototypes = _unit(rng, 6, 4), _unit(rng, 3, 4)
    value = distance_of_distance_loss(q, prototypes, prototypes, 0.1).item()
    assert value == pytest.approx(6 * 1e-12, rel=1e-6)  # B entries of eps^2 per row


def test_distance_of_distance_gradient_matches_finite_differences(rng):
    prototypes_a, prototypes_b = _unit(rng, 3, 4), _unit(rng, 3, 4)
    q = _unit(rng, 5, 4).requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda x: distance_of_distance_loss(x, prototypes_a, prototypes_b, 0.5), (q,))


def test_distance_of_distance_needs_the_same_number_of_prototypes(rng):
    with pytest.raises(ValueError, match="same number of clusters"):
        distance_of_distance_loss(_unit(rng, 3, 4), _unit(rng, 3, 4), _unit(rng, 2, 4))


# -- one similarity product for both bank losses ---------------------------------------------


def test_a_shared_similarity_product_gives_both_losses_and_their_gradient_unchanged(rng):
    bank = _unit(rng, 12, 4)
    k = _unit(rng, 5, 4)
    index = torch.as_tensor([3, 7, 0, 11, 5])
    bank_labels = torch.as_tensor(rng.integers(0, 3, 12))
    weights = torch.as_tensor([1.0, 0.0, 1.0, 1.0, 0.0], dtype=torch.float64)

    def total(shared):
        q = _unit(np.random.default_rng(1), 5, 4).requires_grad_(True)
        similarities = q @ bank.t() if shared else None
        loss = (instance_contrastive_loss(q, k, bank, index, 0.2, similarities=similarities)
                + cluster_contrastive_loss(q, bank, bank_labels, bank_labels[index], weights,
                                           0.2, similarities=similarities))
        loss.backward()
        return loss.item(), q.grad

    (separate, grad_separate), (shared, grad_shared) = total(False), total(True)
    assert shared == pytest.approx(separate, rel=1e-12)
    torch.testing.assert_close(grad_shared, grad_separate)


def test_a_similarity_product_of_the_wrong_shape_is_refused(rng):
    q, k, bank = _unit(rng, 4, 3), _unit(rng, 4, 3), _unit(rng, 7, 3)
    with pytest.raises(ValueError, match=r"shape \(4, 7\)"):
        instance_contrastive_loss(q, k, bank, torch.arange(4), similarities=q @ q.t())
    with pytest.raises(ValueError, match=r"shape \(4, 7\)"):
        cluster_contrastive_loss(q, bank, torch.zeros(7, dtype=torch.long),
                                 torch.zeros(4, dtype=torch.long), similarities=q @ q.t())
