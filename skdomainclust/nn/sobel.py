"""A fixed grey-level Sobel layer: the nuisance-removing image input of IIC and ACIDS.

Colour and flat intensity are what changes most between image domains (MNIST's white-on-black
strokes, MNIST-M's strokes blended into coloured photographs) and least what a digit *is*.
IIC (Ji et al., 2019) and ACIDS (Menapace et al., 2020) therefore feed their trunks two
channels: the horizontal and vertical Sobel gradients of the grey image. :class:`SobelFilter`
is that step as the first layer of a trunk, so the views (crops, colour jitter) still act on
the images the user passes and the filter runs on the device inside every forward pass.
"""

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SobelFilter"]

#: ITU-R BT.601 luma weights: the grey level of an RGB image.
_LUMA = (0.299, 0.587, 0.114)


class SobelFilter(nn.Module):
    """Grey level, then the two 3x3 Sobel gradients: ``(N, C, H, W) -> (N, 2, H, W)``.

    Three-channel input is reduced with the BT.601 luma weights, any other channel count by
    the channel mean. Borders are padded by replication, so a uniform background (MNIST-M's
    photographs do not end at zero) gives no gradient at the image edge. The layer has no
    parameters: its kernels are buffers that follow the module's device and dtype.

    Examples
    --------
    >>> import torch
    >>> step = torch.zeros(1, 3, 8, 8)
    >>> step[..., 4:] = 1.0                          # a vertical edge
    >>> out = SobelFilter()(step)
    >>> out.shape
    torch.Size([1, 2, 8, 8])
    >>> bool(out[0, 1].abs().max() == 0)             # no vertical gradient
    True
    >>> bool(SobelFilter()(torch.ones(1, 3, 8, 8)).abs().max() == 0)   # no edge, no signal
    True
    """

    out_channels = 2

    def __init__(self):
        super().__init__()
        dx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
        self.register_buffer("kernels", torch.stack([dx, dx.T]).unsqueeze(1))
        self.register_buffer("luma", torch.tensor(_LUMA))

    def forward(self, X):
        if X.dim() != 4:
            raise ValueError(f"SobelFilter expects (N, C, H, W) images, got shape "
                             f"{tuple(X.shape)}.")
        if X.shape[1] == 3:
            grey = torch.einsum("nchw,c->nhw", X, self.luma.to(X.dtype)).unsqueeze(1)
        else:
            grey = X.mean(dim=1, keepdim=True)
        padded = F.pad(grey, (1, 1, 1, 1), mode="replicate")
        return F.conv2d(padded, self.kernels.to(X.dtype))
