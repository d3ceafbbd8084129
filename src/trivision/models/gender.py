"""The lab's face gender CNNs, layer for layer.

Each block is Conv3x3-ReLU, BatchNorm, Conv3x3-ReLU, BatchNorm, MaxPool2 ('same' padding, as in Keras);
then Flatten, Dropout and Dense(2). `gender-cnn` has 5 blocks (16..256), `gender-tiny` 3 (16..64):
on 100x100 input the tiny one has the lab's 91,410 parameters, 448 of them BatchNorm running statistics.
"""
from __future__ import annotations

from torch import nn

from trivision.models.registry import register_model


def conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(inplace=True),
        # Keras' eps; torch's faster running-statistics momentum (Keras' 0.99 = torch 0.01 needs
        # hundreds of steps before evaluation is meaningful, which short runs do not have)
        nn.BatchNorm2d(c_out, eps=1e-3, momentum=0.1),
        nn.Conv2d(c_out, c_out, 3, padding=1), nn.ReLU(inplace=True),
        nn.BatchNorm2d(c_out, eps=1e-3, momentum=0.1),
        nn.MaxPool2d(2),
    )


class GenderCNN(nn.Module):
    def __init__(self, widths=(16, 32, 64, 128, 256), image_size: int = 100, num_classes: int = 2,
                 dropout: float = 0.5):
        super().__init__()
        blocks, c_in, side = [], 3, image_size
        for w in widths:
            blocks.append(conv_block(c_in, w))
            c_in, side = w, side // 2
        self.features = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(c_in * side * side, num_classes))
        self.image_size = image_size

    def forward(self, x):
        return self.head(self.features(x))


@register_model("gender-cnn", task="gender", input_size=100)
def gender_cnn(image_size: int = 100, num_classes: int = 2, dropout: float = 0.5, **_):
    return GenderCNN((16, 32, 64, 128, 256), image_size, num_classes, dropout)


@register_model("gender-tiny", task="gender", input_size=100)
def gender_tiny(image_size: int = 100, num_classes: int = 2, dropout: float = 0.5, **_):
    return GenderCNN((16, 32, 64), image_size, num_classes, dropout)


@register_model("gender-mobilenet", task="gender", input_size=96)
def gender_mobilenet(num_classes: int = 2, dropout: float = 0.2, backbone: str | None = None,
                     pretrained: bool = True, **_):
    """Not a lab model: an ImageNet-pretrained backbone (mobilenet_v2 by default), global average pooling and
    a linear layer. Larger and slower than the lab's CNNs; the teacher they learn from with `distill`."""
    from trivision.models.backbones import PretrainedNet
    return PretrainedNet(backbone or "mobilenet_v2", lambda channels: nn.Sequential(
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(channels, num_classes)), pretrained)
