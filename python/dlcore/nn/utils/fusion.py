"""Folding an eval-mode BatchNorm into the preceding convolution or linear layer
(torch.nn.utils.fusion)."""
import copy

import dlcore

from ..parameter import Parameter

__all__ = ["fuse_conv_bn_eval", "fuse_conv_bn_weights", "fuse_linear_bn_eval", "fuse_linear_bn_weights"]


def fuse_conv_bn_weights(conv_w, conv_b, bn_rm, bn_rv, bn_eps, bn_w, bn_b, transpose=False):
    """(weight, bias) Parameters of one convolution equal to ``conv`` followed by the eval-mode
    BatchNorm with running mean/var ``bn_rm``/``bn_rv``; None affine terms mean 1 and 0."""
    dtype = conv_w.dtype
    with dlcore.no_grad():
        if conv_b is None:
            conv_b = dlcore.zeros_like(bn_rm)
        if bn_w is None:
            bn_w = dlcore.ones_like(bn_rm)
        if bn_b is None:
            bn_b = dlcore.zeros_like(bn_rm)
        scale = bn_w * (bn_rv + bn_eps).rsqrt()
        shape = [1, -1] if transpose else [-1, 1]
        shape += [1] * (conv_w.dim() - 2)
        fused_w = (conv_w * scale.to(dtype).reshape(shape)).to(dtype)
        fused_b = ((conv_b - bn_rm) * scale + bn_b).to(dtype)
    return Parameter(fused_w, conv_w.requires_grad), Parameter(fused_b, conv_b.requires_grad)


def fuse_conv_bn_eval(conv, bn, transpose=False):
    """A copy of the eval-mode ``conv`` with ``bn`` (eval mode, running statistics) folded in."""
    if conv.training or bn.training:
        raise AssertionError("Fusion only for eval!")
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("fuse_conv_bn_eval: the BatchNorm must track running statistics")
    fused = copy.deepcopy(conv)
    fused.weight, fused.bias = fuse_conv_bn_weights(fused.weight, fused.bias, bn.running_mean, bn.running_var,
                                                    bn.eps, bn.weight, bn.bias, transpose)
    return fused


def fuse_linear_bn_weights(linear_w, linear_b, bn_rm, bn_rv, bn_eps, bn_w, bn_b):
    """(weight, bias) Parameters of one linear layer equal to ``linear`` followed by the
    eval-mode BatchNorm1d; None affine terms mean 1 and 0."""
    with dlcore.no_grad():
        if linear_b is None:
            linear_b = dlcore.zeros_like(bn_rm)
        if bn_w is None:
            bn_w = dlcore.ones_like(bn_rm)
        if bn_b is None:
            bn_b = dlcore.zeros_like(bn_rm)
        scale = bn_w * (bn_rv + bn_eps).rsqrt()
        fused_w = linear_w * scale.unsqueeze(-1)
        fused_b = (linear_b - bn_rm) * scale + bn_b
    return Parameter(fused_w, linear_w.requires_grad), Parameter(fused_b, linear_b.requires_grad)


def fuse_linear_bn_eval(linear, bn):
    """A copy of the eval-mode ``linear`` with ``bn`` (eval mode, over its output features) folded in."""
    if linear.training or bn.training:
        raise AssertionError("Fusion only for eval!")
    if linear.out_features != bn.num_features and bn.num_features != 1:
        raise AssertionError("To fuse, linear.out_features must equal bn.num_features or bn.num_features must be 1")
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("fuse_linear_bn_eval: the BatchNorm must track running statistics")
    fused = copy.deepcopy(linear)
    fused.weight, fused.bias = fuse_linear_bn_weights(fused.weight, fused.bias, bn.running_mean, bn.running_var,
                                                      bn.eps, bn.weight, bn.bias)
    return fused
