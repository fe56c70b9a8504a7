"""Custom autograd: a straight-through quantiser and a fused swish written as
torch.autograd.Function, checked with gradcheck, a gradient hook that clips, anomaly
detection naming the op that made a NaN, and a small model trained through them."""
import json
import sys

import dlcore as torch
import dlcore.nn as nn


class RoundSTE(torch.autograd.Function):
    """Rounds forward; passes the gradient straight through where |x| <= limit."""

    @staticmethod
    def forward(ctx, x, limit):
        ctx.save_for_backward(x)
        ctx.limit = limit
        return torch.round(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * (x.abs() <= ctx.limit).to(grad.dtype), None


class Swish(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        s = torch.sigmoid(x)
        ctx.save_for_backward(x, s)
        return x * s

    @staticmethod
    def backward(ctx, grad):
        x, s = ctx.saved_tensors
        return grad * (s * (1 + x * (1 - s)))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 32)
        self.fc2 = nn.Linear(32, 1)

    def forward(self, x):
        h = Swish.apply(self.fc1(x))
        return self.fc2(RoundSTE.apply(h * 4, 3.0) / 4)


def main():
    torch.manual_seed(0)
    x = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(Swish.apply, (x,))

    y = RoundSTE.apply(x, 1.0)
    assert y.grad_fn is not None and "RoundSTE" in type(y.grad_fn).__name__ + str(y.grad_fn.name())
    y.sum().backward()
    assert torch.equal(x.grad, (x.abs() <= 1.0).to(x.dtype))

    w = torch.ones(4, requires_grad=True)
    handle = w.register_hook(lambda g: g.clamp(-0.5, 0.5))
    (w * torch.tensor([2.0, -3.0, 0.25, 1.0])).sum().backward()
    assert w.grad.tolist() == [0.5, -0.5, 0.25, 0.5]
    handle.remove()

    a = torch.tensor([0.0], requires_grad=True)
    try:
        with torch.autograd.detect_anomaly():
            torch.sqrt(a).mul(0.0).sum().backward()
        raise AssertionError("anomaly mode did not catch the NaN")
    except RuntimeError as e:
        assert "nan" in str(e).lower() and "sqrt" in str(e).lower(), str(e)

    inputs = torch.randn(256, 8)
    target = (inputs[:, :4].sum(dim=1, keepdim=True) > 0).float()
    model = Net()
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for step in range(150):
        opt.zero_grad()
        loss = nn.functional.binary_cross_entropy_with_logits(model(inputs), target)
        loss.backward()
        opt.step()
    acc = ((model(inputs) > 0).float() == target).float().mean().item()
    assert acc > 0.9, acc
    print("RESULT " + json.dumps({"train_accuracy_above_0.9": acc > 0.9}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
