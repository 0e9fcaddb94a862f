"""KCL / MCL in matrix form against a slow loop over the enumerated pairs."""

import math

import pytest
import torch

from skdomainclust.losses.lco import EPS, kcl_loss, mcl_loss, pairwise_kl_matrix


def _probs(B=9, K=5, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    return torch.softmax(3 * torch.randn(B, K, generator=gen, dtype=dtype), dim=1)


def _simi(B=9, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(B, B, generator=gen) < 0.4).double()


def _slow_kcl(prob, simi, margin=2.0, eps=EPS):
    """The authors' pairing, one pair at a time: row r = a * B + b predicts p_b, targets p_a."""
    B, K = prob.shape
    p = prob.tolist()
    total = 0.0
    for a in range(B):
        for b in range(B):
            target = [v + eps for v in p[a]]
            predict = [v + eps for v in p[b]]
            kl = sum(t * (math.log(t) - math.log(q)) for t, q in zip(target, predict))
            s = float(simi[a, b])
            total += s * kl + (1 - s) * max(0.0, margin - kl)
    return total / B ** 2


def _slow_mcl(prob, simi, eps=EPS):
    B = prob.shape[0]
    p = prob.tolist()
    total = 0.0
    for a in range(B):
        for b in range(B):
            same = sum(x * y for x, y in zip(p[a], p[b]))
            s = float(simi[a, b])
            total -= s * math.log(same + eps) + (1 - s) * math.log(1 - same + eps)
    return total / B ** 2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kcl_matches_loop_reference(seed):
    prob, simi = _probs(seed=seed), _simi(seed=seed + 10)
    assert kcl_loss(prob, simi).item() == pytest.approx(_slow_kcl(prob, simi), abs=1e-6)
    assert kcl_loss(prob, simi, margin=0.7).item() == pytest.approx(
        _slow_kcl(prob, simi, margin=0.7), abs=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mcl_matches_loop_reference(seed):
    prob, simi = _probs(seed=seed), _simi(seed=seed + 10)
    assert mcl_loss(prob, simi).item() == pytest.approx(_slow_mcl(prob, simi), abs=1e-6)


def test_float32_matches_reference_too():
    prob, simi = _probs(B=16, K=30, dtype=torch.float32), _simi(B=16)
    assert kcl_loss(prob, simi).item() == pytest.approx(_slow_kcl(prob.double(), simi), abs=1e-5)
    assert mcl_loss(prob, simi).item() == pytest.approx(_slow_mcl(prob.double(), simi), abs=1e-5)


def test_kl_matrix_is_zero_on_the_diagonal_and_nonnegative():
    kl = pairwise_kl_matrix(_probs(B=12))
    torch.testing.assert_close(torch.diagonal(kl), torch.zeros(12, dtype=kl.dtype), atol=1e-12,
                               rtol=0)
    assert (kl > -1e-12).all()


def test_kcl_gradient_reaches_the_prediction_only():
    logits = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    prob = torch.softmax(logits, dim=1)
    simi = _simi(B=6)
    kcl_loss(prob, simi).backward()
    # Against the loop reference with the target frozen: autograd on the slow form.
    ref_logits = logits.detach().clone().requires_grad_(True)
    ref_prob = torch.softmax(ref_logits, dim=1)
    total = 0
    for a in range(6):
        for b in range(6):
            t = ref_prob[a].detach() + EPS
            kl = (t * (t.log() - (ref_prob[b] + EPS).log())).sum()
            s = simi[a, b]
            total = total + s * kl + (1 - s) * torch.clamp(2.0 - kl, min=0)
    (total / 36).backward()
    torch.testing.assert_close(logits.grad, ref_logits.grad)


def test_mask_gives_the_weighted_mean():
    prob, simi = _probs(), _simi()
    mask = torch.zeros(9, 9, dtype=torch.float64)
    mask[:4, :4] = 1
    assert kcl_loss(prob, simi, mask=mask).item() == pytest.approx(
        _slow_kcl(prob[:4], simi[:4, :4]), abs=1e-6)
    assert mcl_loss(prob, simi, mask=mask).item() == pytest.approx(
        _slow_mcl(prob[:4], simi[:4, :4]), abs=1e-6)


def test_perfect_clustering_has_low_loss_and_wrong_has_high():
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    simi = (labels[:, None] == labels[None, :]).double()
    good = torch.nn.functional.one_hot(labels, 3).double() * 0.999 + 0.001 / 3
    bad = torch.full((6, 3), 1 / 3, dtype=torch.float64)
    assert kcl_loss(good, simi) < 0.01 < kcl_loss(bad, simi)
    assert mcl_loss(good, simi) < 0.01 < mcl_loss(bad, simi)


def test_shapes_are_checked():
    with pytest.raises(ValueError, match="simi must be"):
        kcl_loss(_probs(B=4), torch.zeros(3, 3))
    with pytest.raises(ValueError, match="prob must be"):
        mcl_loss(torch.rand(4), torch.zeros(4, 4))
