"""The Optimizer base class: parameter groups, per-parameter state and state_dict.

Subclasses implement ``_step_group(group)``, which gathers the parameters of one group that
have a gradient, with their state tensors, and makes ONE fused ``dlcore._C._<name>_step`` call
that updates all of them in place (Note [Optimizer update layout] in cpp/src/ops/optim.h).
"""
from collections import defaultdict

from .. import _C
from .._C import Tensor
from ..autograd import enable_grad, no_grad

__all__ = ["Optimizer", "required"]


class _RequiredParameter:
    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()


class Optimizer:
    """Base class of all optimizers (torch.optim.Optimizer's interface).

    ``params`` is an iterable of tensors, or of dicts each with a ``"params"`` entry and
    per-group options that override ``defaults``.
    """

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.state = defaultdict(dict)
        self.param_groups = []
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            f"but got {type(params).__name__}")
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {group[k]}" for k in sorted(group) if k != "params"]
        return "\n".join(lines) + "\n)"

    def add_param_group(self, param_group):
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering "
                            "of tensors in sets will change between runs. Please use a list instead.")
        else:
            params = list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        group["params"] = params
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            group.setdefault(name, default)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in params}) != len(params):
            raise ValueError("optimizer contains a parameter group with duplicate parameters")
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none=True):
        with no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    if set_to_none:
                        p.grad = None
                    else:
                        _C._foreach_scale_([p.grad], 0.0)

    def step(self, closure=None):
        """Updates every parameter that has a gradient; ``closure`` re-evaluates the loss."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                params = [p for p in group["params"] if p.grad is not None]
                if params:
                    self._step_group(group, params)
        return loss

    def _step_group(self, group, params):
        raise NotImplementedError

    # ---- state_dict: torch's layout ('state' keyed by parameter index) ----------------------
    def state_dict(self):
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        for group, saved in zip(self.param_groups, saved_groups):
            if len(group["params"]) != len(saved["params"]):
                raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                                 "optimizer's group")
        id_map = {}
        for group, saved in zip(self.param_groups, saved_groups):
            id_map.update(zip(saved["params"], group["params"]))
        state = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                p = id_map[k]
                state[p] = {name: _cast_like(val, p) for name, val in v.items()}
            else:
                state[k] = dict(v)
        new_groups = []
        for group, saved in zip(self.param_groups, saved_groups):
            new = {k: v for k, v in saved.items() if k != "params"}
            new["params"] = group["params"]
            new_groups.append(new)
        self.state = state
        self.param_groups = new_groups


def _cast_like(value, param):
    """A copy of a saved state tensor with the parameter's dtype; other values as they are."""
    if isinstance(value, Tensor):
        with no_grad():
            return _C.contiguous(_C.clone(value.to(param.dtype) if value.dtype != param.dtype else value))
    return value


# ---- helpers of the optimizers written with tensor ops (Adagrad, NAdam, Rprop, ...) -----------
#
# Note [Composite optimizer updates]
# SGD, Adam, AdamW and RMSprop run one fused C++ step per group; the less common algorithms are
# compositions of dlcore's in-place tensor ops under no_grad, in torch's single-tensor operation
# order, so float64 results agree with torch to a few ulps per step. Scalars (step counts, NAdam's
# mu_product, ASGD's eta and mu) are Python floats in the state, as ``step`` is for Adam; a 0-d
# tensor loaded from a torch state_dict is read with ``float()``.

def _check_range(name, value, low=0.0, high=None, label=None):
    """Raises torch's ``Invalid <label>: <value>`` unless low <= value (< high)."""
    if not low <= value or (high is not None and not value < high):
        raise ValueError(f"Invalid {label or name}: {value}")


def _reject_unsupported(name, capturable=False, differentiable=False):
    if capturable or differentiable:
        raise NotImplementedError(f"{name}: capturable and differentiable are not supported")


def _grad(p, maximize):
    return -p.grad if maximize else p.grad


def _lerp_(start, end, weight):
    """start <- start + weight * (end - start) in place, evaluated as torch's lerp does (from
    ``end`` when weight >= 0.5)."""
    if weight < 0.5:
        start.add_(end - start, alpha=weight)
    else:
        start.copy_(end - (end - start) * (1.0 - weight))
    return start


def _bump_step(state):
    state["step"] = float(state["step"]) + 1.0
    return state["step"]
