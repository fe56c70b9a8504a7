"""Flattening parameters into one vector and back (torch.nn.utils.convert_parameters)."""
import dlcore

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def parameters_to_vector(parameters):
    """All parameters flattened and concatenated into one 1-D tensor (differentiable)."""
    if isinstance(parameters, dlcore.Tensor):
        parameters = [parameters]
    parameters = list(parameters)
    device = parameters[0].device if parameters else None
    for p in parameters:
        if p.device != device:
            raise TypeError("Found two parameters on different devices, this is currently not supported.")
    return dlcore.cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec, parameters):
    """Copies consecutive slices of the 1-D ``vec`` into ``parameters`` (in place, no grad)."""
    if not isinstance(vec, dlcore.Tensor):
        raise TypeError(f"expected dlcore.Tensor, but got: {type(vec).__name__}")
    if vec.dim() != 1:
        raise ValueError(f"vector_to_parameters: expected a 1-D vector, got shape {list(vec.shape)}")
    if isinstance(parameters, dlcore.Tensor):
        parameters = [parameters]
    parameters = list(parameters)
    total = sum(p.numel() for p in parameters)
    if total != vec.numel():
        raise ValueError(f"vector_to_parameters: the vector has {vec.numel()} elements, the parameters {total}")
    offset = 0
    with dlcore.no_grad():
        for p in parameters:
            n = p.numel()
            p.copy_(vec[offset:offset + n].reshape(list(p.shape)))
            offset += n
