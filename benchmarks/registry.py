"""What the benchmark runner runs: tasks (data + protocol) and methods (how to fit, what to report).

A *task* loads ``(X, y, sample_domain)`` with true labels on every row (methods must ignore the
target labels; the runner scores with them). A *method* turns a task into an :class:`Outcome`:
predicted labels for the target rows (the runner computes ACC, NMI, pairwise and BCubed F1
from them) and any extra metrics only the method can compute (e.g. retrieval precision).

Each module in ``benchmarks/methods/`` defines ``METHODS`` (a list of :class:`Method`) and may
define ``TASKS`` (a list of :class:`Task`) for protocols of its own; the runner collects them.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Task:
    """A benchmark task.

    Attributes
    ----------
    name : str
        Unique id, ``"<family>:<setting>"``, e.g. ``"surf:amazon->webcam"``.
    family : str
        Tasks averaged together in the report, e.g. ``"surf"``.
    load : callable () -> (X, y, sample_domain)
        Rows of every domain the protocol uses, true labels on every row.
    n_classes : int
        Number of target classes (the true K, for methods that need it).
    reference : dict
        Published numbers for this task, ``{"MEDA (ACM MM 2018)": 53.2, ...}`` (ACC %).
    meta : dict
        Anything else a method may need (e.g. ``{"image_shape": (1, 32, 32)}``).
    dataset : str
        The data set the family is built on (default: the family name), e.g. ``"office31"``
        for the ``acids_office31`` and ``retrieval_office31`` protocols: ``--tasks office31``
        selects every protocol on it.
    """

    name: str
    family: str
    load: Callable
    n_classes: int
    reference: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    dataset: str = ""

    def __post_init__(self):
        if not self.dataset:
            object.__setattr__(self, "dataset", self.family)


@dataclass
class Outcome:
    """What a method returns for one (task, seed).

    Attributes
    ----------
    labels : ndarray or None
        Predicted labels (classes or cluster ids) of the target rows (``sample_domain < 0``),
        in row order; None for methods that produce no labels.
    metrics : dict
        Extra metrics computed by the method (e.g. ``{"P@1 A->B": 0.41}``), plus anything to
        record (e.g. ``{"n_clusters_estimated": 23}``).
    """

    labels: np.ndarray | None = None
    metrics: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Method:
    """A benchmarked method.

    Attributes
    ----------
    name : str
        Row name in the report, e.g. ``"SRDC"`` or ``"SRDC (no feature clustering)"``.
    run : callable (task, X, y, sample_domain, seed) -> Outcome
        Fit on ``X`` with ``y`` masked to ``-1`` on target rows (the runner masks them) and
        predict. Must not read target labels.
    suites : dict
        Suite name (``"quick"`` / ``"full"``) -> list of task names or family names.
    labels_are_classes : bool
        The labels are class predictions, scored by plain accuracy like the published domain
        adaptation numbers; otherwise they are cluster ids, scored by Hungarian-matched ACC.
    baseline : bool
        What a user would run instead of this library's methods (k-means, 1-NN, a source-only
        classifier, raw-feature retrieval, a peer library): the league table compares every
        other row with the best baseline of its family.
    """

    name: str
    run: Callable
    suites: dict
    labels_are_classes: bool = False
    baseline: bool = False
