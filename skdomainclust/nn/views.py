"""Random views of a batch, written in torch so they run on the batch's device.

Self-supervised and clustering objectives (IIC, ACIDS, UCDIR's instance loss, ...) compare
two random views of the same samples. Images get crops, flips and intensity jitter; feature
vectors (precomputed embeddings), which have no such geometry, get vector stand-ins: Gaussian
noise scaled per dimension, random masking and multiplicative jitter.

Each view is an ``nn.Module`` mapping a batch to a batch of the same shape (no parameters, so
it adds nothing to an optimizer; per-dimension scales are buffers that travel with a pickled
model). Randomness comes from torch's global generator, which the estimators seed; in eval
mode a view is the identity.
"""

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "FeatureView",
    "ImageView",
    "IdentityView",
    "random_crop_resize",
    "random_flip",
    "intensity_jitter",
    "view_pair",
    "iic_views",
    "moco_views",
]


class IdentityView(nn.Module):
    """The un-augmented view."""

    def forward(self, X):
        return X


class FeatureView(nn.Module):
    """Noise, masking and multiplicative jitter for feature vectors ``(B, d)``.

    ``x' = (x + sigma * std * eps) * m * s`` with ``eps ~ N(0, 1)`` per entry, ``m`` a
    Bernoulli(1 - mask_prob) keep mask per entry, and ``s ~ N(1, jitter^2)`` one per row.

    Parameters
    ----------
    noise : float, default=0.1
        Noise level in units of each dimension's standard deviation (``std``).
    mask_prob : float, default=0.0
        Probability of zeroing each entry (not rescaled: a masked feature reads as absent).
    jitter : float, default=0.0
        Standard deviation of the per-row multiplicative factor.
    n_features : int or None
        Size of the ``std`` buffer (ones until :meth:`set_scale` is called).

    Examples
    --------
    >>> import torch
    >>> view = FeatureView(noise=0.5, mask_prob=0.2, jitter=0.1, n_features=4)
    >>> view(torch.ones(3, 4)).shape
    torch.Size([3, 4])
    """

    def __init__(self, noise=0.1, mask_prob=0.0, jitter=0.0, n_features=None):
        super().__init__()
        if noise < 0 or jitter < 0 or not 0 <= mask_prob < 1:
            raise ValueError(
                f"need noise >= 0, jitter >= 0 and 0 <= mask_prob < 1, got noise={noise}, "
                f"jitter={jitter}, mask_prob={mask_prob}."
            )
        self.noise = float(noise)
        self.mask_prob = float(mask_prob)
        self.jitter = float(jitter)
        self.register_buffer("std", torch.ones(int(n_features) if n_features else 1))

    def set_scale(self, X):
        """Set the per-dimension noise scale to the standard deviation of ``X`` (rows)."""
        X = torch.as_tensor(X, dtype=torch.float32)
        std = X.flatten(1).std(dim=0) if len(X) > 1 else torch.ones(X[0].numel())
        self.std = torch.where(std > 0, std, torch.ones_like(std)).to(self.std.device)
        return self

    def forward(self, X):
        if not self.training:
            return X
        out = X
        if self.noise:
            out = out + self.noise * self.std * torch.randn_like(out)
        if self.mask_prob:
            out = out * (torch.rand_like(out) >= self.mask_prob).to(out.dtype)
        if self.jitter:
            scale = 1.0 + self.jitter * torch.randn(len(out), 1, device=out.device,
                                                    dtype=out.dtype)
            out = out * scale
        return out

    def extra_repr(self):
        return f"noise={self.noise}, mask_prob={self.mask_prob}, jitter={self.jitter}"


def random_crop_resize(X, scale=(0.6, 1.0), ratio=(3 / 4, 4 / 3), max_rotation=0.0):
    """Random resized crop (and optional rotation) of a batch ``(B, C, H, W)``, same size out.

    One affine grid per image: a crop covering ``scale`` of the area with aspect ``ratio`` at a
    random position, rotated by up to ``max_rotation`` degrees, resampled bilinearly.
    """
    B = len(X)
    device, dtype = X.device, X.dtype
    area = torch.empty(B, device=device, dtype=dtype).uniform_(*scale)
    log_ratio = torch.empty(B, device=device, dtype=dtype).uniform_(
        math.log(ratio[0]), math.log(ratio[1]))
    aspect = log_ratio.exp()
    # Side lengths as fractions of the image, capped at the full image.
    sx = (area * aspect).sqrt().clamp(max=1.0)
    sy = (area / aspect).sqrt().clamp(max=1.0)
    tx = (torch.rand(B, device=device, dtype=dtype) * 2 - 1) * (1 - sx)
    ty = (torch.rand(B, device=device, dtype=dtype) * 2 - 1) * (1 - sy)
    angle = (torch.rand(B, device=device, dtype=dtype) * 2 - 1) * math.radians(max_rotation)
    cos, sin = angle.cos(), angle.sin()
    theta = torch.stack([
        torch.stack([sx * cos, -sy * sin, tx], dim=1),
        torch.stack([sx * sin, sy * cos, ty], dim=1),
    ], dim=1)
    grid = F.affine_grid(theta, list(X.shape), align_corners=False)
    return F.grid_sample(X, grid, mode="bilinear", padding_mode="border", align_corners=False)


def random_flip(X, p=0.5):
    """Flip each image of ``(B, C, H, W)`` left-right with probability ``p``."""
    flip = torch.rand(len(X), device=X.device) < p
    return torch.where(flip.view(-1, 1, 1, 1), X.flip(-1), X)


def _grey(X):
    """Luma of RGB images (ITU-R 601 weights), the channel mean otherwise; ``(B, 1, H, W)``."""
    if X.shape[1] == 3:
        return 0.299 * X[:, :1] + 0.587 * X[:, 1:2] + 0.114 * X[:, 2:3]
    return X.mean(dim=1, keepdim=True)


def intensity_jitter(X, brightness=0.4, contrast=0.4, saturation=0.4, grayscale_prob=0.0):
    """ColorJitter-like random brightness, contrast and saturation of ``(B, C, H, W)``.

    Factors are drawn per image in ``[1 - s, 1 + s]``: brightness multiplies the image,
    contrast blends it with its mean intensity, saturation with its grey version (three
    channels only). ``grayscale_prob`` replaces an image by its grey version. Values are not
    clipped: inputs are not assumed to lie in [0, 1].
    """
    B = len(X)

    def factor(strength):
        return 1 + (torch.rand(B, 1, 1, 1, device=X.device, dtype=X.dtype) * 2 - 1) * strength

    out = X
    if brightness:
        out = out * factor(brightness)
    if contrast:
        mean = _grey(out).mean(dim=(1, 2, 3), keepdim=True)
        out = mean + factor(contrast) * (out - mean)
    if saturation and out.shape[1] == 3:
        grey = _grey(out)
        out = grey + factor(saturation) * (out - grey)
    if grayscale_prob:
        to_grey = torch.rand(B, 1, 1, 1, device=X.device) < grayscale_prob
        out = torch.where(to_grey, _grey(out).expand_as(out), out)
    return out


class ImageView(nn.Module):
    """Crop, flip and intensity jitter for images ``(B, C, H, W)``.

    Parameters
    ----------
    crop_scale : tuple of float or None, default=(0.6, 1.0)
        Area range of the random resized crop; None disables cropping.
    max_rotation : float, default=0.0
        Largest random rotation, in degrees, applied with the crop.
    flip_prob : float, default=0.5
        Horizontal flip probability (set 0 for digits and text).
    brightness, contrast, saturation : float, default=0.4
        Jitter strengths (0 disables each).
    grayscale_prob : float, default=0.0
        Probability of turning an image grey.

    Examples
    --------
    >>> import torch
    >>> ImageView()(torch.rand(2, 3, 8, 8)).shape
    torch.Size([2, 3, 8, 8])
    """

    def __init__(self, crop_scale=(0.6, 1.0), max_rotation=0.0, flip_prob=0.5,
                 brightness=0.4, contrast=0.4, saturation=0.4, grayscale_prob=0.0):
        super().__init__()
        self.crop_scale = None if crop_scale is None else tuple(crop_scale)
        self.max_rotation = float(max_rotation)
        self.flip_prob = float(flip_prob)
        self.brightness = float(brightness)
        self.contrast = float(contrast)
        self.saturation = float(saturation)
        self.grayscale_prob = float(grayscale_prob)

    def forward(self, X):
        if not self.training:
            return X
        if X.dim() != 4:
            raise ValueError(f"ImageView expects (B, C, H, W) images, got shape {tuple(X.shape)}.")
        out = X
        if self.crop_scale is not None or self.max_rotation:
            out = random_crop_resize(out, scale=self.crop_scale or (1.0, 1.0),
                                     max_rotation=self.max_rotation)
        if self.flip_prob:
            out = random_flip(out, self.flip_prob)
        if self.brightness or self.contrast or self.saturation or self.grayscale_prob:
            out = intensity_jitter(out, self.brightness, self.contrast, self.saturation,
                                   self.grayscale_prob)
        return out

    def extra_repr(self):
        return (f"crop_scale={self.crop_scale}, max_rotation={self.max_rotation}, "
                f"flip_prob={self.flip_prob}, brightness={self.brightness}, "
                f"contrast={self.contrast}, saturation={self.saturation}, "
                f"grayscale_prob={self.grayscale_prob}")


def view_pair(views, default, names=("first", "second")):
    """The two views of an estimator's ``views`` parameter, as fresh copies.

    ``views`` is None (use ``default``, a pair of modules) or a pair of ``nn.Module``; the
    user's modules are deep-copied, so fitting never modifies them. ``names`` names the two
    roles in the error message.

    Raises
    ------
    TypeError
        When ``views`` is neither None nor a pair of torch modules.
    """
    if views is None:
        return default
    try:
        first, second = views
    except (TypeError, ValueError):
        raise TypeError(f"views must be None or a pair ({names[0]} view, {names[1]} view) of "
                        f"torch modules, got {views!r}.") from None
    for view in (first, second):
        if not isinstance(view, nn.Module):
            raise TypeError(f"each view must be a torch.nn.Module, got {view!r}.")
    return copy.deepcopy(first), copy.deepcopy(second)


def iic_views(image):
    """ACIDS's default (plain, transformed) views: a light and a strong augmentation.

    Images: a light crop, then crop, flip and intensity jitter. Feature vectors: noise of 0.1
    per-dimension std, then 0.25 std with 20 % masking and 10 % multiplicative jitter.
    """
    if image:
        return (ImageView(crop_scale=(0.8, 1.0), flip_prob=0.0, brightness=0.0, contrast=0.0,
                          saturation=0.0),
                ImageView(crop_scale=(0.5, 1.0), flip_prob=0.5, brightness=0.4, contrast=0.4,
                          saturation=0.4))
    return (FeatureView(noise=0.1),
            FeatureView(noise=0.25, mask_prob=0.2, jitter=0.1))


def moco_views(image):
    """UCDIR's default (query, key) views: one augmentation family, drawn independently.

    Images: MoCo-v2's "aug-plus" without blur. Feature vectors: noise of 0.1 per-dimension
    std, 20 % masking and 10 % multiplicative jitter.
    """
    if image:
        view = ImageView(crop_scale=(0.2, 1.0), flip_prob=0.5, brightness=0.4, contrast=0.4,
                         saturation=0.4, grayscale_prob=0.2)
        return view, copy.deepcopy(view)
    return (FeatureView(noise=0.1, mask_prob=0.2, jitter=0.1),
            FeatureView(noise=0.1, mask_prob=0.2, jitter=0.1))
