"""A small VGG-style convolutional encoder for small images (Omniglot, digits).

CCN's Omniglot protocol (Hsu et al., ICLR 2018) trains its similarity network and its
clustering networks on 32x32 single-channel drawings; the authors use a VGG-style net of four
``conv -> BN -> ReLU -> max-pool`` blocks. This module ships that family at widths a CPU can
afford: pass an instance as the ``encoder`` of any estimator (it is copied, never modified).
"""

from torch import nn

from .mlp import MLP

__all__ = ["ConvNet"]


class ConvNet(nn.Module):
    """``len(widths)`` blocks of ``Conv3x3 -> BatchNorm2d -> ReLU -> MaxPool2``, then an MLP.

    After the blocks the feature map is flattened and ``Linear -> BatchNorm1d -> ReLU`` maps it
    to ``out_features``. Convolutions use Kaiming (fan-out) initialisation.

    Parameters
    ----------
    in_channels : int, default=3
        Channels of the input images (1 for Omniglot).
    widths : sequence of int, default=(16, 32, 64)
        Output channels of each block; each block halves the image side.
    out_features : int, default=128
        Width of the returned embedding.
    image_size : int, default=32
        Side of the (square) input image, to size the last linear layer.
    convs_per_block : int, default=1
        ``Conv3x3 -> BN -> ReLU`` layers before each max-pool (2 gives a VGG-style block).
    dropout : float, default=0.0
        Dropout after the final linear block.

    Attributes
    ----------
    out_features : int

    Examples
    --------
    >>> import torch
    >>> net = ConvNet(in_channels=1, widths=(32, 64, 64, 64), image_size=32)
    >>> net(torch.randn(2, 1, 32, 32)).shape
    torch.Size([2, 128])

    Notes
    -----
    With ``widths=(32, 64, 64, 64)`` a 32x32 drawing costs about 8 million multiply-adds
    forward (the authors' 64-128-256-256 VGG costs about 48 million), so one CPU core trains on
    a few hundred drawings per second.
    """

    def __init__(self, in_channels=3, widths=(16, 32, 64), out_features=128, image_size=32,
                 convs_per_block=1, dropout=0.0):
        super().__init__()
        if convs_per_block < 1:
            raise ValueError(f"convs_per_block must be >= 1, got {convs_per_block}.")
        layers, channels, side = [], int(in_channels), int(image_size)
        for width in widths:
            for _ in range(int(convs_per_block)):
                layers += [nn.Conv2d(channels, int(width), 3, padding=1, bias=False),
                           nn.BatchNorm2d(int(width)), nn.ReLU(inplace=True)]
                channels = int(width)
            layers.append(nn.MaxPool2d(2))
            side //= 2
        if side < 1:
            raise ValueError(f"image_size={image_size} is too small for {len(widths)} blocks.")
        self.features = nn.Sequential(*layers)
        self.head = MLP(channels * side * side, (int(out_features),), dropout=dropout)
        self.out_features = int(out_features)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, X):
        return self.head(self.features(X).flatten(1))
