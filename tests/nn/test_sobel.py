"""The fixed grey Sobel input of ACIDS' default image trunk (``skdomainclust.nn.sobel``)."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from skdomainclust.nn import SobelFilter


def _reference(images):
    """Slow reference: grey level per image, then scipy's Sobel along x and y, borders by
    replication (scipy's ``mode="nearest"``)."""
    if images.shape[1] == 3:
        grey = np.tensordot(images, [0.299, 0.587, 0.114], axes=([1], [0]))
    else:
        grey = images.mean(axis=1)
    return np.stack([np.stack([ndimage.sobel(g, axis=1, mode="nearest"),
                               ndimage.sobel(g, axis=0, mode="nearest")]) for g in grey])


@pytest.mark.parametrize("channels", [1, 2, 3])
def test_matches_scipy_sobel_on_the_grey_image(rng, channels):
    images = rng.random((4, channels, 9, 7))
    out = SobelFilter()(torch.as_tensor(images, dtype=torch.float64))
    # The luma weights are float32 buffers (rounded at 1e-8); the kernels are exact.
    np.testing.assert_allclose(out.numpy(), _reference(images), atol=1e-6)


def test_removes_a_uniform_change_of_brightness_and_keeps_the_strokes(rng):
    """The nuisance it removes: a constant added to every pixel (a lighter background)
    changes nothing; a stroke still gives a strong response."""
    images = torch.zeros(2, 3, 8, 8)
    images[:, :, 2:6, 3] = 1.0
    layer = SobelFilter()
    torch.testing.assert_close(layer(images + 0.4), layer(images))
    assert layer(images).abs().amax() >= 3.0


def test_has_no_parameters_and_follows_dtype():
    layer = SobelFilter().double()
    assert not list(layer.parameters())
    assert layer(torch.ones(1, 3, 5, 5, dtype=torch.float64)).dtype == torch.float64
    with pytest.raises(ValueError, match="N, C, H, W"):
        layer(torch.ones(3, 5, 5))
