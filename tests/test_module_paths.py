"""The module paths PyTorch programs import and set: backends flags, accelerator, cuda seeding,
use_deterministic_algorithms, utils.tensorboard."""
import io

import numpy as np
import pytest

import dlcore


def test_cudnn_flags_are_settable_and_restored():
    cudnn = dlcore.backends.cudnn
    assert cudnn.benchmark is False and cudnn.deterministic is False and cudnn.enabled is True
    cudnn.benchmark = True
    try:
        assert cudnn.benchmark is True
        with cudnn.flags(deterministic=True, benchmark=False):
            assert cudnn.deterministic is True and cudnn.benchmark is False
        assert cudnn.deterministic is False and cudnn.benchmark is True
    finally:
        cudnn.benchmark = False
    assert cudnn.is_available() is False and cudnn.version() is None
    with pytest.raises(AttributeError, match="benchmrk"):
        cudnn.benchmrk = True  # a misspelt switch is not silently accepted


def test_backend_queries():
    assert dlcore.backends.mps.is_available() is False
    assert dlcore.backends.openmp.is_available() is True
    assert isinstance(dlcore.backends.cuda.is_built(), bool)


def test_accelerator_without_gpu():
    if dlcore.cuda.is_available():
        assert dlcore.accelerator.current_accelerator().type == "cuda"
        return
    assert dlcore.accelerator.is_available() is False
    assert dlcore.accelerator.current_accelerator() is None
    assert dlcore.accelerator.device_count() == 0
    dlcore.accelerator.synchronize()  # nothing to wait for


@pytest.mark.skipif(dlcore.cuda.is_available(), reason="checks the behaviour without a GPU")
def test_cuda_seeding_without_gpu_leaves_the_cpu_stream_alone():
    dlcore.manual_seed(5)
    a = dlcore.rand(4)
    dlcore.manual_seed(5)
    dlcore.cuda.manual_seed(123)
    dlcore.cuda.manual_seed_all(7)
    b = dlcore.rand(4)
    assert np.array_equal(a.numpy(), b.numpy())
    with pytest.raises(RuntimeError, match="get_device_capability"):
        dlcore.cuda.get_device_capability()
    assert dlcore.cuda.is_bf16_supported() is False


def test_use_deterministic_algorithms_switch():
    assert dlcore.are_deterministic_algorithms_enabled() is False
    dlcore.use_deterministic_algorithms(True)
    try:
        assert dlcore.are_deterministic_algorithms_enabled() is True
        assert dlcore.is_deterministic_algorithms_warn_only_enabled() is False
        # The CPU kernels are deterministic: an accumulating scatter still runs, same result twice.
        idx = dlcore.tensor([0, 1, 0, 1, 0])
        src = dlcore.tensor([1e8, 1.0, -1e8, 2.0, 3.0])
        r1 = dlcore.zeros(2).scatter_add(0, idx, src)
        r2 = dlcore.zeros(2).scatter_add(0, idx, src)
        assert np.array_equal(r1.numpy(), r2.numpy())
        dlcore.use_deterministic_algorithms(True, warn_only=True)
        assert dlcore.is_deterministic_algorithms_warn_only_enabled() is True
        assert dlcore.are_deterministic_algorithms_enabled() is True
    finally:
        dlcore.use_deterministic_algorithms(False)
    assert dlcore.are_deterministic_algorithms_enabled() is False
    with pytest.raises(TypeError, match="mode must be a bool"):
        dlcore.use_deterministic_algorithms("yes")


tb = pytest.importorskip("tensorboard")


def _accumulator(path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    ea = EventAccumulator(str(path), size_guidance={"images": 0, "histograms": 0, "tensors": 0, "scalars": 0})
    ea.Reload()
    return ea


def test_summary_writer_scalars_histograms_images_text(tmp_path):
    from dlcore.utils.tensorboard import SummaryWriter
    values = np.random.default_rng(0).normal(size=1000)
    with SummaryWriter(tmp_path) as w:
        for step in range(4):
            w.add_scalar("loss", dlcore.tensor(1.0 / (step + 1)), step)
        w.add_histogram("weights", dlcore.tensor(values), 3)
        w.add_image("img", np.linspace(0, 1, 3 * 4 * 5).reshape(3, 4, 5), 0)
        w.add_images("batch", np.zeros((5, 1, 2, 3), np.uint8), 0)
        w.add_text("note", "hello", 0)
        w.add_scalars("acc", {"train": 0.5, "val": 0.25}, 2)
    ea = _accumulator(tmp_path)
    assert [(e.step, e.value) for e in ea.Scalars("loss")] == [(0, 1.0), (1, 0.5), (2, pytest.approx(1 / 3)),
                                                              (3, 0.25)]
    h = ea.Histograms("weights")[0].histogram_value
    assert h.num == 1000 and sum(h.bucket) == 1000
    assert h.min == pytest.approx(values.min()) and h.max == pytest.approx(values.max())
    assert h.sum == pytest.approx(values.sum()) and h.sum_squares == pytest.approx((values ** 2).sum())
    image = ea.Images("img")[0]
    assert (image.width, image.height) == (5, 4)
    from PIL import Image
    decoded = np.asarray(Image.open(io.BytesIO(image.encoded_image_string)))
    expected = (np.linspace(0, 1, 60).reshape(3, 4, 5).transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8)
    assert np.array_equal(decoded, expected)
    grid = ea.Images("batch")[0]  # 5 images in a 3-column grid: 2 rows
    assert (grid.width, grid.height) == (9, 4)
    assert "note/text_summary" in ea.Tags()["tensors"]
    child = _accumulator(tmp_path / "acc_train")
    assert [(e.step, e.value) for e in child.Scalars("acc")] == [(2, 0.5)]


def test_summary_writer_errors(tmp_path):
    from dlcore.utils.tensorboard import SummaryWriter
    w = SummaryWriter(tmp_path)
    with pytest.raises(ValueError, match="add_scalar: the value must hold one element, got shape \\(2,\\)"):
        w.add_scalar("x", dlcore.ones(2))
    with pytest.raises(ValueError, match="add_image: dataformats 'CHW' does not describe an image of shape"):
        w.add_image("x", np.zeros((4, 4)))
    with pytest.raises(NotImplementedError, match="add_graph"):
        w.add_graph(None)
    w.close()
    with pytest.raises(RuntimeError, match="closed"):
        w.add_scalar("x", 1.0)


def _spawn_target(rank, path, fail_rank):
    if rank == fail_rank:
        raise ValueError(f"rank {rank} failed on purpose")
    with open(f"{path}/{rank}", "w") as f:
        f.write(str(rank * 10))


def test_multiprocessing_spawn(tmp_path):
    import dlcore.multiprocessing as mp
    assert mp.Queue is not None and mp.get_context is not None  # the standard module's names
    mp.spawn(_spawn_target, args=(str(tmp_path), -1), nprocs=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0", "1"]
    assert (tmp_path / "1").read_text() == "10"
    with pytest.raises(mp.ProcessRaisedException, match="rank 1 failed on purpose"):
        mp.spawn(_spawn_target, args=(str(tmp_path), 1), nprocs=2)
    mp.set_sharing_strategy("file_system")
    assert mp.get_sharing_strategy() == "file_system"
    mp.set_sharing_strategy("file_descriptor")
    with pytest.raises(ValueError, match="unknown strategy"):
        mp.set_sharing_strategy("carrier_pigeon")


def test_distributed_paths_without_backend():
    import dlcore.distributed as dist
    assert dist.is_available() is False and dist.is_initialized() is False
    with pytest.raises(ValueError, match="get_rank: the default process group has not been initialized"):
        dist.get_rank()
    with pytest.raises(RuntimeError, match="no communication backend"):
        dist.init_process_group("gloo")
    from dlcore.nn.parallel import DistributedDataParallel
    with pytest.raises(RuntimeError, match="process group has not been initialized"):
        DistributedDataParallel(dlcore.nn.Linear(2, 2))


def test_nn_buffer_registers_on_assignment():
    torch = pytest.importorskip("torch")

    class M(dlcore.nn.Module):
        def __init__(self):
            super().__init__()
            self.kept = dlcore.nn.Buffer(dlcore.ones(2))
            self.scratch = dlcore.nn.Buffer(dlcore.zeros(3), persistent=False)

    class T(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.kept = torch.nn.Buffer(torch.ones(2))
            self.scratch = torch.nn.Buffer(torch.zeros(3), persistent=False)

    m, t = M(), T()
    assert [n for n, _ in m.named_buffers()] == [n for n, _ in t.named_buffers()] == ["kept", "scratch"]
    assert list(m.state_dict()) == list(t.state_dict()) == ["kept"]
    assert not m.kept.requires_grad and isinstance(m.kept, dlcore.Tensor)
    m.kept = dlcore.nn.Buffer(dlcore.full((2,), 5.0), persistent=False)  # re-registration changes persistence
    assert list(m.state_dict()) == []
    import copy
    m2 = copy.deepcopy(m)
    assert m2.kept.tolist() == [5.0, 5.0] and list(m2.state_dict()) == []


def test_set_default_dtype_and_printoptions():
    torch = pytest.importorskip("torch")
    assert dlcore.get_default_dtype() == dlcore.float32
    dlcore.set_default_dtype(dlcore.float64)
    try:
        for make in (lambda m: m.zeros(2), lambda m: m.ones(1), lambda m: m.empty(1), lambda m: m.rand(2),
                     lambda m: m.randn(2), lambda m: m.tensor([1.5]), lambda m: m.arange(0.0, 1.0, 0.5),
                     lambda m: m.linspace(0, 1, 3), lambda m: m.eye(2), lambda m: m.full((1,), 2.5)):
            assert make(dlcore).dtype == dlcore.float64
        assert dlcore.tensor([1, 2]).dtype == dlcore.int64
        assert repr(dlcore.tensor([1.5])) == "tensor([1.5000])"  # the default dtype is not printed
        assert repr(dlcore.tensor([1.5], dtype=dlcore.float32)) == "tensor([1.5000], dtype=dlcore.float32)"
    finally:
        dlcore.set_default_dtype(dlcore.float32)
    with pytest.raises(TypeError, match="set_default_dtype"):
        dlcore.set_default_dtype(dlcore.int64)

    values = [1.23456789, 2.5, -0.001]
    try:
        for kwargs in (dict(precision=2), dict(sci_mode=True), dict(precision=6, sci_mode=False), dict(profile="short")):
            dlcore.set_printoptions(**kwargs)
            torch.set_printoptions(**kwargs)
            assert repr(dlcore.tensor(values)) == repr(torch.tensor(values)), kwargs
            dlcore.set_printoptions(profile="default")
            torch.set_printoptions(profile="default")
        dlcore.set_printoptions(threshold=5, edgeitems=1)
        text = repr(dlcore.arange(10.0))
        assert text.startswith("tensor([0.,") and "..." in text and text.endswith("9.])")
    finally:
        dlcore.set_printoptions(profile="default")
        torch.set_printoptions(profile="default")
    with pytest.raises(ValueError, match="unknown profile"):
        dlcore.set_printoptions(profile="tiny")


def test_inference_mode_matches_torch():
    torch = pytest.importorskip("torch")
    for lib in (dlcore, torch):
        x = lib.ones(2, requires_grad=True)
        seen = [lib.is_inference_mode_enabled()]
        with lib.inference_mode():
            seen += [lib.is_inference_mode_enabled(), lib.is_grad_enabled(), (x * 2).requires_grad]
            with lib.inference_mode(False):
                seen += [lib.is_inference_mode_enabled(), lib.is_grad_enabled()]
        seen += [lib.is_inference_mode_enabled(), lib.is_grad_enabled()]
        if lib is dlcore:
            ours = seen
    assert ours == seen == [False, True, False, False, False, True, False, True]
