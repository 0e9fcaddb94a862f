import pytest
import torch

from skdomainclust.nn.gcn import GraphConv, LinkGCN, MaskedBatchNorm1d


def _batch(seed=0, B=3, M=6, d=4):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(B, M, d, generator=gen)
    mask = torch.ones(B, M, dtype=torch.bool)
    mask[0, 4:] = False
    mask[2, 5:] = False
    A = torch.rand(B, M, M, generator=gen) * mask[:, None, :] * mask[:, :, None]
    A = A / A.sum(2, keepdim=True).clamp(min=1e-6)
    return x, A, mask


def test_masked_batch_norm_equals_batch_norm_on_the_real_rows():
    x, _, mask = _batch()
    ours = MaskedBatchNorm1d(4, affine=True)
    ref = torch.nn.BatchNorm1d(4, affine=True)
    out = ours(x, mask)
    expected = ref(x[mask])
    torch.testing.assert_close(out[mask], expected)
    assert (out[~mask] == 0).all()
    torch.testing.assert_close(ours.running_mean, ref.running_mean)
    torch.testing.assert_close(ours.running_var, ref.running_var)
    ours.eval()
    ref.eval()
    torch.testing.assert_close(ours(x, mask)[mask], ref(x[mask]))


def test_masked_batch_norm_ignores_padding_values():
    x, _, mask = _batch()
    garbage = x.clone()
    garbage[~mask] = 1e3
    bn = MaskedBatchNorm1d(4)
    torch.testing.assert_close(bn(x, mask), MaskedBatchNorm1d(4)(garbage, mask))


def test_masked_batch_norm_needs_two_rows_in_training():
    with pytest.raises(ValueError, match="two real rows"):
        MaskedBatchNorm1d(2)(torch.randn(1, 3, 2), torch.tensor([[True, False, False]]))


def test_graph_conv_is_relu_of_concat_x_and_ax():
    x, A, mask = _batch()
    layer = GraphConv(4, 5)
    out = layer(x, A, mask)
    W, b = layer.linear.weight, layer.linear.bias
    expected = torch.relu(torch.cat([x, A @ x], dim=-1) @ W.T + b) * mask[..., None]
    torch.testing.assert_close(out, expected)


def test_link_gcn_outputs_do_not_depend_on_padding():
    x, A, mask = _batch()
    torch.manual_seed(0)
    gcn = LinkGCN(4, hidden_dims=(8, 8, 6))
    gcn.eval()
    out = gcn(x, A, mask, k1=3)
    assert out.shape == (3, 3, 2)
    noisy = x.clone()
    noisy[~mask] = 50.0
    torch.testing.assert_close(gcn(noisy, A, mask, k1=3), out)
    # Padding the batch further changes nothing either.
    wide_x = torch.cat([x, torch.randn(3, 2, 4)], dim=1)
    wide_A = torch.nn.functional.pad(A, (0, 2, 0, 2))
    wide_mask = torch.nn.functional.pad(mask, (0, 2))
    torch.testing.assert_close(gcn(wide_x, wide_A, wide_mask, k1=3), out)


def test_link_gcn_returns_the_hop1_link_embeddings_its_head_classifies():
    x, A, mask = _batch()
    torch.manual_seed(0)
    gcn = LinkGCN(4, hidden_dims=(8, 6)).eval()
    logits, links = gcn(x, A, mask, k1=3, return_links=True)
    assert links.shape == (3, 3, 6)
    torch.testing.assert_close(logits, gcn(x, A, mask, k1=3))
    torch.testing.assert_close(gcn.classifier(links.reshape(-1, 6)).reshape(3, 3, 2), logits)


def test_link_gcn_trains():
    x, A, mask = _batch(B=8)
    labels = (x[:, 1:4, 0] > 0).long()
    torch.manual_seed(0)
    gcn = LinkGCN(4, hidden_dims=(16, 16))
    opt = torch.optim.Adam(gcn.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(gcn(x, A, mask, k1=3).reshape(-1, 2),
                                                 labels.reshape(-1))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_link_gcn_needs_a_layer():
    with pytest.raises(ValueError, match="at least one"):
        LinkGCN(4, hidden_dims=())
