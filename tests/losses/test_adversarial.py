import math

import pytest
import torch

from skdomainclust.losses.adversarial import domain_adversarial_loss
from skdomainclust.nn import grad_reverse


def _reference(logits, is_source, balanced):
    """Slow per-row cross-entropy of two-way logits [target, source]."""
    terms = {True: [], False: []}
    for row, src in zip(logits.tolist(), is_source.tolist()):
        log_z = math.log(math.exp(row[0]) + math.exp(row[1]))
        terms[src].append(log_z - row[1 if src else 0])
    if not balanced:
        everything = terms[True] + terms[False]
        return sum(everything) / len(everything)
    means = [sum(t) / len(t) for t in terms.values() if t]
    return sum(means) / len(means)


@pytest.mark.parametrize("balanced", [True, False])
def test_matches_slow_reference(balanced):
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(7, 2, generator=gen)
    is_source = torch.tensor([True, True, True, True, True, False, False])
    loss = domain_adversarial_loss(logits, is_source, balanced=balanced)
    assert loss.item() == pytest.approx(_reference(logits, is_source, balanced), rel=1e-5)


def test_one_logit_equals_two_logits():
    z = torch.randn(6)
    is_source = torch.tensor([1, 0, 1, 0, 0, 0]).bool()
    two = torch.stack([torch.zeros(6), z], dim=1)
    for shape in [(6,), (6, 1)]:
        torch.testing.assert_close(domain_adversarial_loss(z.reshape(shape), is_source),
                                   domain_adversarial_loss(two, is_source))


def test_balanced_weighs_domains_equally():
    # A perfect source prediction and a useless target one: balanced gives the mean of the two
    # domain losses however many rows each has.
    logits = torch.tensor([[-20.0, 20.0]] * 9 + [[0.0, 0.0]])
    is_source = torch.tensor([True] * 9 + [False])
    assert domain_adversarial_loss(logits, is_source).item() == pytest.approx(math.log(2) / 2,
                                                                             rel=1e-4)
    assert domain_adversarial_loss(logits, is_source, balanced=False).item() == pytest.approx(
        math.log(2) / 10, rel=1e-4)


def test_single_domain_batch_is_fine():
    logits = torch.randn(4, 2)
    loss = domain_adversarial_loss(logits, torch.ones(4, dtype=torch.bool))
    assert torch.isfinite(loss)


def test_reversed_gradient_reaches_the_features():
    features = torch.randn(5, 3, requires_grad=True)
    head = torch.nn.Linear(3, 2)
    is_source = torch.tensor([True, True, False, False, False])
    domain_adversarial_loss(head(features), is_source).backward()
    plain = features.grad.clone()
    features.grad = None
    domain_adversarial_loss(head(grad_reverse(features, 0.5)), is_source).backward()
    torch.testing.assert_close(features.grad, -0.5 * plain)


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="shape"):
        domain_adversarial_loss(torch.randn(4, 3), torch.ones(4, dtype=torch.bool))
    with pytest.raises(ValueError, match="rows"):
        domain_adversarial_loss(torch.randn(4, 2), torch.ones(3, dtype=torch.bool))
