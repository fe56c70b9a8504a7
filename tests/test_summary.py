"""dlcore.summary: totals equal the parameter counts, MACs and activation memory equal hand
computations, output shapes are listed, and the model is left as it was (modes, statistics, hooks)."""
import numpy as np
import pytest

import dlcore
from dlcore import models, nn


def small_net():
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),  # 0
        nn.BatchNorm2d(8),  # 1
        nn.ReLU(),  # 2
        nn.MaxPool2d(2),  # 3
        nn.Conv2d(8, 8, 3, padding=1, groups=4, bias=False),  # 4
        nn.ConvTranspose2d(8, 4, 2, stride=2),  # 5
        nn.Flatten(),  # 6
        nn.Linear(4 * 8 * 8, 10),  # 7
    )


def test_small_net_by_hand(capsys):
    s = dlcore.summary(small_net(), (3, 8, 8), batch_size=2)
    printed = capsys.readouterr().out
    assert printed.strip() == str(s).strip()
    conv = 2 * 8 * 8 * 8 * (3 * 3 * 3)  # outputs (N*K*P*Q) x C*R*S
    bn = relu = 2 * 8 * 8 * 8  # one per element
    pool = 2 * 8 * 4 * 4
    grouped = 2 * 8 * 4 * 4 * (8 // 4 * 3 * 3)  # C/groups = 2
    transposed = 2 * 8 * 4 * 4 * (4 * 2 * 2)  # each input element reaches K/groups*R*S outputs
    linear = 2 * 256 * 10  # rows x in x out
    assert s.total_macs == conv + bn + relu + pool + grouped + transposed + linear
    assert s.total_flops == 2 * s.total_macs
    params = (8 * 3 * 9 + 8) + 2 * 8 + (8 * 2 * 9) + (8 * 4 * 4 + 4) + (256 * 10 + 10)
    assert s.total_params == s.trainable_params == params
    shapes = [r.output_shape for r in s.rows]
    assert shapes == [[2, 10], [2, 8, 8, 8], [2, 8, 8, 8], [2, 8, 8, 8], [2, 8, 4, 4], [2, 8, 4, 4], [2, 4, 8, 8],
                      [2, 256], [2, 10]]
    assert [r.macs for r in s.rows] == [s.total_macs, conv, bn, relu, pool, grouped, transposed, 0, linear]
    assert [r.params for r in s.rows[1:]] == [224, 16, 0, 0, 144, 132, 0, 2570]
    # leaf outputs of one forward, float32
    assert s.activation_bytes == 4 * (3 * 2 * 512 + 256 + 256 + 2 * 256 + 512 + 20)
    assert s.input_bytes == 4 * 2 * 3 * 64
    assert s.param_bytes == 4 * (params + 8 + 8) + 8  # + BN running mean and var, int64 batch count
    text = str(s)
    for needle in ["[2, 8, 4, 4]", "[2, 4, 8, 8]", f"Total params: {params:,}", f"Total MACs: {s.total_macs:,}",
                   "ConvTranspose2d", "Trainable params"]:
        assert needle in text


def test_lenet5_by_hand():
    s = dlcore.summary(models.lenet5(), (1, 28, 28), verbose=False)
    assert s.total_params == 61_706
    # conv 6x28x28 x 25, relu, pool 6x14x14, conv 16x10x10 x 150, relu, pool 16x5x5, 400x120, relu, 120x84, relu, 84x10
    want = 6 * 784 * 25 + 6 * 784 + 6 * 196 + 1600 * 150 + 1600 + 400 + 48_000 + 120 + 10_080 + 84 + 840
    assert s.total_macs == want == 424_604
    assert [r.output_shape for r in s.rows if r.name in ("features", "classifier")] == [[1, 16, 5, 5], [1, 10]]


@pytest.mark.parametrize("name,count", [("resnet20", 269_722), ("resnet18", 11_689_512)])
def test_totals_equal_the_parameter_counts(name, count):
    model = models.get_model(name)
    s = dlcore.summary(model, (3, 32, 32), verbose=False)
    assert s.total_params == s.trainable_params == count
    # the depth-1 rows' parameters and MACs add up to the totals (no parameters outside children)
    top = [r for r in s.rows if r.depth == 1 and r.first_call]
    assert sum(r.params for r in top) == count
    assert sum(r.macs for r in s.rows if r.depth == 1) == s.total_macs == s.rows[0].macs


def test_resnet20_conv_macs_by_hand():
    s = dlcore.summary(models.resnet20(), (3, 32, 32), verbose=False)
    conv = sum(r.macs for r in s.rows if r.type_name == "Conv2d")
    # stem 16x32x32 x 27; stage 1: 6 convs 16x32x32 x 144; stage 2: 32x16x16 x (144 + 5 x 288);
    # stage 3: 64x8x8 x (288 + 5 x 576)
    want = 16 * 1024 * 27 + 6 * 16 * 1024 * 144 + 32 * 256 * (144 + 5 * 288) + 64 * 64 * (288 + 5 * 576)
    assert conv == want
    assert sum(r.macs for r in s.rows if r.type_name == "Linear") == 640


def test_frozen_parameters_and_shared_modules():
    shared = nn.Linear(4, 4)

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = shared
            self.b = shared
            self.head = nn.Linear(4, 2)

        def forward(self, x):
            return self.head(self.a(self.a(x)))

    model = Twice()
    model.head.requires_grad_(False)
    s = dlcore.summary(model, (4,), batch_size=3, verbose=False)
    assert s.total_params == 20 + 10 and s.trainable_params == 20
    assert [r.name for r in s.rows] == ["", "a", "a", "head"]
    assert [r.first_call for r in s.rows] == [True, True, False, True]
    assert s.total_macs == 2 * 3 * 16 + 3 * 8
    assert "(shared)" in str(s) and "Non-trainable params: 10" in str(s)


def test_depth_hides_rows_not_costs():
    model = models.resnet20()
    deep = dlcore.summary(model, (3, 16, 16), depth=3, verbose=False)
    shallow = dlcore.summary(model, (3, 16, 16), depth=1, verbose=False)
    assert deep.total_macs == shallow.total_macs and deep.total_params == shallow.total_params
    assert "conv1 (Conv2d)" in str(deep) and "layer1 (Sequential)" in str(shallow)
    assert "    0 (CifarBasicBlock)" in str(deep) and "(CifarBasicBlock)" not in str(shallow)
    assert [r.depth for r in deep.rows] == [r.depth for r in shallow.rows]  # recorded below the shown depth too
    assert max(r.depth for r in shallow.rows) == 3


def test_model_state_is_restored():
    model = models.resnet20().train()
    model.layer1.eval()
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    dlcore.summary(model, (3, 16, 16), batch_size=1, verbose=False)  # batch 1 works: eval mode inside
    assert model.training and not model.layer1.training and model.layer2.training
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k], err_msg=k)  # BN statistics untouched
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_several_inputs_and_dtypes():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(10, 3)
            self.lin = nn.Linear(3, 3)

        def forward(self, ids, x):
            return self.emb(ids) + self.lin(x)

    model = Two().double()
    s = dlcore.summary(model, [(5,), (5, 3)], batch_size=2, dtype=[dlcore.int64, dlcore.float64], verbose=False)
    assert [r.output_shape for r in s.rows] == [[2, 5, 3], [2, 5, 3], [2, 5, 3]]
    assert s.input_bytes == 2 * 5 * 8 + 2 * 15 * 8
    assert s.total_macs == 2 * 5 * 9


def test_bad_arguments():
    with pytest.raises(TypeError, match="summary: model must be a dlcore.nn.Module"):
        dlcore.summary(lambda x: x, (3,))
    with pytest.raises(TypeError, match="summary: input_size"):
        dlcore.summary(nn.Linear(2, 2), "2")
    with pytest.raises(ValueError, match="summary: depth"):
        dlcore.summary(nn.Linear(2, 2), (2,), depth=-1)
    model = nn.Linear(2, 2)
    with pytest.raises(Exception, match="linear"):  # the forward's own error, hooks removed after it
        dlcore.summary(model, (3,), verbose=False)
    assert not model._forward_hooks and not model._forward_pre_hooks


def test_forward_hooks():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    seen = []
    h1 = model[0].register_forward_pre_hook(lambda m, args: seen.append(("pre", tuple(args[0].shape))))
    h2 = model[0].register_forward_hook(lambda m, args, out: out * 0)  # a hook may replace the output
    nn.init.ones_(model[0].weight)
    nn.init.ones_(model[0].bias)
    out = model(dlcore.ones(4, 2))
    assert seen == [("pre", (4, 2))] and not out.detach().numpy().any()
    h1.remove()
    h2.remove()
    np.testing.assert_array_equal(model(dlcore.ones(1, 2)).detach().numpy(), [[3.0, 3.0, 3.0]])
    assert len(seen) == 1
    assert not model[0]._forward_hooks and not model[0]._forward_pre_hooks
