"""UCDIR (Hu & Lee, ECCV 2022): unsupervised cross-domain image retrieval.

``_network`` holds the module, the loss terms of a step and the schedule; ``retriever`` the
estimator.
"""

from ._network import UCDIRSchedule
from .retriever import UCDIRRetriever, order_domains

__all__ = ["UCDIRRetriever", "UCDIRSchedule", "order_domains"]
