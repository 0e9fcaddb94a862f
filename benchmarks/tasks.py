"""The standard benchmark tasks: single-source -> single-target settings on the staged data.

Preprocessing follows the literature each reference number comes from, so that the 1-NN
baseline reproduces the published 1-NN rows exactly:

- ``surf``: Office-Caltech10 SURF, row-sum normalisation then per-domain z-score (12 tasks).
- ``decaf``: Office-Caltech10 DeCAF6, per-sample L2 normalisation (dslr <-> webcam only).
- ``digits``: MNIST (2000) <-> USPS (1800), 16x16 pixels, per-sample L2 (the JDA protocol).
- ``digits_shift``: the built-in sklearn-digits shift, original -> each transformed domain.
"""

import functools
from itertools import permutations

from skdomainclust.datasets import (
    load_mnist_usps_jda,
    load_office_caltech_decaf,
    load_office_caltech_surf,
    make_digits_shift,
    stack_domains,
)

from .references import load_references
from .registry import Task

SURF_DOMAINS = ("amazon", "caltech", "dslr", "webcam")
DIGITS_SHIFT_TARGETS = ("rotated", "inverted", "noisy", "blurred")


@functools.cache
def _dataset(name):
    # Loaded once per process and shared by every task of the family.
    if name == "surf":
        return load_office_caltech_surf(preprocessing="standard")
    if name == "decaf":
        return load_office_caltech_decaf(preprocessing="l2")
    if name == "digits":
        return load_mnist_usps_jda(preprocessing="l2")
    if name == "digits_shift":
        return make_digits_shift(domains=("original", *DIGITS_SHIFT_TARGETS))
    raise KeyError(name)


def _loader(family, source, target):
    def load():
        return stack_domains(_dataset(family), source=source, target=target)

    return load


def standard_tasks():
    """All standard tasks, keyed by name."""
    references = load_references()
    pairs = {
        "surf": list(permutations(SURF_DOMAINS, 2)),
        "decaf": [("dslr", "webcam"), ("webcam", "dslr")],
        "digits": [("mnist", "usps"), ("usps", "mnist")],
        "digits_shift": [("original", t) for t in DIGITS_SHIFT_TARGETS],
    }
    tasks = {}
    for family, domain_pairs in pairs.items():
        for source, target in domain_pairs:
            name = f"{family}:{source}->{target}"
            tasks[name] = Task(name=name, family=family, load=_loader(family, source, target),
                               n_classes=10, reference=references.get(name, {}))
    return tasks
