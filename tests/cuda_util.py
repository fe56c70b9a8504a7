"""Helpers shared by the CUDA test files: inputs in several memory layouts, and results back on
the host as numpy arrays."""
import numpy as np

import dlcore


def make(x, dtype, device, layout="contig"):
    """x as a tensor of `dtype` on `device`: contiguous, "transposed" (dims 0 and -1 swapped in
    memory) or "strided" (every other element of a wider tensor along the last dim)."""
    if layout == "contig" or x.ndim < 2:
        return dlcore.tensor(x, dtype=dtype, device=device)
    if layout == "transposed":
        return dlcore.tensor(np.ascontiguousarray(np.swapaxes(x, 0, -1)), dtype=dtype, device=device).transpose(0, -1)
    wide = dlcore.tensor(np.repeat(x, 2, axis=-1), dtype=dtype, device=device)
    return wide[(slice(None),) * (x.ndim - 1) + (slice(None, None, 2),)]


def host(t):
    """t (any device, 16-bit floats widened to float32) as a numpy array."""
    t = t.detach()
    if t.dtype in (dlcore.float16, dlcore.bfloat16):
        t = t.float()
    return t.cpu().numpy()
