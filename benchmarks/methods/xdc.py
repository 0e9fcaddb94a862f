"""XDC and the plain linkage GCN, on Omniglot (a many-identity setting) and the standard tasks.

Omniglot tasks (``omniglot:background->ALPHABET``): the source is the 30 background alphabets
(964 labelled characters, 19,280 drawings); the target is one evaluation alphabet (20 to 47
characters never seen in training, 20 drawings each), unlabelled. Like face clustering, the
identities of the target are new and many; K is never given to XDC.

Images are 105x105 ink masks, resized to 32x32 and normalised with the L2C constants
(mean 0.086, std 0.235) by ``load_omniglot``, then flattened to 1,024 features for XDC's
default encoder (a linear projection, see ``XDCClusterer``), not a small conv net: the family
is 20 tasks x 2 deep methods on one CPU core within ~15 minutes, ~20 s per fit, and a conv
encoder over 32x32 images costs ~30x as much per drawing while every training step embeds
~1,500 subgraph nodes.

Office-31 (ImageNet EfficientNet-Lite0 features): the ``office31`` tasks (all 31 classes of the
source labelled, the target the same 31 classes) and ``office31_crossclass`` (source classes
0-15 labelled, target rows of classes 16-30 only: new identities, as in Omniglot).

Rows: k-means with the true K on the target pixels (Omniglot only; the baselines module gives
the k-means rows of the standard tasks), the linkage GCN (``adversarial=False``), XDC with
``XDCClusterer``'s defaults (the domain classifier on the GCN's link embeddings), and the
ablations ``XDC (feature alignment)`` (``align="features"``: the domain classifier on the
encoder's embeddings, as the XDC seed describes) and ``XDC (domain head (256,))`` (a narrow
domain classifier: about 3x faster, as good on most families, worse on SURF caltech -> dslr)
and ``XDC (random projection start)`` (``projection_init="random"``: the embedding starts at
PyTorch's default initialisation instead of the PCA of the input rows; on Omniglot's pixels
the default already starts there, see ``XDCClusterer``).
"""

import functools

import numpy as np

from skdomainclust import XDCClusterer
from skdomainclust.datasets import load_omniglot

from ..registry import Method, Outcome, Task
from ..tasks import family_dataset
from .baselines import run_kmeans

# The 20 evaluation alphabets, as stored in omniglot_evaluation.npz (alphabet_names order).
OMNIGLOT_ALPHABETS = (
    "Angelic", "Atemayar_Qelisayer", "Atlantean", "Aurek-Besh", "Avesta", "Ge_ez", "Glagolitic",
    "Gurmukhi", "Kannada", "Keble", "Malayalam", "Manipuri", "Mongolian",
    "Old_Church_Slavonic_(Cyrillic)", "Oriya", "Sylheti", "Syriac_(Serto)", "Tengwar", "Tibetan",
    "ULOG",
)
# Characters per evaluation alphabet (from the data README): the true K of each task.
OMNIGLOT_SIZES = dict(zip(OMNIGLOT_ALPHABETS, (
    20, 26, 26, 26, 26, 26, 45, 45, 41, 26, 47, 40, 30, 45, 46, 28, 23, 25, 42, 26)))


@functools.cache
def _omniglot(subset):
    """The 32x32 normalised drawings of one Omniglot subset (a Bunch, loaded once)."""
    return load_omniglot(subset=subset, image_size=32)


def _omniglot_loader(alphabet):
    def load():
        source, evaluation = _omniglot("background"), _omniglot("evaluation")
        X_source, y_source = source.X, source.y
        rows = evaluation.alphabet == evaluation.alphabet_names.index(alphabet)
        X = np.concatenate([X_source, evaluation.X[rows]])
        # Target character labels are offset so they never collide with source labels.
        y = np.concatenate([y_source, evaluation.y[rows] + y_source.max() + 1])
        sample_domain = np.concatenate([np.zeros(len(y_source), dtype=np.int64),
                                        np.full(int(rows.sum()), -1, dtype=np.int64)])
        return X, y, sample_domain

    return load


TASKS = [
    Task(name=f"omniglot:background->{alphabet}", family="omniglot",
         load=_omniglot_loader(alphabet), n_classes=OMNIGLOT_SIZES[alphabet],
         meta={"image_shape": (1, 32, 32)})
    for alphabet in OMNIGLOT_ALPHABETS
]

# Office-31 cross-class (``office31_crossclass:SOURCE->TARGET``): the source rows of classes
# 0-15 are labelled, the target rows are those of classes 16-30 (15 identities never seen in
# training, K unknown to XDC), features z-scored per domain like the ``office31`` family.
OFFICE31_DOMAINS = ("amazon", "dslr", "webcam")
OFFICE31_SPLIT = 16


def _office31_crossclass_loader(source, target):
    def load():
        data = family_dataset("office31")
        names = data.domain_names
        source_rows = (data.domain == names.index(source)) & (data.y < OFFICE31_SPLIT)
        target_rows = (data.domain == names.index(target)) & (data.y >= OFFICE31_SPLIT)
        X = np.concatenate([data.X[source_rows], data.X[target_rows]])
        y = np.concatenate([data.y[source_rows], data.y[target_rows]])
        sample_domain = np.concatenate([np.zeros(int(source_rows.sum()), dtype=np.int64),
                                        np.full(int(target_rows.sum()), -1, dtype=np.int64)])
        return X, y, sample_domain

    return load


TASKS += [
    Task(name=f"office31_crossclass:{source}->{target}", family="office31_crossclass",
         load=_office31_crossclass_loader(source, target), n_classes=31 - OFFICE31_SPLIT,
         dataset="office31")
    for source in OFFICE31_DOMAINS for target in OFFICE31_DOMAINS if source != target
]

STANDARD = ["digits:mnist->usps", "surf:amazon->webcam", "surf:caltech->dslr"]
QUICK = [*STANDARD, "omniglot:background->Angelic", "omniglot:background->Gurmukhi"]
FULL = [*STANDARD, "omniglot", "office31", "office31_crossclass"]


def _run_xdc(**params):
    def run(task, X, y, sample_domain, seed):
        model = XDCClusterer(random_state=seed, **params)
        model.fit(X, y, sample_domain=sample_domain)
        return Outcome(labels=model.labels_[sample_domain < 0],
                       metrics={"n_clusters_estimated": model.n_clusters_,
                                "n_clusters_true": task.n_classes})

    run.__doc__ = (f"XDCClusterer(**{params!r}), other parameters at their defaults; labels_ of "
                   "the target rows.")
    return run


METHODS = [
    Method("k-means (target pixels, true K)", run_kmeans,
           {"quick": QUICK[3:], "full": ["omniglot"]}, baseline=True),
    Method("k-means (target, true K) [cross-class]", run_kmeans,
           {"full": ["office31_crossclass"]}, baseline=True),
    Method("Linkage GCN (no adversarial)", _run_xdc(adversarial=False),
           {"quick": QUICK, "full": FULL}),
    Method("XDC", _run_xdc(), {"quick": QUICK, "full": FULL}),
    Method("XDC (domain head (256,))", _run_xdc(domain_hidden_dims=(256,)), {"full": FULL}),
    Method("XDC (random projection start)", _run_xdc(projection_init="random"),
           {"full": [*STANDARD, "office31", "office31_crossclass"]}),
    Method("XDC (feature alignment)", _run_xdc(align="features"),
           {"quick": QUICK, "full": [*STANDARD, "omniglot"]}),
]
