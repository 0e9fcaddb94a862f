"""Test configuration shared by the whole suite.

The CI machine has two cores: one intra-op thread per process avoids oversubscription
(pytest-xdist workers each get their own) and makes small-batch training faster.
"""

import os

import numpy as np
import pytest
import torch

torch.set_num_threads(1)

# The benchmark sets live beside the checkout (../shared/data); the package itself never looks
# there, so the tests point the documented environment variable at it unless the user already did.
_SHARED_DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")
if os.path.isdir(_SHARED_DATA):
    os.environ.setdefault("SKDOMAINCLUST_DATA", os.path.abspath(_SHARED_DATA))


def pytest_collection_modifyitems(items):
    # A test that reads the real benchmark sets is an integration test, wherever it lives.
    for item in items:
        if "data_home" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def data_home():
    """Folder holding the real benchmark sets, or skip when it is absent."""
    from skdomainclust.datasets import get_data_home

    home = get_data_home()
    if not os.path.isdir(home):
        pytest.skip(f"benchmark data not found at {home} (set SKDOMAINCLUST_DATA)")
    return home


@pytest.fixture
def rng():
    return np.random.default_rng(0)
