"""What G and the clustering network train with: augmentation, and the per-step schedule."""

import copy

import torch
from skorch.callbacks import Callback
from torch import nn

from .._net import DomainNet
from ..nn.views import FeatureView, IdentityView, ImageView

__all__ = ["StepSchedule", "TrainingNet", "build_augment", "step_decay"]


def step_decay(progress, milestones=()):
    """Learning-rate factor ``0.1 ** (milestones passed)`` at training progress ``p``."""
    return 0.1 ** sum(progress >= m for m in milestones)


def build_augment(augment, X, *, for_images_only=False):
    """The augmentation module of a fit: a copy of the user's, or the default ("auto")."""
    image = X.ndim == 4
    if augment is None or augment is False:
        return IdentityView()
    if isinstance(augment, str):
        if augment != "auto":
            raise ValueError(f"augment must be 'auto', None or an nn.Module, got {augment!r}.")
        if image:
            # The authors' RandomResizedCrop(32, scale=(0.85, 1)): no flip, no colour change.
            return ImageView(crop_scale=(0.85, 1.0), flip_prob=0.0, brightness=0.0,
                             contrast=0.0, saturation=0.0)
        if for_images_only:
            return IdentityView()
        view = FeatureView(noise=0.1, n_features=X.shape[1])
    elif isinstance(augment, nn.Module):
        view = copy.deepcopy(augment)
    else:
        raise TypeError(f"augment must be 'auto', None or an nn.Module, got {augment!r}.")
    if hasattr(view, "set_scale"):
        view.set_scale(torch.as_tensor(X))
    return view


# -- batching and the learning-rate schedule ----------------------------------------------------


class StepSchedule(Callback):
    """Tracks the training progress ``p`` in [0, 1] of a :class:`CCNNet`, step by step."""

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        steps = len(net.get_iterator(net.get_dataset(X, y), training=True))
        net.total_steps_ = max(1, steps * net.max_epochs)
        net.steps_done_ = 0


class TrainingNet(DomainNet):
    """A :class:`DomainNet` whose learning rate follows ``lr_factor(progress)``."""

    def __init__(self, *args, lr_factor=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lr_factor = lr_factor

    def _advance(self):
        """Training progress before this step; sets the learning rate for it."""
        progress = min(1.0, self.steps_done_ / self.total_steps_)
        self.steps_done_ += 1
        if self.lr_factor is not None:
            for group in self.optimizer_.param_groups:
                group["lr"] = self.lr * self.lr_factor(progress)
        return progress


# -- the similarity network G ------------------------------------------------------------------
