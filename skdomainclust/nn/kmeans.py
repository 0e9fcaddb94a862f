"""k-means in torch: class means and Lloyd iterations, vectorised and on the tensors' device.

Methods that re-cluster their features every epoch (SRDC, UCDIR) call these on device-resident
features, so no round trip to the CPU or to scikit-learn is needed. Distances use the
``|x|^2 - 2 x.c + |c|^2`` expansion (one matrix product, ``(n, k)`` memory) and means use a
scatter-add, so an iteration costs ``O(n k d)`` with no ``(n, k, d)`` tensor materialised.
"""

import torch

__all__ = ["cluster_means", "kmeans", "kmeans_plusplus", "kmeans_restarts", "squared_distances"]


def squared_distances(X, centres):
    """Squared Euclidean distances between rows of ``X`` (n, d) and ``centres`` (k, d).

    Computed as ``|x|^2 - 2 x.c + |c|^2`` and clamped at 0 (rounding can make the expansion
    slightly negative). Returns an ``(n, k)`` tensor; differentiable.
    """
    x2 = (X * X).sum(dim=1, keepdim=True)
    c2 = (centres * centres).sum(dim=1)
    return (x2 - 2.0 * (X @ centres.t()) + c2).clamp_min(0.0)


def cluster_means(X, labels, n_clusters, *, empty="zero", previous=None):
    """Mean of the rows of ``X`` assigned to each cluster.

    Parameters
    ----------
    X : Tensor of shape (n, d)
    labels : LongTensor of shape (n,)
        Cluster of each row, in ``[0, n_clusters)``; rows labelled ``< 0`` are ignored.
    n_clusters : int
    empty : {"zero", "keep"}, default="zero"
        Centre of a cluster with no row: the zero vector (what SRDC's code does), or the
        corresponding row of ``previous``.
    previous : Tensor of shape (n_clusters, d) or None
        Needed with ``empty="keep"``.

    Returns
    -------
    means : Tensor of shape (n_clusters, d)
    counts : Tensor of shape (n_clusters,)
        Rows per cluster (same dtype as ``X``).
    """
    if empty not in ("zero", "keep"):
        raise ValueError(f"empty must be 'zero' or 'keep', got {empty!r}.")
    keep = labels >= 0
    if not bool(keep.all()):
        X, labels = X[keep], labels[keep]
    sums = torch.zeros((n_clusters, X.shape[1]), dtype=X.dtype, device=X.device)
    sums.index_add_(0, labels, X)
    counts = torch.bincount(labels, minlength=n_clusters).to(X.dtype)
    means = sums / counts.clamp_min(1.0)[:, None]
    if empty == "keep":
        if previous is None:
            raise ValueError("empty='keep' needs the previous centres.")
        means = torch.where((counts > 0)[:, None], means, previous.to(means.dtype))
    return means, counts


def kmeans(X, init, n_iter=5, *, empty="zero"):
    """Lloyd's k-means from given initial centres.

    Each iteration assigns every row to its nearest centre, then moves each centre to the mean
    of its rows. The labels returned are those of the last assignment step and the centres are
    the means of exactly those labels, so the two are consistent (SRDC's ``k_means``).

    Parameters
    ----------
    X : Tensor of shape (n, d)
    init : Tensor of shape (k, d)
        Initial centres (e.g. source class means).
    n_iter : int, default=5
        Assignment + update rounds (at least 1).
    empty : {"zero", "keep"}, default="zero"
        Centre of a cluster that loses all its rows; see :func:`cluster_means`.

    Returns
    -------
    labels : LongTensor of shape (n,)
    centres : Tensor of shape (k, d)

    Examples
    --------
    >>> import torch
    >>> X = torch.tensor([[0.0, 0.0], [0.0, 1.0], [10.0, 0.0], [10.0, 1.0]])
    >>> labels, centres = kmeans(X, torch.tensor([[1.0, 0.0], [9.0, 0.0]]))
    >>> labels.tolist(), centres.tolist()
    ([0, 0, 1, 1], [[0.0, 0.5], [10.0, 0.5]])
    """
    if int(n_iter) < 1:
        raise ValueError(f"n_iter must be >= 1, got {n_iter!r}.")
    with torch.no_grad():
        centres = init.to(dtype=X.dtype, device=X.device)
        k = len(centres)
        for _ in range(int(n_iter)):
            labels = squared_distances(X, centres).argmin(dim=1)
            centres, _ = cluster_means(X, labels, k, empty=empty, previous=centres)
    return labels, centres



def _generator(device, seed):
    """A private generator on ``device``; ``seed=None`` draws one from torch's global RNG."""
    if seed is None:
        seed = int(torch.randint(2**31 - 1, ()).item())
    return torch.Generator(device=device).manual_seed(int(seed))


def _seed_batch(X, n_clusters, n_runs, generator):
    """``n_runs`` independent k-means++ seedings at once: centres of shape (n_runs, k, d)."""
    n = len(X)
    sq_norms = (X * X).sum(dim=1)

    def distances_to(rows):  # (n_runs, n): squared distance of every row to X[rows[r]]
        centres = X[rows]
        return (sq_norms[None, :] - 2.0 * (centres @ X.t())
                + (centres * centres).sum(dim=1)[:, None]).clamp_min(0.0)

    rows = torch.randint(n, (n_runs,), generator=generator, device=X.device)
    chosen = [rows]
    nearest = distances_to(rows)
    for _ in range(1, n_clusters):
        # Every row at distance 0 (all rows already chosen or identical): draw uniformly.
        weights = torch.where(nearest.sum(dim=1, keepdim=True) > 0, nearest,
                              torch.ones_like(nearest))
        rows = torch.multinomial(weights.double(), 1, generator=generator).squeeze(1)
        chosen.append(rows)
        nearest = torch.minimum(nearest, distances_to(rows))
    return X[torch.stack(chosen, dim=1)]


def kmeans_plusplus(X, n_clusters, *, seed=None):
    """k-means++ seeding (Arthur & Vassilvitskii, 2007): ``n_clusters`` rows of ``X`` as centres.

    The first centre is a uniformly random row; each next one is a row drawn with probability
    proportional to its squared distance to the nearest centre chosen so far (uniformly when
    every row coincides with a centre).

    Parameters
    ----------
    X : Tensor of shape (n, d)
    n_clusters : int
        At most ``n``.
    seed : int or None
        Seed of a private generator on ``X``'s device; None draws one from torch's global
        generator (so a caller that seeds torch gets reproducible centres).

    Returns
    -------
    centres : Tensor of shape (n_clusters, d)
    """
    _check_k(X, n_clusters)
    with torch.no_grad():
        return _seed_batch(X, int(n_clusters), 1, _generator(X.device, seed))[0]


def _check_k(X, n_clusters):
    if not 1 <= int(n_clusters) <= len(X):
        raise ValueError(
            f"n_clusters must be in [1, {len(X)}] for {len(X)} rows, got {n_clusters!r}.")


def kmeans_restarts(X, n_clusters, *, n_init=5, n_iter=20, seed=None):
    """k-means from ``n_init`` k-means++ seedings; the run with the lowest inertia is kept.

    The runs go side by side as one batched computation (``(n_init, n, k)`` distances per
    Lloyd round), so restarts cost little more than one run in Python overhead. Each run does
    ``n_iter`` rounds of assignment then update; a centre that loses all its rows keeps its
    position. The labels returned are those of the last assignment and the centres the means
    of exactly those labels (as :func:`kmeans`). This is what UCDIR runs per domain every epoch
    (faiss with ``nredo=5, niter=20`` in the authors' code).

    Parameters
    ----------
    X : Tensor of shape (n, d)
    n_clusters : int
    n_init : int, default=5
    n_iter : int, default=20
    seed : int or None
        Seed of a private generator on ``X``'s device; None draws one from torch's global
        generator.

    Returns
    -------
    labels : LongTensor of shape (n,)
    centres : Tensor of shape (n_clusters, d)
    inertia : float
        Sum of squared distances of the rows to their centres.

    Examples
    --------
    >>> import torch
    >>> X = torch.tensor([[0.0, 0.0], [0.0, 1.0], [10.0, 0.0], [10.0, 1.0]])
    >>> labels, centres, inertia = kmeans_restarts(X, 2, seed=0)
    >>> bool(labels[0] == labels[1] and labels[2] == labels[3] and labels[0] != labels[2])
    True
    >>> inertia
    1.0
    """
    _check_k(X, n_clusters)
    if int(n_init) < 1 or int(n_iter) < 1:
        raise ValueError(f"n_init and n_iter must be >= 1, got {n_init!r} and {n_iter!r}.")
    k, runs = int(n_clusters), int(n_init)
    with torch.no_grad():
        centres = _seed_batch(X, k, runs, _generator(X.device, seed))  # (runs, k, d)
        sq_norms = (X * X).sum(dim=1)
        offsets = k * torch.arange(runs, device=X.device)[:, None]
        stacked = X.repeat(runs, 1)
        for _ in range(int(n_iter)):
            # argmin_c |x - c|^2 = argmin_c |c|^2 - 2 x.c: one (n, runs * k) product.
            flat_centres = centres.reshape(runs * k, -1)
            scores = (flat_centres * flat_centres).sum(dim=1) - 2.0 * (X @ flat_centres.t())
            labels = scores.view(len(X), runs, k).argmin(dim=2).t()  # (runs, n)
            flat = (labels + offsets).reshape(-1)
            sums = torch.zeros((runs * k, X.shape[1]), dtype=X.dtype, device=X.device)
            sums.index_add_(0, flat, stacked)
            counts = torch.bincount(flat, minlength=runs * k).to(X.dtype)
            means = sums / counts.clamp_min(1.0)[:, None]
            centres = torch.where((counts > 0)[:, None], means,
                                  centres.reshape(runs * k, -1)).reshape(runs, k, -1)
        # Centres are the means of their rows: inertia = sum |x|^2 - sum_c n_c |mu_c|^2.
        inertia = sq_norms.sum() - (counts.reshape(runs, k)
                                    * (centres * centres).sum(dim=2)).sum(dim=1)
        best = int(inertia.argmin())
        return labels[best], centres[best], float(inertia[best].clamp_min(0.0))
