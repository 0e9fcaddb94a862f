import math

import numpy as np
import pytest
import torch

from skdomainclust.losses.srdc import (
    auxiliary_distribution,
    source_classification_loss,
    source_weights,
    srdc_lambda,
    student_t_kernel,
    student_t_log_assignment,
    target_clustering_loss,
    target_distribution,
)


def _slow_auxiliary(p):
    """Entry by entry: q_ik = (p_ik / sqrt(sum_i p_ik)) / sum_k' (p_ik' / sqrt(sum_i p_ik'))."""
    p = np.asarray(p, dtype=np.float64)
    n, k = p.shape
    column = [sum(p[i, c] for i in range(n)) for c in range(k)]
    q = np.empty_like(p)
    for i in range(n):
        raw = [p[i, c] / math.sqrt(column[c]) for c in range(k)]
        for c in range(k):
            q[i, c] = raw[c] / sum(raw)
    return q


def test_auxiliary_distribution_matches_hand_computed_values():
    p = torch.tensor([[0.5, 0.5], [0.9, 0.1]], dtype=torch.float64)
    # Column sums 1.4 and 0.6: row 1 is (1/sqrt(1.4), 1/sqrt(0.6)) normalised, row 2 is
    # (0.9/sqrt(1.4), 0.1/sqrt(0.6)) normalised.
    a, b = 1 / math.sqrt(1.4), 1 / math.sqrt(0.6)
    expected = [[a / (a + b), b / (a + b)],
                [0.9 * a / (0.9 * a + 0.1 * b), 0.1 * b / (0.9 * a + 0.1 * b)]]
    q = auxiliary_distribution(p)
    np.testing.assert_allclose(q.numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(q[0].numpy(), [0.3956439, 0.6043561], atol=1e-7)
    np.testing.assert_allclose(q[1].numpy(), [0.8549018, 0.1450982], atol=1e-7)


def test_auxiliary_distribution_matches_slow_reference(rng):
    for shape in [(5, 3), (64, 10), (1, 4)]:
        logits = torch.as_tensor(rng.normal(size=shape) * 3)
        p = torch.softmax(logits, dim=1)
        q = auxiliary_distribution(p)
        np.testing.assert_allclose(q.numpy(), _slow_auxiliary(p.numpy()), rtol=1e-10)
        np.testing.assert_allclose(q.sum(dim=1).numpy(), 1.0, rtol=1e-12)


def test_auxiliary_distribution_sharpens_and_balances():
    # Every row prefers cluster 0 a little: q moves mass towards the rarely chosen cluster 1.
    p = torch.tensor([[0.6, 0.4]] * 4 + [[0.3, 0.7]], dtype=torch.float64)
    q = auxiliary_distribution(p)
    assert (q[:, 1] > p[:, 1]).all()
    # One-hot rows stay one-hot.
    onehot = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    np.testing.assert_allclose(auxiliary_distribution(onehot + 1e-30).numpy(), onehot.numpy(),
                               atol=1e-12)


def test_student_t_kernel_matches_hand_computed_values():
    z = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    mu = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    # Squared distances: row 0 (1, 4), row 1 (1, 2).
    kernel = student_t_kernel(z, mu, alpha=1.0)
    np.testing.assert_allclose(kernel.numpy(), [[1 / 2, 1 / 5], [1 / 2, 1 / 3]], rtol=1e-12)
    kernel = student_t_kernel(z, mu, alpha=2.0)
    expected = [[1.5 ** -1.5, 3.0 ** -1.5], [1.5 ** -1.5, 2.0 ** -1.5]]
    np.testing.assert_allclose(kernel.numpy(), expected, rtol=1e-12)


def test_student_t_soft_assignment_matches_hand_computed_values():
    z = torch.tensor([[0.0, 0.0]], dtype=torch.float64)
    mu = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    # Kernel (1/2, 1/5). Softmax over the kernel values (SRDC's code, eq. 5):
    e1, e2 = math.exp(0.5), math.exp(0.2)
    log_p = student_t_log_assignment(z, mu, alpha=1.0)
    np.testing.assert_allclose(log_p.exp().numpy(), [[e1 / (e1 + e2), e2 / (e1 + e2)]],
                               rtol=1e-12)
    np.testing.assert_allclose(log_p.exp().numpy(), [[0.5744425, 0.4255575]], atol=1e-7)
    # Normalised by the sum (DEC): (1/2, 1/5) / (7/10).
    log_p = student_t_log_assignment(z, mu, alpha=1.0, normalize="sum")
    np.testing.assert_allclose(log_p.exp().numpy(), [[5 / 7, 2 / 7]], rtol=1e-12)
    with pytest.raises(ValueError, match="normalize"):
        student_t_log_assignment(z, mu, normalize="max")


def test_student_t_matches_slow_reference_and_stays_finite_far_away(rng):
    z = rng.normal(size=(6, 4))
    mu = rng.normal(size=(3, 4))
    slow = np.array([[(1 + np.sum((zi - mk) ** 2) / 1.5) ** (-(1.5 + 1) / 2) for mk in mu]
                     for zi in z])
    got = student_t_kernel(torch.as_tensor(z), torch.as_tensor(mu), alpha=1.5).numpy()
    np.testing.assert_allclose(got, slow, rtol=1e-10)
    # 2048-d features far from every centre: the kernel underflows towards 0 and the softmax
    # is nearly uniform, but nothing is NaN.
    far = torch.full((2, 2048), 50.0)
    log_p = student_t_log_assignment(far, torch.zeros(3, 2048))
    assert torch.isfinite(log_p).all()
    np.testing.assert_allclose(log_p.exp().numpy(), 1 / 3, rtol=1e-6)
    # DEC's normalisation keeps the kernel ratios there: the nearer centre still wins clearly.
    centres = torch.zeros(2, 2048)
    centres[0] = 40.0
    dec = student_t_log_assignment(far, centres, normalize="sum").exp()
    soft = student_t_log_assignment(far, centres).exp()
    assert torch.isfinite(dec).all() and (dec[:, 0] > 0.9).all()
    assert (soft[:, 0] - 0.5).abs().max() < 1e-3


def test_target_distribution_mixes_pseudo_labels():
    p = torch.tensor([[0.5, 0.5], [0.9, 0.1]], dtype=torch.float64)
    labels = torch.tensor([1, 0])
    onehot = torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
    aux = auxiliary_distribution(p)
    np.testing.assert_allclose(target_distribution(p, labels, beta=0.5).numpy(),
                               (0.5 * onehot + 0.5 * aux).numpy(), rtol=1e-12)
    np.testing.assert_allclose(target_distribution(p, labels, beta=0.0).numpy(), onehot.numpy())
    np.testing.assert_allclose(target_distribution(p, None, beta=1.0).numpy(), aux.numpy())
    with pytest.raises(ValueError, match="pseudo_labels"):
        target_distribution(p, None, beta=0.5)


def test_target_clustering_loss_matches_reference_and_lets_gradient_flow_through_q(rng):
    logits = torch.as_tensor(rng.normal(size=(8, 4)), dtype=torch.float64)
    log_p = torch.log_softmax(logits, dim=1)
    q = _slow_auxiliary(log_p.exp().numpy())
    expected = -np.mean(np.sum(q * log_p.numpy(), axis=1))
    assert target_clustering_loss(log_p).item() == pytest.approx(expected, rel=1e-12)

    grads = []
    for detach in (False, True):
        leaf = logits.clone().requires_grad_(True)
        target_clustering_loss(torch.log_softmax(leaf, dim=1), detach_target=detach).backward()
        grads.append(leaf.grad)
    # Same value either way, different gradients: the authors' code keeps q in the graph.
    assert not torch.allclose(grads[0], grads[1])


def test_source_classification_loss_and_weights():
    log_p = torch.log(torch.tensor([[0.7, 0.3], [0.2, 0.8]], dtype=torch.float64))
    labels = torch.tensor([0, 0])
    plain = source_classification_loss(log_p, labels)
    assert plain.item() == pytest.approx(-(math.log(0.7) + math.log(0.2)) / 2, rel=1e-12)
    weighted = source_classification_loss(log_p, labels, torch.tensor([1.0, 0.5],
                                                                        dtype=torch.float64))
    assert weighted.item() == pytest.approx(-(math.log(0.7) + 0.5 * math.log(0.2)) / 2,
                                            rel=1e-12)


def test_source_weights_match_hand_computed_cosines():
    features = torch.tensor([[1.0, 0.0], [1.0, 1.0], [-2.0, 0.0]], dtype=torch.float64)
    labels = torch.tensor([0, 1, 0])
    centres = torch.tensor([[3.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    # cos = 1, 1/sqrt(2), -1 -> w = 1, (1 + 1/sqrt(2)) / 2, 0 (up to the eps of the norms).
    expected = [1.0, (1 + 1 / math.sqrt(2)) / 2, 0.0]
    np.testing.assert_allclose(source_weights(features, labels, centres, eps=0.0).numpy(),
                               expected, rtol=1e-12, atol=1e-12)
    with_eps = source_weights(features, labels, centres)
    assert with_eps[0].item() == pytest.approx(0.5 * (1 + 3 / (3 + 1e-6)), rel=1e-12)
    # A zero centre (an empty cluster) gives 1/2, not NaN.
    assert source_weights(features[:1], labels[:1], torch.zeros(2, 2)).item() == 0.5


def test_srdc_lambda_ramp():
    assert srdc_lambda(0, 100) == 0.0
    assert srdc_lambda(50, 100) == pytest.approx(2 / (1 + math.exp(-5)) - 1, rel=1e-12)
    assert srdc_lambda(100, 100) == pytest.approx(2 / (1 + math.exp(-10)) - 1, rel=1e-12)
    values = [srdc_lambda(e, 20) for e in range(20)]
    assert values == sorted(values) and values[-1] < 1
