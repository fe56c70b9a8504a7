"""ChannelShuffle."""
from .. import functional as F
from ..module import Module


class ChannelShuffle(Module):
    """Shuffles the channels of [N, C, *] inputs across ``groups`` groups (``F.channel_shuffle``)."""

    def __init__(self, groups):
        super().__init__()
        if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
            raise ValueError(f"ChannelShuffle: groups must be a positive integer, got {groups!r}")
        self.groups = groups

    def forward(self, input):
        return F.channel_shuffle(input, self.groups)

    def extra_repr(self):
        return f"groups={self.groups}"
