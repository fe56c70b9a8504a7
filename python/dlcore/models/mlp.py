"""A multi-layer perceptron."""
from .. import nn
from ._registry import register_model


class MLP(nn.Module):
    """Flattens its input, then Linear layers of widths ``hidden`` with ``activation`` (and dropout
    when ``dropout > 0``) between them, and a final Linear to ``num_classes``."""

    def __init__(self, in_features=784, hidden=(256, 128), num_classes=10, activation="relu", dropout=0.0):
        super().__init__()
        acts = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "silu": nn.SiLU}
        if activation not in acts:
            raise ValueError(f"MLP: activation must be one of {sorted(acts)}, got {activation!r}")
        layers = [nn.Flatten()]
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), acts[activation]()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x)


@register_model("mlp")
def mlp(num_classes=10, in_channels=1, image_size=28, hidden=(256, 128), **kwargs):
    """An MLP on flattened ``in_channels x image_size x image_size`` images (784-256-128-10 by
    default)."""
    return MLP(in_features=in_channels * image_size * image_size, hidden=hidden, num_classes=num_classes, **kwargs)
