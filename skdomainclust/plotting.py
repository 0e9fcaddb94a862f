"""Plots for clusterings across domains (matplotlib, an optional dependency).

- :func:`plot_confusion_matrix`: classes against clusters, the clusters matched to classes by
  the Hungarian algorithm first (the matching of
  :func:`~skdomainclust.metrics.cluster_accuracy`), so a good clustering shows a diagonal
  whatever its cluster ids.
- :func:`plot_embedding`: a 2-D view (PCA) of an embedding, coloured by any per-row labels.
- :func:`plot_domains_and_clusters`: the same view twice, coloured by domain and by cluster.

Install matplotlib with ``pip install "skdomainclust[plot]"`` (or any matplotlib >= 3.6).
"""

import numpy as np
from sklearn.decomposition import PCA

from .metrics import apply_cluster_mapping, cluster_accuracy, contingency_matrix

__all__ = ["plot_confusion_matrix", "plot_domains_and_clusters", "plot_embedding"]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:  # pragma: no cover - exercised only without matplotlib
        raise ImportError("skdomainclust.plotting needs matplotlib: "
                          "pip install 'skdomainclust[plot]'.") from error
    return plt


def _axes(ax):
    return _pyplot().subplots()[1] if ax is None else ax


def plot_confusion_matrix(y_true, y_pred, *, match=True, normalize=True, ax=None,
                          cmap="Blues", class_names=None):
    """Confusion matrix of classes (rows) against clusters (columns).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True classes.
    y_pred : array-like of shape (n_samples,)
        Cluster (or class) labels.
    match : bool, default=True
        Relabel clusters with their Hungarian-matched class first; clusters left unmatched
        (more clusters than classes) are gathered in a last column, "unmatched". Use False
        for class predictions (a classifier's ``predict``), which need no matching.
    normalize : bool, default=True
        Show each row as fractions of its class.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    cmap : str, default="Blues"
        Colour map.
    class_names : sequence or dict, default=None
        Tick text per class: a sequence indexed by the class value (a loader's
        ``target_names``) or a dict; None shows the values.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skdomainclust.plotting import plot_confusion_matrix
    >>> ax = plot_confusion_matrix([0, 0, 1, 1], [7, 7, 3, 7])
    >>> ax.get_title()
    'matched accuracy 75.0%'
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    classes = np.unique(y_true)
    title = None
    if match:
        accuracy, mapping = cluster_accuracy(y_true, y_pred, return_mapping=True)
        unmatched = object()
        mapped = apply_cluster_mapping(y_pred, mapping, default=unmatched)
        columns = [_name(c, class_names) for c in classes]
        codes = np.array([len(classes) if m is unmatched else int(np.searchsorted(classes, m))
                          for m in mapped])
        if (codes == len(classes)).any():
            columns.append("unmatched")
        table = np.zeros((len(classes), len(columns)))
        np.add.at(table, (np.searchsorted(classes, y_true), codes), 1)
        title = f"matched accuracy {100 * accuracy:.1f}%"
    else:
        # Class predictions: columns are the predicted values as they are, and the diagonal
        # is plain accuracy when they share the classes' values.
        table = contingency_matrix(y_true, y_pred).astype(float)
        predicted = np.unique(y_pred)
        columns = [_name(c, class_names) for c in predicted]
        if np.array_equal(predicted, classes):
            title = f"accuracy {100 * np.mean(y_true == y_pred):.1f}%"
    if normalize:
        table = table / np.maximum(table.sum(axis=1, keepdims=True), 1)
    ax = _axes(ax)
    image = ax.imshow(table, cmap=cmap, aspect="auto", vmin=0)
    ax.figure.colorbar(image, ax=ax, fraction=0.046)
    # Upright column labels only while they fit side by side (about 4 characters each).
    upright = len(columns) <= 12 and max(len(c) for c in columns) <= 4
    ax.set_xticks(range(len(columns)), columns, rotation=0 if upright else 90)
    ax.set_yticks(range(len(classes)), [_name(c, class_names) for c in classes])
    ax.set_xlabel("cluster (matched class)" if match else "cluster")
    ax.set_ylabel("class")
    if title:
        ax.set_title(title)
    return ax


def _name(value, names):
    """Display text of a label value: ``names[value]`` (dict or sequence) or the value."""
    if names is None:
        return str(value)
    if isinstance(names, dict):
        return str(names.get(value, value))
    try:
        return str(names[int(value)])
    except (IndexError, TypeError, ValueError):
        return str(value)


def _project(embedding, random_state):
    """``(points, projected)``: 2-D points, and whether a PCA made them."""
    embedding = np.asarray(embedding, dtype=np.float64)
    if embedding.ndim != 2:
        raise ValueError(f"embedding must be 2-D (n_samples, n_features), got shape "
                         f"{embedding.shape}.")
    if embedding.shape[1] <= 2:
        return np.pad(embedding, ((0, 0), (0, 2 - embedding.shape[1]))), False
    return PCA(2, random_state=random_state).fit_transform(embedding), True


def plot_embedding(embedding, labels, *, ax=None, title=None, legend=True, label_names=None,
                   random_state=0, s=8, on_top=()):
    """Scatter the first two principal components of ``embedding`` coloured by ``labels``.

    The axes are labelled "PCA 1" and "PCA 2" (a linear projection: distances in it
    understate those of the embedding). With more than 20 distinct labels the colours repeat
    and no legend is drawn; the title says how many there are.

    Parameters
    ----------
    embedding : array-like of shape (n_samples, n_features)
        Rows to show (e.g. ``estimator.transform(X)``); two or fewer columns are drawn as is.
    labels : array-like of shape (n_samples,)
        One colour per distinct value (domains, clusters, classes).
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    title : str, default=None
        Axes title.
    legend : bool, default=True
        Draw a legend (only when there are at most 20 distinct labels).
    label_names : dict, default=None
        Legend text per label value.
    random_state : int, default=0
        Seed of the PCA solver.
    s : float, default=8
        Marker size.
    on_top : sequence, default=()
        Label values drawn last, over the others (e.g. the target domain, which a larger
        source would otherwise hide).

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skdomainclust.plotting import plot_embedding
    >>> ax = plot_embedding(np.random.default_rng(0).normal(size=(20, 5)), [0, 1] * 10)
    >>> len(ax.collections)
    2
    """
    points, projected = _project(embedding, random_state)
    return _scatter(points, labels, projected, ax=ax, title=title, legend=legend,
                    label_names=label_names, s=s, on_top=on_top)


def _scatter(points, labels, projected, *, ax, title, legend, label_names, s, on_top):
    """:func:`plot_embedding` on points already in 2-D (``projected``: by a PCA)."""
    labels = np.asarray(labels)
    if len(labels) != len(points):
        raise ValueError(f"embedding has {len(points)} rows but labels has {len(labels)}.")
    ax = _axes(ax)
    values = np.unique(labels)
    cmap = _pyplot().get_cmap("tab10" if len(values) <= 10 else "tab20")
    top = set(on_top)
    for i, value in enumerate(values):
        rows = labels == value
        name = (label_names or {}).get(value, str(value))
        ax.scatter(points[rows, 0], points[rows, 1], s=s, color=cmap(i % cmap.N), label=name,
                   alpha=0.8, linewidths=0, zorder=3 if value in top else 2)
    too_many = len(values) > 20
    if legend and not too_many:
        ax.legend(markerscale=2, fontsize="small", frameon=False, loc="best")
    ax.set_xticks([])
    ax.set_yticks([])
    if projected:
        ax.set_xlabel("PCA 1")
        ax.set_ylabel("PCA 2")
    if too_many:
        title = f"{title or ''} ({len(values)} labels, colours repeat)".strip()
    if title:
        ax.set_title(title)
    return ax


def plot_domains_and_clusters(embedding, sample_domain, labels, *, domain_names=None,
                              axes=None, random_state=0):
    """Two views of one embedding: coloured by domain, and by cluster.

    A model that aligns domains mixes the colours of the first panel; one that clusters well
    shows compact groups in the second.

    Parameters
    ----------
    embedding : array-like of shape (n_samples, n_features)
        Rows of every domain, e.g. ``estimator.transform(X)``.
    sample_domain : array-like of int of shape (n_samples,)
        Domain of each row.
    labels : array-like of shape (n_samples,)
        Cluster (or class) of each row.
    domain_names : dict, default=None
        Legend text per domain id, e.g. ``{0: "amazon", -1: "webcam"}``.
    axes : sequence of two matplotlib Axes, default=None
        Where to draw; a new 1 x 2 figure when None.
    random_state : int, default=0
        Seed of the PCA solver (the same projection serves both panels).

    Returns
    -------
    axes : array of two matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skdomainclust.plotting import plot_domains_and_clusters
    >>> Z = np.random.default_rng(0).normal(size=(20, 4))
    >>> axes = plot_domains_and_clusters(Z, [0] * 10 + [-1] * 10, [0, 1] * 10)
    >>> [ax.get_title() for ax in axes]
    ['by domain', 'by cluster']
    """
    points, projected = _project(embedding, random_state)  # one projection for both panels
    if axes is None:
        axes = _pyplot().subplots(1, 2, figsize=(10, 4.5))[1]
    sample_domain = np.asarray(sample_domain)
    targets = np.unique(sample_domain[sample_domain < 0])
    _scatter(points, sample_domain, projected, ax=axes[0], title="by domain", legend=True,
             label_names=domain_names, s=8, on_top=targets)
    _scatter(points, labels, projected, ax=axes[1], title="by cluster", legend=True,
             label_names=None, s=8, on_top=())
    return np.asarray(axes)
