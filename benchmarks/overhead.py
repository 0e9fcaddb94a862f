"""Cost of one training epoch through skdomainclust's skorch machinery vs a bare torch loop.

Both loops train the same MLP with the same optimizer on the same in-memory tensors (the
design's target: an epoch should cost little more than the bare loop). Run as
``python -m benchmarks.overhead``.
"""

import argparse
import json
import time

import numpy as np
import torch


def bare_torch_epoch_seconds(X, y, *, hidden_dims, batch_size, lr, n_epochs, device):
    """Seconds per epoch of a hand-written loop: randperm, slice, forward, backward, step."""
    from skdomainclust.nn import MLP
    from skdomainclust.source_only import EncoderClassifier

    torch.manual_seed(0)
    encoder = MLP(X.shape[1], hidden_dims, dropout=0.2)
    module = EncoderClassifier(encoder, encoder.out_features, int(y.max()) + 1).to(device)
    optimizer = torch.optim.Adam(module.parameters(), lr=lr, weight_decay=1e-4)
    criterion = torch.nn.CrossEntropyLoss()
    Xt = torch.as_tensor(X, device=device)
    yt = torch.as_tensor(y, device=device)
    timings = []
    for _ in range(n_epochs):
        start = time.perf_counter()
        module.train()
        order = torch.randperm(len(Xt), device=device)
        for i in range(0, len(Xt), batch_size):
            rows = order[i:i + batch_size]
            optimizer.zero_grad()
            loss = criterion(module(Xt[rows]), yt[rows])
            loss.backward()
            optimizer.step()
            loss.item()  # the skorch loop records every batch loss; pay the same sync here
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        timings.append(time.perf_counter() - start)
    return float(np.median(timings))


def skdomainclust_epoch_seconds(X, y, *, hidden_dims, batch_size, lr, n_epochs, device):
    """Seconds per epoch of ``SourceOnlyClassifier`` as skorch's history records them."""
    from skdomainclust import SourceOnlyClassifier

    clf = SourceOnlyClassifier(hidden_dims=hidden_dims, lr=lr, max_epochs=n_epochs,
                               batch_size=batch_size, device=device, random_state=0)
    clf.fit(X, y)
    return float(np.median(clf.net_.history[:, "dur"]))


def measure(n_samples=50_000, n_features=256, n_classes=10, hidden_dims=(256,), batch_size=128,
            n_epochs=3, device="cpu", repeats=2):
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(n_classes, n_features)).astype(np.float32)
    y = rng.integers(0, n_classes, n_samples)
    X = (centres[y] + rng.normal(size=(n_samples, n_features))).astype(np.float32)
    kwargs = dict(hidden_dims=hidden_dims, batch_size=batch_size, lr=1e-3, n_epochs=n_epochs,
                  device=device)
    # Interleave the two measurements so drifting machine load affects both alike.
    bare, ours = [], []
    for _ in range(repeats):
        bare.append(bare_torch_epoch_seconds(X, y, **kwargs))
        ours.append(skdomainclust_epoch_seconds(X, y, **kwargs))
    bare_s, ours_s = min(bare), min(ours)
    return {
        "benchmark": "epoch_overhead",
        "shape": [n_samples, n_features],
        "batch_size": batch_size,
        "device": device,
        "torch_threads": torch.get_num_threads(),
        "bare_torch_epoch_s": round(bare_s, 4),
        "skdomainclust_epoch_s": round(ours_s, 4),
        "ratio": round(ours_s / bare_s, 3),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(json.dumps(measure(device=args.device, batch_size=args.batch_size)))


if __name__ == "__main__":
    main()
