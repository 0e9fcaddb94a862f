"""Batch-norm helpers: train-mode statistics and re-estimated running statistics."""

import torch
from torch import nn

from skdomainclust.nn.batchnorm import (
    batchnorm_layers,
    batchnorm_train_mode,
    reestimate_batchnorm,
    row_chunks,
)


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Dropout(0.5), nn.ReLU(),
                         nn.Linear(4, 2), nn.BatchNorm1d(2))


def test_train_mode_switches_batchnorm_only():
    net = batchnorm_train_mode(_net())
    assert [m.training for m in net] == [False, True, False, False, False, True]
    assert len(batchnorm_layers(net)) == 2


def test_reestimated_statistics_are_those_of_all_rows():
    net = _net()
    X = torch.randn(100, 3) * 3 + 2
    # Equal chunks: the cumulative average of the chunk means is the mean of all rows.
    reestimate_batchnorm(net, lambda s: net(X[s]), row_chunks(len(X), 25))
    assert not net.training
    hidden = net[0](X).detach()
    torch.testing.assert_close(net[1].running_mean, hidden.mean(0), rtol=1e-5, atol=1e-5)
    # The cumulative average of per-chunk unbiased variances, close to the global variance.
    torch.testing.assert_close(net[1].running_var, hidden.var(0), rtol=0.1, atol=0.0)
    assert all(bn.momentum == 0.1 for bn in batchnorm_layers(net))


def test_row_chunks_never_leave_a_single_row():
    assert row_chunks(10, 3) == [slice(0, 3), slice(3, 6), slice(6, 10)]
    assert row_chunks(9, 3) == [slice(0, 3), slice(3, 6), slice(6, 9)]
    assert row_chunks(1, 3) == [slice(0, 1)]
    for n in range(2, 30):
        chunks = row_chunks(n, 4)
        assert sum(c.stop - c.start for c in chunks) == n
        assert min(c.stop - c.start for c in chunks) >= 2
