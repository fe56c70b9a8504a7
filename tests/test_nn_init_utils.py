"""dlcore.nn.init (orthogonal_, dirac_, sparse_, trunc_normal_, aliases) and dlcore.nn.utils (rnn
packing, weight/spectral norm, parametrize, functional_call, fusion, clipping) against torch."""
import copy
import math

import numpy as np
import pytest

import dlcore
from dlcore import nn
from dlcore.nn import init
from dlcore.nn.utils import parametrize
from dlcore.nn.utils import rnn as rnn_utils

torch = pytest.importorskip("torch")


def to_np(t):
    return t.detach().numpy()


def copy_params(ours, theirs):
    """Gives ``ours`` (a dlcore module) the parameter and buffer values of ``theirs`` (torch)."""
    theirs_sd = theirs.state_dict()
    with dlcore.no_grad():
        for name, t in ours.state_dict(keep_vars=True).items():
            t.copy_(dlcore.tensor(theirs_sd[name].detach().numpy()))


# ---- nn.init ------------------------------------------------------------------------------------

@pytest.mark.parametrize("nonlinearity,param", [("linear", None), ("conv1d", None), ("conv_transpose3d", None),
                                                ("sigmoid", None), ("tanh", None), ("relu", None),
                                                ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", 3),
                                                ("selu", None)])
def test_calculate_gain(nonlinearity, param):
    assert init.calculate_gain(nonlinearity, param) == torch.nn.init.calculate_gain(nonlinearity, param)


def test_calculate_gain_errors():
    with pytest.raises(ValueError, match="unsupported nonlinearity"):
        init.calculate_gain("softmax")
    with pytest.raises(ValueError, match="negative_slope"):
        init.calculate_gain("leaky_relu", True)


@pytest.mark.parametrize("shape,gain", [((4, 6), 1.0), ((6, 4), 2.0), ((6, 2, 3), 1.0), ((5, 5), 0.5)])
def test_orthogonal_matches_qr_of_the_normal_draw(shape, gain):
    # orthogonal_ draws one (rows, cols) standard normal matrix; torch's recipe on that draw gives
    # the same matrix (same LAPACK QR, same sign fix)
    dlcore.manual_seed(3)
    rows = shape[0]
    cols = int(np.prod(shape[1:]))
    draw = torch.tensor(dlcore.randn(rows, cols).numpy()).double()
    flat = draw.t() if rows < cols else draw
    q, r = torch.linalg.qr(flat)
    q = q * torch.diag(r).sign()
    expected = (q.t() if rows < cols else q) * gain
    dlcore.manual_seed(3)
    w = init.orthogonal_(dlcore.empty(*shape), gain=gain)
    np.testing.assert_allclose(w.numpy().reshape(rows, cols), expected.numpy(), rtol=1e-5, atol=1e-6)
    m = w.numpy().reshape(rows, cols).astype(np.float64)
    gram = m @ m.T if rows <= cols else m.T @ m
    np.testing.assert_allclose(gram, gain ** 2 * np.eye(min(rows, cols)), atol=1e-5)


def test_orthogonal_errors_and_empty():
    with pytest.raises(ValueError, match="2 or more dimensions"):
        init.orthogonal_(dlcore.empty(3))
    assert init.orthogonal_(dlcore.empty(0, 3)).shape == (0, 3)


@pytest.mark.parametrize("shape,groups", [((4, 3, 5), 1), ((6, 4, 3, 3), 2), ((2, 5, 3, 2, 3), 1), ((6, 2, 3), 3)])
def test_dirac_matches_torch(shape, groups):
    ours = init.dirac_(dlcore.randn(*shape), groups)
    theirs = torch.nn.init.dirac_(torch.randn(*shape), groups)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_dirac_eye_errors():
    with pytest.raises(ValueError, match="3, 4, or 5 dimensions"):
        init.dirac_(dlcore.empty(3, 3))
    with pytest.raises(ValueError, match="divisible by groups"):
        init.dirac_(dlcore.empty(5, 2, 3), 2)
    with pytest.raises(ValueError, match="2 dimensions"):
        init.eye_(dlcore.empty(2, 2, 2))
    np.testing.assert_array_equal(init.eye_(dlcore.empty(3, 5)).numpy(), np.eye(3, 5))


@pytest.mark.parametrize("sparsity", [0.0, 0.1, 0.5, 1.0])
def test_sparse(sparsity):
    w = init.sparse_(dlcore.empty(10, 7, dtype=dlcore.float64), sparsity, std=2.0)
    zeros = (w.numpy() == 0).sum(0)
    np.testing.assert_array_equal(zeros, [math.ceil(sparsity * 10)] * 7)
    if sparsity < 1:
        assert 0.5 < w.numpy()[w.numpy() != 0].std() < 4
    with pytest.raises(ValueError, match="2 dimensions"):
        init.sparse_(dlcore.empty(3), 0.1)


@pytest.mark.parametrize("mean,std,a,b", [(0.0, 1.0, -2.0, 2.0), (0.0, 1.0, -0.3, 0.2), (1.0, 2.0, 2.0, 6.0),
                                          (0.0, 1.0, 2.0, 3.0), (0.5, 0.1, 0.0, 1.0)])
def test_trunc_normal_distribution(mean, std, a, b):
    # moments of the truncated normal against scipy's closed form
    stats = pytest.importorskip("scipy.stats")
    dlcore.manual_seed(0)
    w = init.trunc_normal_(dlcore.empty(200000, dtype=dlcore.float64), mean, std, a, b).numpy()
    assert w.min() >= a and w.max() <= b
    dist = stats.truncnorm((a - mean) / std, (b - mean) / std, loc=mean, scale=std)
    # 200000 draws: the standard error of the mean is std/450; 5 standard errors
    assert abs(w.mean() - dist.mean()) < 5 * dist.std() / math.sqrt(w.size)
    assert abs(w.std() - dist.std()) < 0.02 * dist.std()


def test_trunc_normal_errors_and_warning():
    with pytest.raises(ValueError, match="a <= b"):
        init.trunc_normal_(dlcore.empty(3), a=1.0, b=0.0)
    with pytest.warns(UserWarning, match="more than 2 std"):
        init.trunc_normal_(dlcore.empty(3), mean=10.0, std=1.0, a=-1.0, b=1.0)


@pytest.mark.parametrize("name,args", [("uniform", (-1.0, 1.0)), ("normal", (0.0, 1.0)), ("constant", (0.5,)),
                                       ("xavier_uniform", ()), ("xavier_normal", ()), ("kaiming_uniform", ()),
                                       ("kaiming_normal", ()), ("orthogonal", ()), ("eye", ()), ("sparse", (0.5,))])
def test_deprecated_aliases_warn_and_fill(name, args):
    w = dlcore.zeros(4, 6)
    with pytest.warns(FutureWarning, match=f"nn.init.{name}_"):
        out = getattr(init, name)(w, *args)
    assert out is w and getattr(init, name).__name__ == name
    if name != "sparse":
        assert np.any(w.numpy() != 0)
    with pytest.warns(FutureWarning, match="nn.init.dirac_"):
        init.dirac(dlcore.zeros(2, 2, 3))


@pytest.mark.parametrize("fn,args", [("uniform_", ()), ("normal_", ()), ("trunc_normal_", ()),
                                     ("xavier_uniform_", ()), ("kaiming_normal_", ()), ("orthogonal_", ()),
                                     ("sparse_", (0.5,))])
def test_generator_argument(fn, args):
    if not hasattr(dlcore, "Generator"):
        pytest.skip("dlcore.Generator is not available")
    a = getattr(init, fn)(dlcore.empty(5, 4), *args, generator=dlcore.Generator().manual_seed(5)).numpy()
    dlcore.manual_seed(7)  # the global generator does not matter
    b = getattr(init, fn)(dlcore.empty(5, 4), *args, generator=dlcore.Generator().manual_seed(5)).numpy()
    c = getattr(init, fn)(dlcore.empty(5, 4), *args, generator=dlcore.Generator().manual_seed(6)).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


# ---- rnn packing --------------------------------------------------------------------------------

LENGTHS = [2, 5, 3, 5, 1]


def _sequences(rng, lengths=LENGTHS, trailing=(3,)):
    arrays = [rng.standard_normal((n,) + trailing) for n in lengths]
    return ([dlcore.tensor(a, requires_grad=True) for a in arrays],
            [torch.tensor(a, requires_grad=True) for a in arrays])


def _backward_both(ours_out, theirs_out, rng, ours_in, theirs_in):
    w = rng.standard_normal(tuple(theirs_out.shape))
    (ours_out * dlcore.tensor(w)).sum().backward()
    (theirs_out * torch.tensor(w)).sum().backward()
    for p, q in zip(ours_in, theirs_in):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_pad_sequence(batch_first, padding_side, rng):
    ours, theirs = _sequences(rng, trailing=(2, 3))
    a = rnn_utils.pad_sequence(ours, batch_first=batch_first, padding_value=-1.5, padding_side=padding_side)
    b = torch.nn.utils.rnn.pad_sequence(theirs, batch_first=batch_first, padding_value=-1.5,
                                        padding_side=padding_side)
    np.testing.assert_array_equal(to_np(a), to_np(b))
    _backward_both(a, b, rng, ours, theirs)


def test_pad_sequence_errors():
    with pytest.raises(RuntimeError, match="empty list"):
        rnn_utils.pad_sequence([])
    with pytest.raises(ValueError, match="trailing dimensions"):
        rnn_utils.pad_sequence([dlcore.zeros(2, 3), dlcore.zeros(2, 4)])
    with pytest.raises(ValueError, match="padding_side"):
        rnn_utils.pad_sequence([dlcore.zeros(2, 3)], padding_side="top")


@pytest.mark.parametrize("enforce_sorted", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_pack_pad_round_trip(enforce_sorted, batch_first, rng):
    lengths = sorted(LENGTHS, reverse=True) if enforce_sorted else LENGTHS
    ours, theirs = _sequences(rng, lengths)
    padded_o = rnn_utils.pad_sequence(ours, batch_first=batch_first)
    padded_t = torch.nn.utils.rnn.pad_sequence(theirs, batch_first=batch_first)
    p = rnn_utils.pack_padded_sequence(padded_o, dlcore.tensor(lengths), batch_first=batch_first,
                                       enforce_sorted=enforce_sorted)
    q = torch.nn.utils.rnn.pack_padded_sequence(padded_t, torch.tensor(lengths), batch_first=batch_first,
                                                enforce_sorted=enforce_sorted)
    assert isinstance(p, rnn_utils.PackedSequence) and isinstance(p, tuple)
    np.testing.assert_array_equal(to_np(p.data), to_np(q.data))
    np.testing.assert_array_equal(p.batch_sizes.numpy(), q.batch_sizes.numpy())
    assert p.batch_sizes.dtype == dlcore.int64
    for ours_idx, theirs_idx in ((p.sorted_indices, q.sorted_indices), (p.unsorted_indices, q.unsorted_indices)):
        assert (ours_idx is None) == (theirs_idx is None)
        if ours_idx is not None:
            np.testing.assert_array_equal(ours_idx.numpy(), theirs_idx.numpy())
    a, la = rnn_utils.pad_packed_sequence(p, batch_first=batch_first, padding_value=7.0, total_length=6)
    b, lb = torch.nn.utils.rnn.pad_packed_sequence(q, batch_first=batch_first, padding_value=7.0, total_length=6)
    np.testing.assert_array_equal(to_np(a), to_np(b))
    np.testing.assert_array_equal(la.numpy(), lb.numpy())
    _backward_both(a, b, rng, ours, theirs)


def test_pack_sequence_with_ties_and_unpack(rng):
    lengths = [3, 1, 3, 2, 1, 3]  # ties: the sort must be stable, as torch's
    ours, theirs = _sequences(rng, lengths, trailing=())
    p = rnn_utils.pack_sequence(ours, enforce_sorted=False)
    q = torch.nn.utils.rnn.pack_sequence(theirs, enforce_sorted=False)
    np.testing.assert_array_equal(p.sorted_indices.numpy(), q.sorted_indices.numpy())
    np.testing.assert_array_equal(to_np(p.data), to_np(q.data))
    for x, y in zip(rnn_utils.unpack_sequence(p), torch.nn.utils.rnn.unpack_sequence(q)):
        np.testing.assert_array_equal(to_np(x), to_np(y))
    padded = rnn_utils.pad_sequence(ours, batch_first=True)
    for x, y in zip(rnn_utils.unpad_sequence(padded, dlcore.tensor(lengths), batch_first=True), ours):
        np.testing.assert_array_equal(to_np(x), to_np(y))


def test_packing_errors():
    x = dlcore.zeros(4, 3, 2)
    with pytest.raises(RuntimeError, match="sorted in decreasing order"):
        rnn_utils.pack_padded_sequence(x, [2, 4, 1])
    with pytest.raises(RuntimeError, match="greater than 0"):
        rnn_utils.pack_padded_sequence(x, [4, 2, 0])
    with pytest.raises(ValueError, match="exceeds"):
        rnn_utils.pack_padded_sequence(x, [5, 2, 1])
    with pytest.raises(ValueError, match="expected 3 lengths"):
        rnn_utils.pack_padded_sequence(x, [4, 2])
    p = rnn_utils.pack_padded_sequence(x, [4, 2, 1])
    with pytest.raises(ValueError, match="total_length"):
        rnn_utils.pad_packed_sequence(p, total_length=3)
    with pytest.raises(TypeError, match="PackedSequence"):
        rnn_utils.pad_packed_sequence(x)


def test_packed_sequence_conversions():
    p = rnn_utils.pack_sequence([dlcore.ones(3, 2), dlcore.ones(1, 2)])
    assert p.double().data.dtype == dlcore.float64
    assert p.to(dlcore.float64).batch_sizes is p.batch_sizes
    assert not p.is_cuda
    inv = rnn_utils.invert_permutation(dlcore.tensor([2, 0, 1]))
    np.testing.assert_array_equal(inv.numpy(), [1, 2, 0])


# ---- weight_norm / spectral_norm ----------------------------------------------------------------

@pytest.mark.parametrize("dim", [0, 1, -2, None, -1])  # -1 is None (one norm over the whole weight), as in torch
def test_weight_norm_legacy_matches_torch(dim, rng):
    ours = nn.Conv2d(3, 4, 3).double()
    theirs = torch.nn.Conv2d(3, 4, 3).double()
    copy_params(ours, theirs)
    with pytest.warns(FutureWarning, match="parametrizations.weight_norm"):
        nn.utils.weight_norm(ours, dim=dim)
    with pytest.warns(FutureWarning, match="parametrizations.weight_norm"):
        torch.nn.utils.weight_norm(theirs, dim=dim)
    assert sorted(ours.state_dict()) == sorted(theirs.state_dict())
    for k, v in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[k].numpy(), v.numpy(), rtol=1e-12, err_msg=k)
    x = rng.standard_normal((2, 3, 5, 5))
    with dlcore.no_grad(), torch.no_grad():  # change g, v: the hook recomputes the weight
        ours.weight_g.mul_(1.5)
        theirs.weight_g.mul_(1.5)
    a, b = ours(dlcore.tensor(x)), theirs(torch.tensor(x))
    np.testing.assert_allclose(to_np(a), to_np(b), rtol=1e-11, atol=1e-12)
    a.sum().backward()
    b.sum().backward()
    for name in ("weight_g", "weight_v", "bias"):
        np.testing.assert_allclose(getattr(ours, name).grad.numpy(), getattr(theirs, name).grad.numpy(),
                                   rtol=1e-10, atol=1e-12, err_msg=name)
    nn.utils.remove_weight_norm(ours)
    torch.nn.utils.remove_weight_norm(theirs)
    assert sorted(ours.state_dict()) == sorted(theirs.state_dict())
    assert isinstance(ours.weight, nn.Parameter)
    np.testing.assert_allclose(to_np(ours.weight), to_np(theirs.weight), rtol=1e-12)


@pytest.mark.filterwarnings("ignore:.*parametrizations.weight_norm:FutureWarning")
def test_weight_norm_errors():
    m = nn.Linear(3, 2)
    with pytest.raises(ValueError, match="not found"):
        nn.utils.remove_weight_norm(m)
    nn.utils.weight_norm(m)
    with pytest.raises(RuntimeError, match="two weight_norm hooks"):
        nn.utils.weight_norm(m)
    with pytest.raises(ValueError, match="no parameter named 'scale'"):
        nn.utils.weight_norm(nn.Linear(3, 2), name="scale")
    with pytest.raises(IndexError, match="out of range"):
        nn.utils.weight_norm(nn.Linear(3, 2), dim=2)


@pytest.mark.parametrize("module,dim", [("Linear", None), ("Conv2d", None), ("ConvTranspose2d", None),
                                        ("Conv2d", 1)])
def test_spectral_norm_legacy_matches_torch(module, dim, rng):
    args = (3, 4) if module == "Linear" else (3, 4, 3)
    ours = getattr(nn, module)(*args).double()
    theirs = getattr(torch.nn, module)(*args).double()
    copy_params(ours, theirs)
    nn.utils.spectral_norm(ours, n_power_iterations=2, dim=dim)
    torch.nn.utils.spectral_norm(theirs, n_power_iterations=2, dim=dim)
    assert sorted(ours.state_dict()) == sorted(theirs.state_dict())
    assert sorted(ours.state_dict()) == ["bias", "weight_orig", "weight_u", "weight_v"]
    copy_params(ours, theirs)  # the same random u, v
    x = rng.standard_normal((2, 3) if module == "Linear" else (2, 3, 6, 6))
    for training in (True, True, False):
        ours.train(training)
        theirs.train(training)
        a, b = ours(dlcore.tensor(x)), theirs(torch.tensor(x))
        np.testing.assert_allclose(to_np(a), to_np(b), rtol=1e-10, atol=1e-12)
        for name in ("weight_u", "weight_v"):
            np.testing.assert_allclose(getattr(ours, name).numpy(), getattr(theirs, name).numpy(), rtol=1e-10,
                                       atol=1e-12)
    ours.train()
    theirs.train()
    a, b = ours(dlcore.tensor(x)), theirs(torch.tensor(x))
    a.sum().backward()
    b.sum().backward()
    np.testing.assert_allclose(ours.weight_orig.grad.numpy(), theirs.weight_orig.grad.numpy(), rtol=1e-9,
                               atol=1e-11)
    nn.utils.remove_spectral_norm(ours)
    torch.nn.utils.remove_spectral_norm(theirs)
    assert sorted(ours.state_dict()) == sorted(theirs.state_dict())
    np.testing.assert_allclose(to_np(ours.weight), to_np(theirs.weight), rtol=1e-10)


def test_spectral_norm_bounds_the_largest_singular_value():
    m = nn.utils.spectral_norm(nn.Linear(6, 5), n_power_iterations=30)
    m(dlcore.randn(2, 6))
    assert abs(np.linalg.svd(to_np(m.weight).astype(np.float64), compute_uv=False)[0] - 1) < 1e-3
    with pytest.raises(ValueError, match="n_power_iterations"):
        nn.utils.spectral_norm(nn.Linear(2, 2), n_power_iterations=0)
    with pytest.raises(ValueError, match="not found"):
        nn.utils.remove_spectral_norm(nn.Linear(2, 2))


# ---- parametrize --------------------------------------------------------------------------------

class Symmetric(nn.Module):
    def forward(self, x):
        return x.triu() + x.triu(1).transpose(0, 1)

    def right_inverse(self, a):
        return a.triu()


class Scale(nn.Module):
    def __init__(self, s):
        super().__init__()
        self.s = s

    def forward(self, x):
        return x * self.s

    def right_inverse(self, y):
        return y / self.s


def test_register_parametrization_basics(rng):
    m = nn.Linear(4, 4).double()
    weight = m.weight
    w0 = to_np(weight).copy()
    parametrize.register_parametrization(m, "weight", Symmetric())
    assert parametrize.is_parametrized(m) and parametrize.is_parametrized(m, "weight")
    assert not parametrize.is_parametrized(m, "bias")
    assert type(m).__name__ == "ParametrizedLinear" and parametrize.type_before_parametrizations(m) is nn.Linear
    assert isinstance(m, nn.Linear)
    # the original tensor object is kept (optimizers still hold it), with right_inverse applied
    assert m.parametrizations.weight.original is weight
    np.testing.assert_array_equal(to_np(weight), np.triu(w0))
    w = to_np(m.weight)
    np.testing.assert_array_equal(w, w.T)
    assert sorted(m.state_dict()) == ["bias", "parametrizations.weight.original"]
    assert "weight" not in dict(m.named_parameters())
    # gradients reach the original
    x = dlcore.tensor(rng.standard_normal((3, 4)))
    m(x).sum().backward()
    assert weight.grad is not None and np.any(weight.grad.numpy() != 0)
    # assignment goes through right_inverse
    target = rng.standard_normal((4, 4))
    target = target + target.T
    m.weight = dlcore.tensor(target)
    np.testing.assert_allclose(to_np(m.weight), target, rtol=1e-15)
    # a second parametrization on the same tensor applies after the first
    parametrize.register_parametrization(m, "weight", Scale(2.0))
    np.testing.assert_allclose(to_np(m.weight), 2 * target, rtol=1e-15)
    assert len(m.parametrizations.weight) == 2
    parametrize.remove_parametrizations(m, "weight")
    assert type(m) is nn.Linear and not parametrize.is_parametrized(m)
    assert m.weight is weight and isinstance(m.weight, nn.Parameter)
    np.testing.assert_allclose(to_np(m.weight), 2 * target, rtol=1e-15)
    assert sorted(m.state_dict()) == ["bias", "weight"]


def test_parametrization_matches_torch_state_dict_and_values(rng):
    class TorchSymmetric(torch.nn.Module):
        def forward(self, x):
            return x.triu() + x.triu(1).transpose(0, 1)

        def right_inverse(self, a):
            return a.triu()
    ours, theirs = nn.Linear(4, 4).double(), torch.nn.Linear(4, 4).double()
    copy_params(ours, theirs)
    parametrize.register_parametrization(ours, "weight", Symmetric())
    torch.nn.utils.parametrize.register_parametrization(theirs, "weight", TorchSymmetric())
    assert list(ours.state_dict()) == list(theirs.state_dict())
    np.testing.assert_array_equal(to_np(ours.weight), to_np(theirs.weight))
    parametrize.remove_parametrizations(ours, "weight", leave_parametrized=False)
    torch.nn.utils.parametrize.remove_parametrizations(theirs, "weight", leave_parametrized=False)
    np.testing.assert_array_equal(to_np(ours.weight), to_np(theirs.weight))


def test_parametrized_module_deepcopy_and_averaged_model(rng):
    m = nn.utils.parametrizations.spectral_norm(nn.Linear(4, 3).double())
    c = copy.deepcopy(m)
    assert type(c) is not type(m) and parametrize.type_before_parametrizations(c) is nn.Linear
    assert c.parametrizations.weight.original is not m.parametrizations.weight.original
    m.eval()
    c.eval()
    np.testing.assert_array_equal(to_np(c.weight), to_np(m.weight))
    parametrize.remove_parametrizations(c, "weight")
    assert type(c) is nn.Linear and parametrize.is_parametrized(m, "weight")
    np.testing.assert_array_equal(to_np(c.weight), to_np(m.weight))
    avg = dlcore.optim.swa_utils.AveragedModel(m)
    avg.update_parameters(m)
    x = dlcore.tensor(rng.standard_normal((2, 4)))
    np.testing.assert_allclose(to_np(avg(x)), to_np(m(x)), rtol=1e-12)


def test_parametrize_cached_and_buffers():
    calls = []

    class Counting(nn.Module):
        def forward(self, x):
            calls.append(1)
            return x * 2
    m = nn.BatchNorm1d(3)
    parametrize.register_parametrization(m, "running_mean", Counting(), unsafe=True)
    assert "parametrizations.running_mean.original" in m.state_dict()
    calls.clear()
    with parametrize.cached():
        a = m.running_mean
        b = m.running_mean
    assert a is b and len(calls) == 1
    m.running_mean
    assert len(calls) == 2


def test_parametrize_errors():
    m = nn.Linear(3, 3)

    class Shrink(nn.Module):
        def forward(self, x):
            return x[:2]
    with pytest.raises(ValueError, match="may not change the shape"):
        parametrize.register_parametrization(m, "weight", Shrink())
    assert not parametrize.is_parametrized(m)
    with pytest.raises(ValueError, match="does not have a parameter, a buffer"):
        parametrize.register_parametrization(m, "scale", Symmetric())
    with pytest.raises(ValueError, match="does not have a parametrization"):
        parametrize.remove_parametrizations(m, "weight")
    with pytest.raises(TypeError, match="Module"):
        parametrize.register_parametrization(m, "weight", lambda x: x)

    class NoInverse(nn.Module):
        def forward(self, x):
            return x
    parametrize.register_parametrization(m, "weight", NoInverse())
    with pytest.raises(RuntimeError, match="does not implement right_inverse"):
        m.weight = dlcore.zeros(3, 3)


@pytest.mark.parametrize("dim", [0, 1, None])
def test_parametrizations_weight_norm_matches_torch(dim, rng):
    ours, theirs = nn.Linear(5, 3).double(), torch.nn.Linear(5, 3).double()
    copy_params(ours, theirs)
    nn.utils.parametrizations.weight_norm(ours, dim=dim)
    torch.nn.utils.parametrizations.weight_norm(theirs, dim=dim)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for k, v in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[k].numpy(), v.numpy(), rtol=1e-12, err_msg=k)
    x = rng.standard_normal((4, 5))
    a, b = ours(dlcore.tensor(x)), theirs(torch.tensor(x))
    np.testing.assert_allclose(to_np(a), to_np(b), rtol=1e-12)
    (a ** 2).sum().backward()
    (b ** 2).sum().backward()
    for name in ("original0", "original1"):
        np.testing.assert_allclose(getattr(ours.parametrizations.weight, name).grad.numpy(),
                                   getattr(theirs.parametrizations.weight, name).grad.numpy(), rtol=1e-10)


@pytest.mark.parametrize("module,args", [("Linear", (4, 6)), ("Conv2d", (2, 3, 3)), ("ConvTranspose2d", (2, 3, 3))])
def test_parametrizations_spectral_norm_matches_torch(module, args, rng):
    ours, theirs = getattr(nn, module)(*args).double(), getattr(torch.nn, module)(*args).double()
    copy_params(ours, theirs)
    nn.utils.parametrizations.spectral_norm(ours)
    torch.nn.utils.parametrizations.spectral_norm(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    copy_params(ours, theirs)  # the same u, v
    x = rng.standard_normal((2, 4) if module == "Linear" else (2, 2, 5, 5))
    for training in (True, False):
        ours.train(training)
        theirs.train(training)
        a, b = ours(dlcore.tensor(x)), theirs(torch.tensor(x))
        np.testing.assert_allclose(to_np(a), to_np(b), rtol=1e-10, atol=1e-12)
    a.sum().backward()
    b.sum().backward()
    np.testing.assert_allclose(ours.parametrizations.weight.original.grad.numpy(),
                               theirs.parametrizations.weight.original.grad.numpy(), rtol=1e-9, atol=1e-11)


def _linear_pair(rng, shape):
    ours = nn.Linear(shape[1], shape[0], bias=False).double()
    theirs = torch.nn.Linear(shape[1], shape[0], bias=False).double()
    copy_params(ours, theirs)
    return ours, theirs


ORTHOGONAL_CASES = [((4, 4), "matrix_exp", True), ((4, 4), "cayley", True), ((4, 4), "householder", True),
                    ((5, 3), "matrix_exp", True), ((3, 5), "cayley", True), ((5, 3), "householder", True),
                    ((5, 3), "householder", False), ((3, 5), "householder", False), ((4, 4), "matrix_exp", False),
                    ((3, 5), "cayley", False)]


@pytest.mark.parametrize("shape,orthogonal_map,use_trivialization", ORTHOGONAL_CASES)
def test_parametrizations_orthogonal_matches_torch(shape, orthogonal_map, use_trivialization, rng):
    ours, theirs = _linear_pair(rng, shape)
    nn.utils.parametrizations.orthogonal(ours, orthogonal_map=orthogonal_map, use_trivialization=use_trivialization)
    torch.nn.utils.parametrizations.orthogonal(theirs, orthogonal_map=orthogonal_map,
                                               use_trivialization=use_trivialization)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    if use_trivialization or orthogonal_map == "householder":
        # the weight's QR factor; a non-square base is completed with random columns, which only
        # show up after the original moves, so copy torch's
        np.testing.assert_allclose(to_np(ours.weight), to_np(theirs.weight), rtol=1e-10, atol=1e-12)
    if use_trivialization:
        with dlcore.no_grad():
            ours.parametrizations.weight[0].base.copy_(
                dlcore.tensor(theirs.parametrizations.weight[0].base.numpy()))
    delta = rng.standard_normal(shape) * 0.3
    if orthogonal_map == "householder":
        np.fill_diagonal(delta, 0.0)  # the diagonal holds the column signs (+-1), read by truncation
    with dlcore.no_grad(), torch.no_grad():
        if use_trivialization or orthogonal_map == "householder":
            ours.parametrizations.weight.original.add_(dlcore.tensor(delta))
            theirs.parametrizations.weight.original.add_(torch.tensor(delta))
        else:  # the original stayed the unconstrained weight
            ours.parametrizations.weight.original.copy_(dlcore.tensor(delta))
            theirs.parametrizations.weight.original.copy_(torch.tensor(delta))
    w, t = ours.weight, theirs.weight
    np.testing.assert_allclose(to_np(w), to_np(t), rtol=1e-10, atol=1e-12)
    m = to_np(w)
    gram = m.T @ m if shape[0] >= shape[1] else m @ m.T
    np.testing.assert_allclose(gram, np.eye(min(shape)), atol=1e-12)
    g = rng.standard_normal(shape)
    (w * dlcore.tensor(g)).sum().backward()
    (t * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(ours.parametrizations.weight.original.grad.numpy(),
                               theirs.parametrizations.weight.original.grad.numpy(), rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("orthogonal_map", ["matrix_exp", "cayley", "householder"])
def test_parametrizations_orthogonal_batched(orthogonal_map, rng):
    w = rng.standard_normal((2, 4, 3))
    ours, theirs = nn.Module(), torch.nn.Module()
    ours.weight, theirs.weight = nn.Parameter(dlcore.tensor(w)), torch.nn.Parameter(torch.tensor(w))
    nn.utils.parametrizations.orthogonal(ours, orthogonal_map=orthogonal_map)
    torch.nn.utils.parametrizations.orthogonal(theirs, orthogonal_map=orthogonal_map)
    with dlcore.no_grad():
        ours.parametrizations.weight[0].base.copy_(dlcore.tensor(theirs.parametrizations.weight[0].base.numpy()))
    np.testing.assert_allclose(to_np(ours.weight), to_np(theirs.weight), rtol=1e-10, atol=1e-12)
    m = to_np(ours.weight)
    np.testing.assert_allclose(np.swapaxes(m, -1, -2) @ m, np.broadcast_to(np.eye(3), (2, 3, 3)), atol=1e-12)


def test_parametrizations_orthogonal_assignment_and_errors(rng):
    ours, theirs = _linear_pair(rng, (4, 4))
    nn.utils.parametrizations.orthogonal(ours)
    torch.nn.utils.parametrizations.orthogonal(theirs)
    q = np.linalg.qr(rng.standard_normal((4, 4)))[0]
    ours.weight = dlcore.tensor(q)
    theirs.weight = torch.tensor(q)
    np.testing.assert_allclose(to_np(ours.weight), q, atol=1e-12)
    np.testing.assert_allclose(ours.parametrizations.weight[0].base.numpy(),
                               theirs.parametrizations.weight[0].base.numpy(), atol=1e-12)
    with pytest.raises(ValueError, match="shape"):
        ours.weight = dlcore.zeros(3, 4, dtype=dlcore.float64)
    with pytest.raises(ValueError, match="orthogonal_map"):
        nn.utils.parametrizations.orthogonal(nn.Linear(3, 3), orthogonal_map="qr")
    with pytest.raises(ValueError, match="matrix or batch of matrices"):
        nn.utils.parametrizations.orthogonal(nn.Linear(3, 3), name="bias")
    m = nn.utils.parametrizations.orthogonal(nn.Linear(3, 3), use_trivialization=False)
    with pytest.raises(NotImplementedError, match="use_trivialization=False"):
        m.weight = dlcore.eye(3)


# ---- functional_call ----------------------------------------------------------------------------

def test_functional_call(rng):
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2)).double()
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    params = {k: dlcore.tensor(rng.standard_normal(tuple(v.shape)), requires_grad=True)
              for k, v in model.named_parameters()}
    x = dlcore.tensor(rng.standard_normal((5, 3)))
    out = nn.utils.stateless.functional_call(model, params, (x,))
    # the same computation with the parameters loaded into a copy of the model
    ref = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2)).double()
    ref.load_state_dict({**{k: v.detach() for k, v in params.items()},
                         **{k: dlcore.tensor(v) for k, v in before.items() if "running" in k or "num_batches" in k}})
    np.testing.assert_allclose(to_np(out), to_np(ref(x)), rtol=1e-12)
    out.sum().backward()
    assert all(p.grad is not None for p in params.values())
    for k, v in model.state_dict().items():  # parameters untouched; the buffers were updated in train mode
        if "running" not in k and "num_batches" not in k:
            np.testing.assert_array_equal(v.numpy(), before[k])
    # several dicts, kwargs, strict
    weights = {k: v for k, v in params.items() if k.endswith("weight")}
    biases = {k: v for k, v in params.items() if k.endswith("bias")}
    model.eval()
    a = nn.utils.stateless.functional_call(model, (weights, biases), args=x)
    b = nn.utils.stateless.functional_call(model, params, kwargs={"input": x})
    np.testing.assert_array_equal(to_np(a), to_np(b))
    with pytest.raises(ValueError, match="multiple dictionaries"):
        nn.utils.stateless.functional_call(model, (weights, weights), (x,))
    with pytest.raises(RuntimeError, match="Missing key"):
        nn.utils.stateless.functional_call(model, weights, (x,), strict=True)


def test_functional_call_tied_weights():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(2, 2, bias=False)
            self.b = nn.Linear(2, 2, bias=False)
            self.b.weight = self.a.weight

        def forward(self, x):
            return self.b(self.a(x))
    m = Tied()
    w = dlcore.eye(2) * 3
    x = dlcore.ones(1, 2)
    np.testing.assert_allclose(to_np(nn.utils.stateless.functional_call(m, {"a.weight": w}, x)), [[9.0, 9.0]])
    out = nn.utils.stateless.functional_call(m, {"a.weight": w}, x, tie_weights=False)
    expected = (x.matmul(w.t())).matmul(m.a.weight.t())
    np.testing.assert_allclose(to_np(out), to_np(expected), rtol=1e-6)
    assert m.b.weight is m.a.weight


# ---- fusion, clipping, vector conversion --------------------------------------------------------

@pytest.mark.parametrize("transpose", [False, True])
def test_fuse_conv_bn_eval(transpose, rng):
    conv = (nn.ConvTranspose2d(3, 4, 3) if transpose else nn.Conv2d(3, 4, 3)).double().eval()
    bn = nn.BatchNorm2d(4).double()
    bn(conv(dlcore.tensor(rng.standard_normal((4, 3, 6, 6)))))  # running statistics
    with dlcore.no_grad():
        bn.weight.copy_(dlcore.tensor(rng.standard_normal(4)))
        bn.bias.copy_(dlcore.tensor(rng.standard_normal(4)))
    bn.eval()
    fused = nn.utils.fuse_conv_bn_eval(conv, bn, transpose=transpose)
    x = dlcore.tensor(rng.standard_normal((2, 3, 5, 5)))
    np.testing.assert_allclose(to_np(fused(x)), to_np(bn(conv(x))), rtol=1e-10, atol=1e-12)
    assert fused is not conv and isinstance(fused.weight, nn.Parameter)
    with pytest.raises(AssertionError, match="eval"):
        nn.utils.fuse_conv_bn_eval(conv.train(), bn)


def test_fuse_linear_bn_eval(rng):
    lin = nn.Linear(3, 4).double().eval()
    bn = nn.BatchNorm1d(4).double()
    bn(lin(dlcore.tensor(rng.standard_normal((8, 3)))))
    bn.eval()
    fused = nn.utils.fuse_linear_bn_eval(lin, bn)
    x = dlcore.tensor(rng.standard_normal((5, 3)))
    np.testing.assert_allclose(to_np(fused(x)), to_np(bn(lin(x))), rtol=1e-10, atol=1e-12)


def test_total_norm_and_clip_with_norm(rng):
    arrays = [rng.standard_normal(s) for s in [(3, 4), (5,), (2, 2, 2)]]
    ours = [dlcore.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    for p, q, a in zip(ours, theirs, arrays):
        p.grad, q.grad = dlcore.tensor(a * 3), torch.tensor(a * 3)
    for norm_type in (1.0, 2.0, math.inf):
        a = nn.utils.get_total_norm([p.grad for p in ours], norm_type)
        b = torch.nn.utils.get_total_norm([q.grad for q in theirs], norm_type)
        np.testing.assert_allclose(a.item(), b.item(), rtol=1e-12)
    total = nn.utils.get_total_norm([p.grad for p in ours])
    nn.utils.clip_grads_with_norm_(ours, 1.0, total)
    torch.nn.utils.clip_grads_with_norm_(theirs, 1.0, torch.nn.utils.get_total_norm([q.grad for q in theirs]))
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12)
    with pytest.warns(FutureWarning, match="clip_grad_norm_"):
        nn.utils.clip_grad_norm(ours, 0.5)
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.get_total_norm([dlcore.tensor([math.inf])], error_if_nonfinite=True)


def test_parameters_vector_round_trip():
    ps = [dlcore.randn(2, 3, requires_grad=True), dlcore.randn(4, requires_grad=True)]
    v = nn.utils.parameters_to_vector(ps)
    assert v.shape == (10,)
    nn.utils.vector_to_parameters(v * 2, ps)
    np.testing.assert_allclose(to_np(nn.utils.parameters_to_vector(ps)), to_np(v) * 2)
    with pytest.raises(TypeError, match="expected dlcore.Tensor"):
        nn.utils.vector_to_parameters([1.0], ps)
    with pytest.raises(ValueError, match="10"):
        nn.utils.vector_to_parameters(dlcore.zeros(9), ps)
