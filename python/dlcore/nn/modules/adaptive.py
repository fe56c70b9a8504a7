"""AdaptiveLogSoftmaxWithLoss (Grave et al., 2016, "Efficient softmax approximation for GPUs")."""
from collections import namedtuple

import dlcore

from .container import ModuleList, Sequential
from .linear import Linear
from ..module import Module

_ASMoutput = namedtuple("_ASMoutput", ["output", "loss"])


class AdaptiveLogSoftmaxWithLoss(Module):
    """Log-probabilities over ``n_classes`` classes split by ``cutoffs`` into a frequent shortlist
    and rarer clusters: ``head`` (Linear(in_features, shortlist + n_clusters)) scores the shortlist
    classes and one entry per cluster; cluster i's ``tail[i]`` (Linear(in_features, h_i) then
    Linear(h_i, cluster size), h_i = in_features // div_value^(i+1)) scores the classes in it. The
    log-probability of a tail class is its cluster's head log-probability plus its log-probability
    within the cluster.

    ``forward(input, target)`` returns ``(output, loss)``: the target classes' log-probabilities
    (N,) and their negated mean."""

    def __init__(self, in_features, n_classes, cutoffs, div_value=4.0, head_bias=False, device=None, dtype=None):
        super().__init__()
        cutoffs = list(cutoffs)
        if len(cutoffs) == 0:
            raise ValueError("AdaptiveLogSoftmaxWithLoss: cutoffs should be a sequence of length larger than 0")
        if (cutoffs != sorted(cutoffs) or min(cutoffs) <= 0 or max(cutoffs) > n_classes - 1
                or len(set(cutoffs)) != len(cutoffs) or any(int(c) != c for c in cutoffs)):
            raise ValueError("AdaptiveLogSoftmaxWithLoss: cutoffs should be a sequence of unique, positive integers "
                             f"sorted in an increasing order, where each value is between 1 and n_classes-1 "
                             f"(got {cutoffs} for n_classes={n_classes})")
        self.in_features = in_features
        self.n_classes = n_classes
        self.cutoffs = cutoffs + [n_classes]
        self.div_value = div_value
        self.head_bias = head_bias
        self.shortlist_size = self.cutoffs[0]
        self.n_clusters = len(self.cutoffs) - 1
        self.head_size = self.shortlist_size + self.n_clusters
        kw = dict(device=device, dtype=dtype)
        self.head = Linear(in_features, self.head_size, bias=head_bias, **kw)
        self.tail = ModuleList()
        for i in range(self.n_clusters):
            hsz = int(in_features // (div_value ** (i + 1)))
            osz = self.cutoffs[i + 1] - self.cutoffs[i]
            self.tail.append(Sequential(Linear(in_features, hsz, bias=False, **kw), Linear(hsz, osz, bias=False, **kw)))

    def reset_parameters(self):
        self.head.reset_parameters()
        for seq in self.tail:
            for layer in seq:
                layer.reset_parameters()

    def _check(self, input, op):
        if input.dim() not in (1, 2) or input.shape[-1] != self.in_features:
            raise ValueError(f"AdaptiveLogSoftmaxWithLoss.{op}: expected input of shape (N, {self.in_features}) or "
                             f"({self.in_features},), got {list(input.shape)}")

    def forward(self, input, target):
        self._check(input, "forward")
        batched = input.dim() == 2
        if target.dim() != input.dim() - 1 or (batched and target.shape[0] != input.shape[0]):
            raise ValueError(f"AdaptiveLogSoftmaxWithLoss: target {list(target.shape)} must be (N,) for input (N, "
                             f"{self.in_features}) or 0-D for an unbatched input, got input {list(input.shape)}")
        x = input if batched else input.unsqueeze(0)
        t = (target if batched else target.unsqueeze(0)).to(dlcore.int64)
        tn = t.cpu().numpy()
        if tn.size and (tn.min() < 0 or tn.max() >= self.n_classes):
            raise IndexError(f"AdaptiveLogSoftmaxWithLoss: target values should be in [0, {self.n_classes - 1}], "
                             f"got min {tn.min()} and max {tn.max()}")
        n = x.shape[0]
        head_index = tn.copy()
        output = dlcore.zeros(n, dtype=x.dtype, device=x.device)
        for i in range(self.n_clusters):
            low, high = self.cutoffs[i], self.cutoffs[i + 1]
            rows = ((tn >= low) & (tn < high)).nonzero()[0]
            if rows.size == 0:
                continue
            head_index[rows] = self.shortlist_size + i
            sel = dlcore.tensor(rows, device=x.device)
            cluster = dlcore.log_softmax(self.tail[i](x.index_select(0, sel)), 1)
            local = cluster.gather(1, (t.index_select(0, sel) - low).unsqueeze(1)).squeeze(1)
            output = output.scatter_add(0, sel, local)
        head = dlcore.log_softmax(self.head(x), 1)
        output = output + head.gather(1, dlcore.tensor(head_index, device=x.device).unsqueeze(1)).squeeze(1)
        loss = (-output).mean()
        return _ASMoutput(output if batched else output.squeeze(0), loss)

    def _full_log_prob(self, x, head):
        parts = [head[:, :self.shortlist_size]]
        for i in range(self.n_clusters):
            cluster = dlcore.log_softmax(self.tail[i](x), 1)
            parts.append(cluster + head[:, self.shortlist_size + i:self.shortlist_size + i + 1])
        return dlcore.cat(parts, 1)

    def log_prob(self, input):
        """log-probabilities of every class: (N, n_classes) (or (n_classes,) for an unbatched input)."""
        self._check(input, "log_prob")
        x = input if input.dim() == 2 else input.unsqueeze(0)
        out = self._full_log_prob(x, dlcore.log_softmax(self.head(x), 1))
        return out if input.dim() == 2 else out.squeeze(0)

    def predict(self, input):
        """The most likely class of each input row."""
        self._check(input, "predict")
        return self.log_prob(input).argmax(-1)
