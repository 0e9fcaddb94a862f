"""Every recipe of the docs and the README runs verbatim and prints finite scores."""

import contextlib
import io
import math
import pathlib
import re

import numpy as np
import pytest
import sklearn

from skdomainclust import SourceOnlyClassifier
from skdomainclust.datasets import make_digits_shift, stack_domains

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _python_blocks(page):
    """The python blocks of an .rst page (dedented) or of a Markdown file, in order."""
    path = ROOT / page if page.endswith(".md") else DOCS / page
    text = path.read_text()
    if page.endswith(".md"):
        return [match.group(1) for match in re.finditer(r"```python\n(.*?)```", text, re.S)]
    blocks = []
    for match in re.finditer(r"\.\. code-block:: python\n\n((?:    .*\n|\n)+)", text):
        lines = match.group(1).rstrip().split("\n")
        blocks.append("\n".join(line[4:] for line in lines))
    return blocks


def _namespace():
    data = make_digits_shift(domains=("original", "rotated"), random_state=0)
    X, y, sample_domain = stack_domains(data, source="original", target="rotated")
    return {"model": SourceOnlyClassifier(hidden_dims=(32,), max_epochs=3, random_state=0),
            "grid": {"dropout": [0.0, 0.5]}, "X": X, "y": y, "sample_domain": sample_domain}


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


#: Pages whose blocks are whole programs, run in order in one namespace (a page's later
#: blocks use its earlier ones). distributed.rst needs a Dask scheduler: checked above.
PROGRAM_PAGES = ["getting_started.rst", "choosing.rst", "README.md"]


@pytest.mark.slow
@pytest.mark.parametrize("page", PROGRAM_PAGES)
def test_every_recipe_runs_verbatim_and_prints_finite_numbers(page):
    blocks = _python_blocks(page)
    assert blocks, f"no python block found in {page}"
    namespace, printed = {}, io.StringIO()
    # The recipes turn metadata routing on globally, as a user would: keep it to this test.
    with sklearn.config_context(), contextlib.redirect_stdout(printed):
        for number, block in enumerate(blocks):
            exec(compile(block, f"{page} block {number}", "exec"), namespace)  # noqa: S102
    numbers = re.findall(r"-?\d+\.\d+|nan|inf", printed.getvalue())
    assert numbers, f"{page} printed no score: {printed.getvalue()!r}"
    assert all(math.isfinite(float(n)) for n in numbers), printed.getvalue()


def test_the_docs_build_without_the_data_stops_with_one_line(tmp_path):
    import subprocess
    import sys

    env = {"PATH": "/usr/bin:/bin", "SKDOMAINCLUST_DATA": str(tmp_path)}
    result = subprocess.run([sys.executable, "gallery_data.py"], cwd=DOCS, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "set SKDOMAINCLUST_DATA" in result.stderr and str(tmp_path) in result.stderr
