"""The grid-search recipes of the docs run verbatim and print finite scores."""

import pathlib
import re

import numpy as np
import pytest

from skdomainclust import SourceOnlyClassifier
from skdomainclust.datasets import make_digits_shift, stack_domains

DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs"


def _python_blocks(page):
    """The ``.. code-block:: python`` blocks of an .rst page, dedented."""
    text = (DOCS / page).read_text()
    blocks = []
    for match in re.finditer(r"\.\. code-block:: python\n\n((?:    .*\n|\n)+)", text):
        lines = match.group(1).rstrip().split("\n")
        blocks.append("\n".join(line[4:] for line in lines))
    return blocks


def _namespace():
    data = make_digits_shift(domains=("original", "rotated"), random_state=0)
    X, y, sample_domain = stack_domains(data, source="original", target="rotated")
    return {"model": SourceOnlyClassifier(hidden_dims=(32,), max_epochs=3, random_state=0),
            "grid": {"lr": [1e-3, 1e-2]}, "X": X, "y": y, "sample_domain": sample_domain}


@pytest.mark.parametrize("page", ["data_contract.rst", "model_selection.rst"])
def test_the_grid_search_recipes_run_verbatim_with_finite_scores(page):
    blocks = [block for block in _python_blocks(page) if "GridSearchCV" in block]
    assert blocks, f"no grid-search recipe found in {page}"
    for block in blocks:
        namespace = _namespace()
        exec(compile(block, f"{page} recipe", "exec"), namespace)  # noqa: S102
        search = namespace["search"]
        for key, scores in search.cv_results_.items():
            if key.startswith("mean_test_"):
                assert np.isfinite(scores).all(), (page, key, scores)


def test_the_distributed_recipe_uses_a_domain_splitter():
    # It needs a Dask scheduler, so it is checked for its splitter (tests/test_distributed.py
    # runs the same search on a LocalCluster).
    (block,) = [b for b in _python_blocks("distributed.rst") if "GridSearchCV" in b]
    assert "cv=DomainKFold(" in block
