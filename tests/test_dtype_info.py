"""dlcore.finfo / dlcore.iinfo against torch.finfo / torch.iinfo."""
import pytest

import dlcore

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("name", ["float16", "bfloat16", "float32", "float64"])
def test_finfo_matches_torch(name):
    ours, theirs = dlcore.finfo(getattr(dlcore, name)), torch.finfo(getattr(torch, name))
    for attr in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution", "dtype"):
        assert getattr(ours, attr) == getattr(theirs, attr), attr
    assert repr(ours) == repr(theirs)
    assert type(ours.eps) is float and type(ours.bits) is int


@pytest.mark.parametrize("name", ["int32", "int64"])
def test_iinfo_matches_torch(name):
    ours, theirs = dlcore.iinfo(getattr(dlcore, name)), torch.iinfo(getattr(torch, name))
    for attr in ("bits", "min", "max", "dtype"):
        assert getattr(ours, attr) == getattr(theirs, attr), attr
    assert repr(ours) == repr(theirs)


def test_defaults_equality_and_errors():
    assert dlcore.finfo() == dlcore.finfo(dlcore.float32) != dlcore.finfo(dlcore.float64)
    assert dlcore.iinfo(dlcore.int64) == dlcore.iinfo(dlcore.long)
    with pytest.raises(TypeError, match="finfo.*floating point"):
        dlcore.finfo(dlcore.int64)
    with pytest.raises(TypeError, match="iinfo.*integer"):
        dlcore.iinfo(dlcore.float32)
    with pytest.raises(TypeError, match="iinfo.*integer"):
        dlcore.iinfo(dlcore.bool)
    with pytest.raises(TypeError, match="expected a dlcore.dtype"):
        dlcore.finfo("float32")
