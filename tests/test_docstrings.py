"""Every Examples section of the package runs and prints what it says."""

import doctest
import importlib
import pkgutil

import pytest

import skdomainclust

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(skdomainclust.__path__, "skdomainclust.")
    if not info.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name):
        if test.examples and test.name.startswith(name):  # not re-exported objects
            runner.run(test, clear_globs=True)
    results = runner.summarize(verbose=False)
    assert results.failed == 0, f"{results.failed} docstring example(s) of {name} failed"
