"""skdomainclust: scikit-learn compatible deep clustering across domain shift."""

from .exceptions import DivergenceError
from .source_only import SourceOnlyClassifier

__version__ = "0.1.0.dev0"

__all__ = [
    "DivergenceError",
    "SourceOnlyClassifier",
    "__version__",
]
