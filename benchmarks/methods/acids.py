"""ACIDS rows: leave-one-domain-out clustering from unlabelled sources, source-free adaptation.

Tasks (``TASKS``), each "every other domain is an unlabelled source, one domain the target":

- ``acids_digits:{mnist,usps,mnist_m}`` over {MNIST, USPS, MNIST-M}: images resized to 32x32 in
  torch by the loaders (bilinear, antialiased), three channels (grey digits repeated), pixels
  in [0, 1].
  Subsampled to ``DIGITS_PER_DOMAIN`` images per domain, stratified, from MNIST's 5k training
  subset, USPS's training set and MNIST-M's test set (MNIST-M test is built from MNIST *test*
  digits, so MNIST is taken from the training subset: the two domains share no digit).
- ``acids_surf:{amazon,caltech,dslr,webcam}``: Office-Caltech10 SURF, three unlabelled sources
  -> one target, K = 10; each row divided by its sum, then z-scored per domain (population
  std), the literature's preprocessing.
- ``acids_office31:{amazon,dslr,webcam}``: Office-31 as ImageNet EfficientNet-Lite0 features
  (1280-d), two unlabelled sources -> one target, K = 31, z-scored per domain (the
  ``office31`` family's preprocessing); configured like SURF (feature vectors).

Rows (``METHODS``):

- ``k-means (target, true K) [LODO]``: k-means on the target rows alone (digits: raw pixels).
- ``IIC (pooled sources)``: the same network and schedule without domain alignment (ordinary
  batch-norm shared by all domains, ``domain_weight=0``), applied to the target. On digits
  (seed 0) it clusters by *domain*: every subhead's loss sits at -log 2 and each source domain
  falls in a single cluster (a diagnostic fit for the USPS target: source ACC 10.0 / 11.3 %,
  NMI 0), the failure that ACIDS' domain-specific batch-norm and domain-cluster term address.
- ``ACIDS before adapt``: phase 1 only; target rows normalised by the pooled statistics of the
  source batch-norm slots.
- ``ACIDS adapt (target BN only)``: phase 1, then ``adapt`` with ``adapt_epochs=0`` (target
  batch-norm statistics re-estimated, no gradient step): isolates what the training in
  ``adapt`` adds.
- ``ACIDS after adapt``: phase 1, then ``adapt`` on the target rows alone.
- ``ACIDS after adapt (init=random)``: the same with ``init="random"`` (PyTorch's
  initialisation of trunk and heads, no target re-centring): the ablation of the k-means start
  that ``init="auto"`` gives feature vectors. Feature-vector families only (images already
  start at random).
- ``ACIDS after adapt (RGB input)``: digits only, the same conv net on the three colour
  channels instead of the default trunk's grey Sobel gradients: the ablation of the authors'
  nuisance-removing input.
- ``ACIDS after adapt (12-epoch phase 1)``: digits only, phase 1 cut from the default 40
  epochs to 12 (the digits rows' earlier schedule), ``adapt`` unchanged: the ablation of the
  source phase's length.

With ``init="auto"`` (feature vectors) ``ACIDS adapt (target BN only)`` is the target
statistics *and* the re-centring of every cluster on the target rows by k-means (both happen
before ``adapt``'s first step), and ``IIC (pooled sources)`` starts from the same k-means.

The three ACIDS rows share one phase-1 model per (task, seed), cached in this process, so a
full run trains phase 1 once per task.
"""

import copy
import functools

import numpy as np
from sklearn.cluster import KMeans

from skdomainclust.acids import ACIDSClusterer
from skdomainclust.datasets import load_mnist, load_mnist_m, load_usps
from skdomainclust.nn.convnet import ConvNet
from skdomainclust.nn.views import ImageView

from ..registry import Method, Outcome, Task
from ..tasks import family_dataset

DIGITS_DOMAINS = ("mnist", "usps", "mnist_m")
SURF_DOMAINS = ("amazon", "caltech", "dslr", "webcam")
OFFICE31_DOMAINS = ("amazon", "dslr", "webcam")
#: Images per digits domain (stratified subsample). With the default 40 + 40 epochs one digits
#: fit takes about 350 s of phase 1 and 170 s of ``adapt`` on one CPU thread.
DIGITS_PER_DOMAIN = 2000


def _stratified(y, n, seed=0):
    """Sorted indices of a class-stratified subsample of ``n`` rows (all when n >= len(y))."""
    if n >= len(y):
        return np.arange(len(y))
    from sklearn.model_selection import train_test_split

    keep, _ = train_test_split(np.arange(len(y)), train_size=n, stratify=y, random_state=seed)
    return np.sort(keep)


@functools.cache
def load_digits_domains(n_per_domain=DIGITS_PER_DOMAIN):
    """``{domain: (X (n, 3, 32, 32) float32 in [0, 1], y)}`` for MNIST, USPS and MNIST-M.

    The loaders resize in torch (antialiased bilinear); grey digits are repeated over three
    channels.
    """
    bunches = {
        "mnist": load_mnist(subset="train5k", image_size=32, return_images=True),
        "usps": load_usps(subset="train", image_size=32, return_images=True),
        "mnist_m": load_mnist_m(image_size=32),
    }
    domains = {}
    for name, bunch in bunches.items():
        keep = _stratified(bunch.y, n_per_domain)
        images = bunch.images[keep]
        if images.shape[1] == 1:
            images = np.repeat(images, 3, axis=1)
        domains[name] = (np.ascontiguousarray(images, dtype=np.float32), bunch.y[keep])
    return domains


def _by_domain(bunch):
    return {name: (bunch.X[bunch.domain == i], bunch.y[bunch.domain == i])
            for i, name in enumerate(bunch.domain_names)}


@functools.cache
def load_surf_domains():
    """``{domain: (X (n, 800) float32, y)}``: row-sum normalised, z-scored per domain."""
    return _by_domain(family_dataset("surf"))


@functools.cache
def load_office31_domains():
    """``{domain: (X (n, 1280) float32, y)}``: z-scored per domain."""
    return _by_domain(family_dataset("office31"))


def _leave_one_out(loader, domains, target):
    """Stack the other domains as sources 0, 1, ... and ``target`` as domain -1."""
    def load():
        data = loader()
        sources = [d for d in domains if d != target]
        X = np.concatenate([data[d][0] for d in sources] + [data[target][0]])
        y = np.concatenate([data[d][1] for d in sources] + [data[target][1]])
        sample_domain = np.concatenate(
            [np.full(len(data[d][1]), i) for i, d in enumerate(sources)]
            + [np.full(len(data[target][1]), -1)])
        return X, y, sample_domain

    return load


TASKS = [
    *[Task(name=f"acids_digits:{t}", family="acids_digits",
           load=_leave_one_out(load_digits_domains, DIGITS_DOMAINS, t), n_classes=10,
           meta={"image_shape": (3, 32, 32)}, dataset="digits") for t in DIGITS_DOMAINS],
    *[Task(name=f"acids_surf:{t}", family="acids_surf",
           load=_leave_one_out(load_surf_domains, SURF_DOMAINS, t), n_classes=10,
           dataset="surf")
      for t in SURF_DOMAINS],
    *[Task(name=f"acids_office31:{t}", family="acids_office31",
           load=_leave_one_out(load_office31_domains, OFFICE31_DOMAINS, t), n_classes=31,
           dataset="office31")
      for t in OFFICE31_DOMAINS],
]


# -- configurations ----------------------------------------------------------------------------


def _config(task, seed, **overrides):
    """The ACIDS constructor of a task family (shared by every ACIDS / IIC row).

    Digits: the default image trunk (grey Sobel input, then a small conv net), crop /
    rotation / colour views (no flip: digits are not mirror-symmetric), the estimator's
    default schedule (40 + 40 epochs: 1280 phase-1 steps of 2 x 64 images, 640 phase-2 steps
    of 128 target images), and target neighbours found in the trunk's embedding (pixel
    neighbours of MNIST-M follow the colour background). SURF: the default MLP trunk and
    feature views, 60 + 80 epochs, target neighbours in input space; Office-31 the same.
    """
    if task.family == "acids_digits":
        params = dict(
            views=(ImageView(crop_scale=(0.8, 1.0), flip_prob=0.0, brightness=0.0,
                             contrast=0.0, saturation=0.0),
                   ImageView(crop_scale=(0.6, 1.0), max_rotation=15, flip_prob=0.0,
                             brightness=0.4, contrast=0.4, saturation=0.4,
                             grayscale_prob=0.2)),
            adapt_neighbour_space="features",
        )
    else:
        params = dict(max_epochs=60, adapt_epochs=80, adapt_neighbour_space="input")
    params.update(n_clusters=task.n_classes, random_state=seed)
    params.update(overrides)
    return ACIDSClusterer(**params)


_PHASE1 = {}


def _phase1(task, X, sample_domain, seed):
    """The phase-1 ACIDS model of (task, seed), trained on the source rows once per process."""
    key = (task.name, seed)
    if key not in _PHASE1:
        source = sample_domain >= 0
        model = _config(task, seed)
        _PHASE1[key] = model.fit(X[source], sample_domain=sample_domain[source])
    return copy.deepcopy(_PHASE1[key])


def run_kmeans(task, X, y, sample_domain, seed):
    """k-means with the true K on the target rows alone (flattened pixels for images)."""
    target = sample_domain < 0
    model = KMeans(n_clusters=task.n_classes, n_init=10, random_state=seed)
    return Outcome(labels=model.fit_predict(X[target].reshape(int(target.sum()), -1)))


def run_iic(task, X, y, sample_domain, seed):
    """Plain IIC on the pooled sources: shared batch-norm, no domain term, no adaptation."""
    source, target = sample_domain >= 0, sample_domain < 0
    model = _config(task, seed, domain_specific_bn=False, domain_weight=0.0)
    model.fit(X[source], sample_domain=sample_domain[source])
    return Outcome(labels=model.predict(X[target]),
                   metrics={"best_subhead": model.best_subhead_})


def run_before_adapt(task, X, y, sample_domain, seed):
    """ACIDS phase 1; the target read through the pooled source batch-norm statistics."""
    model = _phase1(task, X, sample_domain, seed)
    return Outcome(labels=model.predict(X[sample_domain < 0]),
                   metrics={"best_subhead": model.best_subhead_})


def run_adapt_bn_only(task, X, y, sample_domain, seed):
    """ACIDS phase 1, then ``adapt`` with ``adapt_epochs=0``: target BN statistics only."""
    model = _phase1(task, X, sample_domain, seed).set_params(adapt_epochs=0)
    target = sample_domain < 0
    return Outcome(labels=model.adapt(X[target]).labels_,
                   metrics={"best_subhead": model.best_subhead_})


def _ablation_after_adapt(task, X, sample_domain, seed, **overrides):
    """Phase 1 and ``adapt`` of an ablated configuration (its own fit, not the cached one)."""
    source, target = sample_domain >= 0, sample_domain < 0
    model = _config(task, seed, **overrides)
    model.fit(X[source], sample_domain=sample_domain[source])
    return Outcome(labels=model.adapt(X[target]).labels_,
                   metrics={"best_subhead": model.best_subhead_})


def run_after_adapt_random_init(task, X, y, sample_domain, seed):
    """ACIDS phase 1 then ``adapt`` from PyTorch's initialisation (``init="random"``)."""
    return _ablation_after_adapt(task, X, sample_domain, seed, init="random")


def run_after_adapt_rgb(task, X, y, sample_domain, seed):
    """ACIDS phase 1 then ``adapt`` with the same conv net on the RGB pixels (no Sobel)."""
    # A builder, not an instance: an instance keeps the weights it drew from the global
    # generator when it was made (whatever ran before in this process); the estimator builds
    # the network under its own seed.
    rgb = functools.partial(ConvNet, in_channels=3, image_size=32)
    return _ablation_after_adapt(task, X, sample_domain, seed, encoder=rgb)


def run_after_adapt_short_phase1(task, X, y, sample_domain, seed):
    """ACIDS with a 12-epoch phase 1 and the default ``adapt`` (the earlier digits phase 1)."""
    return _ablation_after_adapt(task, X, sample_domain, seed, max_epochs=12)


def run_after_adapt(task, X, y, sample_domain, seed):
    """ACIDS phase 1, then ``adapt`` on the target rows alone (source-free)."""
    model = _phase1(task, X, sample_domain, seed)
    target = sample_domain < 0
    return Outcome(labels=model.adapt(X[target]).labels_,
                   metrics={"best_subhead": model.best_subhead_})


FAMILIES = ["acids_digits", "acids_surf", "acids_office31"]
QUICK = ["acids_surf"]

METHODS = [
    Method("k-means (target, true K) [LODO]", run_kmeans, {"quick": QUICK, "full": FAMILIES},
           baseline=True),
    Method("IIC (pooled sources)", run_iic, {"quick": QUICK, "full": FAMILIES}),
    Method("ACIDS before adapt", run_before_adapt, {"quick": QUICK, "full": FAMILIES}),
    Method("ACIDS adapt (target BN only)", run_adapt_bn_only, {"quick": QUICK, "full": FAMILIES}),
    Method("ACIDS after adapt", run_after_adapt, {"quick": QUICK, "full": FAMILIES}),
    Method("ACIDS after adapt (init=random)", run_after_adapt_random_init,
           {"full": ["acids_surf", "acids_office31"]}),
    Method("ACIDS after adapt (RGB input)", run_after_adapt_rgb, {"full": ["acids_digits"]}),
    Method("ACIDS after adapt (12-epoch phase 1)", run_after_adapt_short_phase1,
           {"full": ["acids_digits"]}),
]
