"""skdomainclust: scikit-learn compatible deep clustering across domain shift."""

from .acids import ACIDSClusterer
from .ccn import CCNAdapter, CCNClusterer, PairwiseSimilarity
from .exceptions import DivergenceError, DomainInferenceWarning
from .source_only import SourceOnlyClassifier
from .srdc import SRDCAdapter
from .ucdir import UCDIRRetriever
from .xdc import XDCClusterer

__version__ = "0.1.0.dev0"

__all__ = [
    "ACIDSClusterer",
    "CCNAdapter",
    "CCNClusterer",
    "DivergenceError",
    "DomainInferenceWarning",
    "PairwiseSimilarity",
    "SRDCAdapter",
    "SourceOnlyClassifier",
    "UCDIRRetriever",
    "XDCClusterer",
    "__version__",
]
