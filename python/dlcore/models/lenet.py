"""LeNet-5 (LeCun et al., 1998) for 28x28 inputs."""
from .. import nn
from ._registry import register_model


class LeNet5(nn.Module):
    """Two 5x5 convolutions (6 and 16 maps, the first padded so 28x28 digits give the paper's
    32x32 geometry), each followed by 2x2 subsampling, then 120-84-num_classes fully connected
    layers: 61,706 parameters for 1 input channel and 10 classes.

    The paper's squashing function and trainable subsampling are replaced, as usual today, by
    ``activation`` ("relu" by default, or "tanh"/"sigmoid") and max pooling ("max", or "avg").
    """

    def __init__(self, num_classes=10, in_channels=1, activation="relu", pool="max"):
        super().__init__()
        acts = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
        pools = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}
        if activation not in acts:
            raise ValueError(f"LeNet5: activation must be one of {sorted(acts)}, got {activation!r}")
        if pool not in pools:
            raise ValueError(f"LeNet5: pool must be one of {sorted(pools)}, got {pool!r}")
        act, pool_cls = acts[activation], pools[pool]
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=2), act(), pool_cls(2),
            nn.Conv2d(6, 16, 5), act(), pool_cls(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), act(),
            nn.Linear(120, 84), act(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


@register_model("lenet5", "lenet")
def lenet5(num_classes=10, in_channels=1, **kwargs):
    """LeNet-5 for 1x28x28 images (see :class:`LeNet5`)."""
    return LeNet5(num_classes=num_classes, in_channels=in_channels, **kwargs)
