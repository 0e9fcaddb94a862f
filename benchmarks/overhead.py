"""Cost of one training epoch through skdomainclust's skorch machinery vs a bare torch loop.

Both loops train the same MLP with the same optimizer on the same in-memory tensors (the
design's target: an epoch should cost little more than the bare loop). Run as
``python -m benchmarks.overhead``.

The probe is built to survive a loaded machine. Both loops live in one process and take
turns epoch by epoch (who starts alternates), so a change of load lands on both within a
second; each epoch is timed in that process's CPU time (``time.process_time``), with wall
time beside it, after one warm-up epoch each. The skdomainclust epoch is a skorch epoch of a
fitted ``SourceOnlyClassifier``'s net (``partial_fit``), so the estimator's set-up
(validation, building the net) is not counted. A pair is one such process; the ratio reported
is the median over the pairs' ratios (default five pairs).
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch


def make_data(n_samples, n_features, n_classes=10, seed=0):
    """Gaussian classes: ``(X float32 (n, d), y int64 (n,))``."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, n_features)).astype(np.float32)
    y = rng.integers(0, n_classes, n_samples)
    X = (centres[y] + rng.normal(size=(n_samples, n_features))).astype(np.float32)
    return X, y


class BareTorchLoop:
    """A hand-written loop over ``SourceOnlyClassifier``'s default network: randperm,
    gather, forward, backward, step, per-batch loss read."""

    def __init__(self, X, y, *, hidden_dims, batch_size, lr, device):
        from skdomainclust import SourceOnlyClassifier
        from skdomainclust.nn import MLP
        from skdomainclust.source_only import EncoderClassifier

        # The estimator's own default network (its dropout and batch-norm), so that the two
        # loops differ in the loop only.
        defaults = SourceOnlyClassifier().get_params()
        torch.manual_seed(0)
        encoder = MLP(X.shape[1], hidden_dims, dropout=defaults["dropout"],
                      batch_norm=defaults["batch_norm"])
        self.module = EncoderClassifier(encoder, encoder.out_features, int(y.max()) + 1)
        self.module.to(device)
        self.optimizer = torch.optim.Adam(self.module.parameters(), lr=lr, weight_decay=1e-4)
        self.criterion = torch.nn.CrossEntropyLoss()
        self.X, self.y = torch.as_tensor(X, device=device), torch.as_tensor(y, device=device)
        self.batch_size, self.device = batch_size, device

    def epoch(self):
        self.module.train()
        order = torch.randperm(len(self.X), device=self.device)
        for i in range(0, len(self.X), self.batch_size):
            rows = order[i:i + self.batch_size]
            self.optimizer.zero_grad()
            # index_select, the cheapest gather (``X[rows]`` costs ~4x as much), as the
            # library's dataset does: the ratio then measures the loop, not the gather.
            loss = self.criterion(self.module(self.X.index_select(0, rows)),
                                  self.y.index_select(0, rows))
            loss.backward()
            self.optimizer.step()
            loss.item()  # the skorch loop records every batch loss; pay the same sync here
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()


class SkdomainclustLoop:
    """``SourceOnlyClassifier``'s training loop: one ``fit`` (its first epoch), then one
    skorch epoch of the same net per call, through the same dataset and iterator."""

    def __init__(self, X, y, *, hidden_dims, batch_size, lr, device):
        from skdomainclust import SourceOnlyClassifier
        from skdomainclust._net import DomainDataset

        self.clf = SourceOnlyClassifier(hidden_dims=hidden_dims, lr=lr, max_epochs=1,
                                        batch_size=batch_size, device=device, random_state=0)
        self.clf.fit(X, y, sample_domain=np.zeros(len(y), dtype=np.int64))
        self.dataset = DomainDataset(X, y, device=self.clf.net_.device)
        self.device = device

    def epoch(self):
        self.clf.net_.partial_fit(self.dataset)
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()


LOOPS = {"bare": BareTorchLoop, "skdomainclust": SkdomainclustLoop}


def interleaved_epochs(loops, n_epochs, first=0):
    """Per-loop median ``(cpu_s, wall_s)`` of ``n_epochs`` epochs each, taken in turns.

    The loops alternate epoch by epoch (the loop that starts alternates too, from
    ``first``), so a change of machine load lands on both within a second.
    """
    names = list(loops)
    costs = {name: [] for name in names}
    for epoch in range(n_epochs):
        turn = names if (epoch + first) % 2 == 0 else names[::-1]
        for name in turn:
            cpu, wall = time.process_time(), time.perf_counter()
            loops[name].epoch()
            costs[name].append((time.process_time() - cpu, time.perf_counter() - wall))
    return {name: tuple(float(v) for v in np.median(costs[name], axis=0)) for name in names}


def _measure_in_subprocess(settings, first):
    """One pair: both loops in a fresh interpreter, interleaved; ``{loop: (cpu_s, wall_s)}``."""
    command = [sys.executable, "-m", "benchmarks.overhead", "--worker",
               "--settings", json.dumps({**settings, "first": first})]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # benchmarks' parent
    result = subprocess.run(command, capture_output=True, text=True, cwd=root)
    if result.returncode:
        raise RuntimeError(f"the overhead measurement failed:\n{result.stderr[-2000:]}")
    return {name: tuple(cost) for name, cost in
            json.loads(result.stdout.strip().splitlines()[-1]).items()}


def measure(n_samples=50_000, n_features=256, hidden_dims=(256,), batch_size=128, n_epochs=4,
            device="cpu", pairs=5, threads=1):
    """The epoch-overhead record: median CPU and wall ratios over ``pairs`` processes."""
    settings = dict(n_samples=n_samples, n_features=n_features, hidden_dims=list(hidden_dims),
                    batch_size=batch_size, n_epochs=n_epochs, device=device, threads=threads)
    rows = [_measure_in_subprocess(settings, first=pair % 2) for pair in range(pairs)]
    cpu_ratios = [r["skdomainclust"][0] / r["bare"][0] for r in rows]
    wall_ratios = [r["skdomainclust"][1] / r["bare"][1] for r in rows]

    def median(loop, i):
        return round(float(np.median([r[loop][i] for r in rows])), 4)

    return {
        "benchmark": "epoch_overhead",
        "shape": [n_samples, n_features],
        "batch_size": batch_size,
        "device": device,
        "torch_threads": threads,
        "pairs": pairs,
        "bare_torch_epoch_cpu_s": median("bare", 0),
        "skdomainclust_epoch_cpu_s": median("skdomainclust", 0),
        "bare_torch_epoch_wall_s": median("bare", 1),
        "skdomainclust_epoch_wall_s": median("skdomainclust", 1),
        "ratio": round(float(np.median(cpu_ratios)), 3),
        "wall_ratio": round(float(np.median(wall_ratios)), 3),
        "cpu_ratios": [round(r, 3) for r in cpu_ratios],
    }


def _worker(settings):
    torch.set_num_threads(settings.pop("threads"))
    X, y = make_data(settings.pop("n_samples"), settings.pop("n_features"))
    n_epochs, first = settings.pop("n_epochs"), settings.pop("first")
    kwargs = dict(settings, hidden_dims=tuple(settings["hidden_dims"]), lr=1e-3)
    loops = {name: loop(X, y, **kwargs) for name, loop in LOOPS.items()}
    for loop in loops.values():  # warm-up: lazy initialisation, first allocations
        loop.epoch()
    print(json.dumps(interleaved_epochs(loops, n_epochs, first=first)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(json.loads(args.settings))
        return
    print(json.dumps(measure(device=args.device, batch_size=args.batch_size,
                             pairs=args.pairs, threads=args.threads)))


if __name__ == "__main__":
    main()
