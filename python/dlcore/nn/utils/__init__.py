"""``dlcore.nn.utils``: gradient clipping and parameter/vector helpers."""
import os as _os

import dlcore

if _os.path.exists(_os.path.join(_os.path.dirname(__file__), "clip_grad.py")):
    from .clip_grad import clip_grad_norm_, clip_grad_value_  # noqa: F401


def parameters_to_vector(parameters):
    """All parameters flattened and concatenated into one 1-D tensor."""
    return dlcore.cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec, parameters):
    """Copies consecutive slices of the 1-D ``vec`` into ``parameters`` (in place, no grad)."""
    if vec.dim() != 1:
        raise ValueError(f"vector_to_parameters: expected a 1-D vector, got shape {list(vec.shape)}")
    offset = 0
    with dlcore.no_grad():
        for p in parameters:
            n = p.numel()
            p.copy_(vec[offset:offset + n].reshape(list(p.shape)))
            offset += n
