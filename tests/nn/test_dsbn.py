import pickle

import pytest
import torch
from torch import nn

from skdomainclust.nn import MLP
from skdomainclust.nn.convnet import ConvNet
from skdomainclust.nn.dsbn import (
    DomainSpecificBatchNorm,
    convert_to_dsbn,
    domain_slots,
    dsbn_layers,
    set_domain_slots,
)


def _reference_bns(n_domains, n_features, dims):
    cls = nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d
    return [cls(n_features, affine=False) for _ in range(n_domains)]


@pytest.mark.parametrize("shape", [(12, 3), (12, 3, 4, 4)])
def test_each_domain_is_normalised_by_its_own_batch_norm(shape):
    torch.manual_seed(0)
    x = torch.randn(shape) * 3 + 1
    slots = torch.tensor([0, 2, 1, 0, 2, 2, 1, 0, 0, 1, 2, 1])
    x[slots == 2] += 10  # a strongly shifted domain
    layer = DomainSpecificBatchNorm(3, n_domains=3)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([1.0, 2.0, 0.5]))
        layer.bias.copy_(torch.tensor([0.0, -1.0, 3.0]))
    refs = _reference_bns(3, 3, len(shape) - 1)
    set_domain_slots(layer, slots)
    out = layer(x)
    affine = (1, -1) + (1,) * (len(shape) - 2)
    for d, ref in enumerate(refs):
        rows = slots == d
        expected = ref(x[rows]) * layer.weight.view(affine) + layer.bias.view(affine)
        torch.testing.assert_close(out[rows], expected)
        torch.testing.assert_close(layer.running_mean[d], ref.running_mean)
        torch.testing.assert_close(layer.running_var[d], ref.running_var)
    # Eval mode: each slot's running statistics.
    layer.eval()
    out = layer(x)
    for d, ref in enumerate(refs):
        ref.eval()
        rows = slots == d
        expected = ref(x[rows]) * layer.weight.view(affine) + layer.bias.view(affine)
        torch.testing.assert_close(out[rows], expected)


def test_single_slot_matches_affine_free_batch_norm_and_leaves_other_slots():
    x = torch.randn(8, 5)
    layer = DomainSpecificBatchNorm(5, n_domains=3, affine=False)
    ref = nn.BatchNorm1d(5, affine=False)
    layer.slots = 1
    torch.testing.assert_close(layer(x), ref(x))
    torch.testing.assert_close(layer.running_mean[1], ref.running_mean)
    assert layer.running_mean[0].abs().sum() == 0 and layer.running_mean[2].abs().sum() == 0
    assert layer.num_batches_tracked.tolist() == [0, 1, 0]


def test_gradients_reach_the_shared_affine_from_every_domain():
    layer = DomainSpecificBatchNorm(2, n_domains=2)
    layer.slots = torch.tensor([0, 0, 1, 1])
    layer(torch.randn(4, 2)).pow(2).sum().backward()
    assert layer.weight.grad.abs().sum() > 0


def test_cumulative_momentum_and_slot_reset():
    layer = DomainSpecificBatchNorm(2, n_domains=2, momentum=None)
    layer.slots = 1
    batches = [torch.randn(6, 2) + i for i in range(3)]
    for b in batches:
        layer(b)
    expected = torch.stack([b.mean(0) for b in batches]).mean(0)
    torch.testing.assert_close(layer.running_mean[1], expected)
    layer.reset_slot(1)
    torch.testing.assert_close(layer.running_mean[1], torch.zeros(2))
    torch.testing.assert_close(layer.running_var[1], torch.ones(2))
    assert layer.num_batches_tracked[1] == 0


def test_single_row_group_in_training_uses_running_statistics():
    layer = DomainSpecificBatchNorm(3, n_domains=2)
    layer.slots = torch.tensor([0, 0, 0, 1])
    out = layer(torch.randn(4, 3))  # nn.BatchNorm1d would raise on the lone row of slot 1
    assert torch.isfinite(out).all()
    assert layer.num_batches_tracked.tolist() == [1, 0]


def test_missing_or_mismatched_slots_are_clear_errors():
    layer = DomainSpecificBatchNorm(3, n_domains=2)
    with pytest.raises(RuntimeError, match="set_domain_slots"):
        layer(torch.randn(4, 3))
    layer.slots = torch.tensor([0, 1])
    with pytest.raises(ValueError, match="2 slots"):
        layer(torch.randn(4, 3))
    with pytest.raises(ValueError, match="Expected"):
        DomainSpecificBatchNorm(3, n_domains=1)(torch.randn(4, 5))
    # One slot needs no configuration.
    assert DomainSpecificBatchNorm(3, n_domains=1)(torch.randn(4, 3)).shape == (4, 3)


def test_convert_mlp_keeps_affine_and_output_until_domains_differ():
    torch.manual_seed(0)
    mlp = MLP(6, (8, 4))
    with torch.no_grad():
        mlp[1].weight.uniform_()
    x = torch.randn(10, 6)
    expected = mlp(x)
    converted = convert_to_dsbn(mlp, n_domains=3)
    layers = dsbn_layers(converted)
    assert len(layers) == 2
    assert not any(isinstance(m, nn.BatchNorm1d) for m in converted.modules())
    with domain_slots(converted, 0):
        torch.testing.assert_close(converted(x), expected)
    assert all(layer.slots is None for layer in layers)  # the context clears them


def test_convert_conv_trunk_and_route_mixed_domains():
    torch.manual_seed(0)
    net = convert_to_dsbn(ConvNet(in_channels=3, widths=(4, 8), out_features=16,
                                       image_size=16), n_domains=3)
    assert len(dsbn_layers(net)) == 3  # two conv blocks and the head's BatchNorm1d
    x = torch.randn(9, 3, 16, 16)
    slots = torch.tensor([0, 1, 2] * 3)
    with domain_slots(net, slots):
        out = net(x)
    assert out.shape == (9, 16)
    # Rows come back in their order: each domain alone gives the same rows.
    for d in range(3):
        with domain_slots(net, d):
            torch.testing.assert_close(net(x[slots == d]), out[slots == d])
    restored = pickle.loads(pickle.dumps(net))
    restored.eval()
    net.eval()
    with domain_slots(net, slots), domain_slots(restored, slots):
        torch.testing.assert_close(restored(x), net(x))
