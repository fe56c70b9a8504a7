"""Stochastic weight averaging and exponential moving averages of a model's parameters
(torch.optim.swa_utils): AveragedModel, the averaging functions, SWALR and update_bn."""
import copy
import math

from .._tensor import tensor
from ..autograd import no_grad
from ..nn.module import Module
from ..nn.modules.normalization import _BatchNorm
from .lr_scheduler import LRScheduler, _per_group
from .optimizer import _lerp_

__all__ = ["AveragedModel", "SWALR", "update_bn", "get_ema_multi_avg_fn", "get_swa_multi_avg_fn",
           "get_ema_avg_fn", "get_swa_avg_fn"]


def _check_decay(decay):
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"Invalid decay value {decay} provided. Please provide a value in [0,1] range.")


def get_ema_avg_fn(decay=0.999):
    """``avg_fn(averaged, current, num_averaged)`` of an exponential moving average:
    decay * averaged + (1 - decay) * current."""
    _check_decay(decay)

    def ema_update(ema_param, current_param, num_averaged):
        return decay * ema_param + (1 - decay) * current_param
    return ema_update


def get_swa_avg_fn():
    """``avg_fn(averaged, current, num_averaged)`` of the running mean:
    averaged + (current - averaged) / (num_averaged + 1)."""
    def swa_update(averaged_param, current_param, num_averaged):
        return averaged_param + (current_param - averaged_param) / (num_averaged + 1)
    return swa_update


def get_ema_multi_avg_fn(decay=0.999):
    """``multi_avg_fn(averaged_list, current_list, num_averaged)``: the exponential moving
    average, applied in place to every tensor of the list (as a lerp for floating point)."""
    ema = get_ema_avg_fn(decay)

    def ema_update(ema_param_list, current_param_list, num_averaged):
        with no_grad():
            for p_ema, p_model in zip(ema_param_list, current_param_list):
                if p_ema.is_floating_point():
                    _lerp_(p_ema, p_model, 1 - decay)
                else:
                    p_ema.copy_(ema(p_ema, p_model, num_averaged))
    return ema_update


def get_swa_multi_avg_fn():
    """``multi_avg_fn(averaged_list, current_list, num_averaged)``: the running mean, applied
    in place to every tensor of the list."""
    swa = get_swa_avg_fn()

    def swa_update(averaged_param_list, current_param_list, num_averaged):
        with no_grad():
            for p_avg, p_model in zip(averaged_param_list, current_param_list):
                p_avg.copy_(swa(p_avg, p_model, num_averaged))
    return swa_update


class AveragedModel(Module):
    """Keeps an average of ``model``'s parameters (and, with ``use_buffers``, its buffers) in a
    copy of the model, updated by ``update_parameters(model)``. The first update copies the
    parameters; later ones apply ``multi_avg_fn`` (to lists of same-dtype tensors) or
    ``avg_fn`` (per tensor); the default is the running mean (SWA). Without ``use_buffers``
    the copy's buffers follow the model's. ``n_averaged`` (a buffer) counts the updates."""

    def __init__(self, model, device=None, avg_fn=None, multi_avg_fn=None, use_buffers=False):
        super().__init__()
        if avg_fn is not None and multi_avg_fn is not None:
            raise ValueError("AveragedModel: only one of avg_fn and multi_avg_fn should be provided")
        if not isinstance(model, Module):
            raise TypeError(f"AveragedModel: model must be a dlcore.nn.Module, got {type(model).__name__}")
        self.module = copy.deepcopy(model)
        if device is not None:
            self.module = self.module.to(device)
        self.register_buffer("n_averaged", tensor(0, device=device))
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = use_buffers

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def _tensors(self, model):
        if self.use_buffers:
            return list(model.parameters()) + list(model.buffers())
        return list(model.parameters())

    def update_parameters(self, model):
        """Folds ``model``'s current parameters into the average."""
        mine, theirs = self._tensors(self.module), self._tensors(model)
        if len(mine) != len(theirs):
            raise ValueError(f"AveragedModel.update_parameters: the model has {len(theirs)} tensors to "
                             f"average, the averaged copy has {len(mine)}")
        with no_grad():
            averaged = [p.detach() for p in mine]
            current = [q.detach().to(device=p.device) for p, q in zip(averaged, theirs)]
            n = int(self.n_averaged.item())
            if n == 0:
                for p, q in zip(averaged, current):
                    p.copy_(q)
            elif self.avg_fn is not None:
                for p, q in zip(averaged, current):
                    p.copy_(self.avg_fn(p, q, self.n_averaged.to(device=p.device)))
            else:
                multi_avg_fn = self.multi_avg_fn or get_swa_multi_avg_fn()
                groups = {}
                for p, q in zip(averaged, current):
                    lists = groups.setdefault((str(p.device), str(p.dtype)), ([], []))
                    lists[0].append(p)
                    lists[1].append(q)
                for ps, qs in groups.values():
                    multi_avg_fn(ps, qs, self.n_averaged.to(device=ps[0].device))
            if not self.use_buffers:
                for b_avg, b_model in zip(self.module.buffers(), model.buffers()):
                    b_avg.copy_(b_model.detach().to(device=b_avg.device))
            self.n_averaged.add_(1)


class SWALR(LRScheduler):
    """Anneals each group's lr from its current value to ``swa_lr`` over ``anneal_epochs`` steps
    ("cos" or "linear"), then holds it there."""

    def __init__(self, optimizer, swa_lr, anneal_epochs=10, anneal_strategy="cos", last_epoch=-1):
        for lr, group in zip(_per_group("swa_lr", optimizer, swa_lr), optimizer.param_groups):
            group["swa_lr"] = lr
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must by one of 'cos' or 'linear', instead got {anneal_strategy}")
        if not isinstance(anneal_epochs, int) or isinstance(anneal_epochs, bool) or anneal_epochs < 0:
            raise ValueError(f"anneal_epochs must be equal or greater than 0, got {anneal_epochs}")
        self.anneal_strategy = anneal_strategy
        self.anneal_epochs = anneal_epochs
        super().__init__(optimizer, last_epoch)

    def _anneal(self, t):
        return (1 - math.cos(math.pi * t)) / 2 if self.anneal_strategy == "cos" else t

    def get_lr(self):
        # Note [SWALR recursion]: the lr before annealing is recovered from the group's current lr
        # and the previous step's mixing weight, so the schedule composes with other changes to lr.
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        prev_alpha = self._anneal(max(0, min(1, (step - 1) / max(1, self.anneal_epochs))))
        alpha = self._anneal(max(0, min(1, step / max(1, self.anneal_epochs))))
        lrs = []
        for group in self.optimizer.param_groups:
            swa_lr = group["swa_lr"]
            start = swa_lr if prev_alpha == 1 else (group["lr"] - prev_alpha * swa_lr) / (1 - prev_alpha)
            lrs.append(swa_lr * alpha + start * (1 - alpha))
        return lrs


def update_bn(loader, model, device=None):
    """Recomputes the running statistics of every BatchNorm layer of ``model`` as plain averages
    over one pass of ``loader`` (batches, or tuples/lists whose first item is the input), in
    training mode and without gradients; the layers' momentum and the model's mode are restored."""
    momenta = {}
    for m in model.modules():
        if isinstance(m, _BatchNorm):
            m.reset_running_stats()
            momenta[m] = m.momentum
    if not momenta:
        return
    was_training = model.training
    model.train()
    for m in momenta:
        m.momentum = None
    try:
        with no_grad():
            for batch in loader:
                if isinstance(batch, (list, tuple)):
                    batch = batch[0]
                if device is not None:
                    batch = batch.to(device)
                model(batch)
    finally:
        for m, momentum in momenta.items():
            m.momentum = momentum
        model.train(was_training)
