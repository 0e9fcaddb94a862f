"""Golden outputs: every estimator's predictions on the shared suite's small case, stored.

Refactors of the estimator core must not change what a seeded fit learns. The stored labels
were made on the commit named in ``golden/predictions.json``; a change that alters them on
purpose (a new default, a fixed bug) regenerates the file in the same commit, says why in the
file's ``made_on`` and in the commit message:

    python -m tests.test_golden
"""

import json
import pathlib
import subprocess

import numpy as np
import pytest
from sklearn.base import clone

from ._cases import CASES

GOLDEN = pathlib.Path(__file__).with_name("golden") / "predictions.json"


def _predictions(case):
    X, y, sample_domain = case.data()
    estimator = clone(case.estimator).fit(X, y, sample_domain=sample_domain)
    return estimator.predict(X, sample_domain=sample_domain)


def _stored():
    return json.loads(GOLDEN.read_text())


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_predictions_match_the_golden_file(case):
    stored = _stored()["predictions"][case.id]
    np.testing.assert_array_equal(_predictions(case), np.asarray(stored))


def test_every_estimator_has_golden_predictions():
    assert sorted(_stored()["predictions"]) == sorted(case.id for case in CASES)


def main():
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, check=True).stdout.strip()
    payload = {
        "made_on": commit,
        "predictions": {case.id: _predictions(case).tolist() for case in CASES},
    }
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps(payload, indent=0) + "\n")
    print(f"wrote {GOLDEN} (made on {commit})")


if __name__ == "__main__":
    import torch

    torch.set_num_threads(1)
    main()
