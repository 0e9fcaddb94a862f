"""A classifier that records the rows its response methods are called on: the scorer tests
check with it which rows (and so which labels) each scorer reads."""

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression


class RowSpy(ClassifierMixin, BaseEstimator):
    """Logistic regression that records the rows each response method is called on."""

    __metadata_request__fit = {"sample_domain": True}

    def fit(self, X, y, sample_domain=None):
        keep = np.asarray(y) != -1
        self.model_ = LogisticRegression().fit(X[keep], np.asarray(y)[keep])
        self.classes_ = self.model_.classes_
        self.seen_ = []
        return self

    def predict(self, X):
        self.seen_.append(X.copy())
        return self.model_.predict(X)

    def predict_proba(self, X):
        self.seen_.append(X.copy())
        return self.model_.predict_proba(X)
