import os
import sys

import numpy as np
import pytest

import dlcore

sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture(autouse=True)
def full_float32_on_cuda(request):
    """Tests marked ``cuda`` compare float32 results at float32 tolerances, so TF32 is off
    for them unless a test turns it on (convolutions allow it by default, as in PyTorch)."""
    if request.node.get_closest_marker("cuda") is None:
        yield
        return
    flags = dlcore.backends.cuda.matmul, dlcore.backends.cudnn
    saved = [f.allow_tf32 for f in flags]
    for f in flags:
        f.allow_tf32 = False
    yield
    for f, v in zip(flags, saved):
        f.allow_tf32 = v


@pytest.fixture
def rng():
    return np.random.default_rng(0)
