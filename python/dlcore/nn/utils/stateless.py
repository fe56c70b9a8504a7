"""Calling a module with other tensors in place of its parameters and buffers
(torch.nn.utils.stateless / torch.func.functional_call)."""
from contextlib import contextmanager

import dlcore

__all__ = ["functional_call"]


def _owner(module, name):
    prefix, _, attr = name.rpartition(".")
    try:
        return module.get_submodule(prefix), attr
    except AttributeError as e:
        raise AttributeError(f"functional_call: no submodule for '{name}' ({e})") from None


@contextmanager
def _reparametrize(module, tensors, tie_weights, strict):
    """Within the context, ``module``'s tensor named ``name`` is ``tensors[name]``."""
    known = {}
    for kind in ("named_parameters", "named_buffers"):
        for name, t in getattr(module, kind)(remove_duplicate=False):
            known[name] = t
    if strict:
        missing = sorted(set(known) - set(tensors))
        unexpected = sorted(set(tensors) - set(known))
        if missing or unexpected:
            raise RuntimeError("Error(s) in reparametrizing for {}:\n\t{}".format(
                type(module).__name__, "\n\t".join(
                    ([f"Missing key(s): {', '.join(map(repr, missing))}."] if missing else [])
                    + ([f"Unexpected key(s): {', '.join(map(repr, unexpected))}."] if unexpected else []))))
    tensors = dict(tensors)
    if tie_weights:
        # a tensor shared under several names takes the value given for any of them
        by_id = {}
        for name, t in known.items():
            by_id.setdefault(id(t), []).append(name)
        for names in by_id.values():
            given = [n for n in names if n in tensors]
            if given:
                values = {id(tensors[n]) for n in given}
                if len(values) > 1:
                    raise ValueError(f"functional_call got multiple values for keys {given}, which are tied. "
                                     "Consider using tie_weights=False")
                for n in names:
                    tensors.setdefault(n, tensors[given[0]])
    saved = []
    try:
        for name, value in tensors.items():
            owner, attr = _owner(module, name)
            for table in (owner._parameters, owner._buffers):
                if attr in table:
                    saved.append((table, attr, table[attr]))
                    table[attr] = value
                    break
            else:
                saved.append((owner.__dict__, attr, owner.__dict__.get(attr, _absent)))
                owner.__dict__[attr] = value
        yield
    finally:
        for table, attr, old in reversed(saved):
            if old is _absent:
                del table[attr]
            else:
                table[attr] = old


_absent = object()


def functional_call(module, parameter_and_buffer_dicts, args=None, kwargs=None, *, tie_weights=True, strict=False):
    """``module(*args, **kwargs)`` with the tensors in ``parameter_and_buffer_dicts`` (a dict from
    qualified names such as "0.weight" to tensors, or a sequence of such dicts with distinct keys)
    used in place of the module's own; gradients flow to the given tensors. Names the module
    does not have are set as attributes for the call. With ``strict`` the names must match the
    module's parameters and buffers exactly. The module is left unchanged."""
    if isinstance(parameter_and_buffer_dicts, dict):
        tensors = parameter_and_buffer_dicts
    else:
        tensors = {}
        for d in parameter_and_buffer_dicts:
            repeated = set(d) & set(tensors)
            if repeated:
                raise ValueError(f"{sorted(repeated)} appeared in multiple dictionaries; behavior of functional call "
                                 "is ambiguous")
            tensors.update(d)
    for name, value in tensors.items():
        if not isinstance(value, dlcore.Tensor):
            raise TypeError(f"functional_call: the value for '{name}' must be a Tensor, got {type(value).__name__}")
    if args is None:
        args = ()
    elif not isinstance(args, tuple):
        args = (args,)
    with _reparametrize(module, tensors, tie_weights, strict):
        return module(*args, **(kwargs or {}))
