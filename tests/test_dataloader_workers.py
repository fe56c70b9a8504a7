"""DataLoader worker processes: results in order, tensors through shared memory, errors with the
worker's traceback, timeout, seeding and get_worker_info, IterableDataset sharding (against
torch), persistent workers, prefetching, and clean shutdown (break, garbage collection, Ctrl-C,
a killed parent, a dead worker)."""
import gc
import os
import pickle
import random
import signal
import subprocess
import sys
import textwrap
import time
from multiprocessing.reduction import ForkingPickler

import numpy as np
import pytest

import dlcore
import dlcore.utils.data as D
from dlcore.data import _worker

torch = pytest.importorskip("torch")
import torch.utils.data as TD  # noqa: E402

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="worker tests use the fork start method")


def _np(t):
    return t.detach().numpy()


def _shm_files():
    return sorted(f for f in os.listdir("/dev/shm") if f.startswith(f"dlcore_{os.getpid()}_"))


def _alive(pid):
    """Whether ``pid`` runs (a zombie counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait_dead(pids, seconds=15.0):
    deadline = time.time() + seconds
    while any(_alive(p) for p in pids) and time.time() < deadline:
        time.sleep(0.05)
    return [p for p in pids if _alive(p)]


@pytest.fixture(autouse=True)
def no_shared_files_left():
    """Every test leaves no shared-memory file of this process behind."""
    yield
    gc.collect()
    deadline = time.time() + 5
    while _shm_files() and time.time() < deadline:
        time.sleep(0.05)
    assert _shm_files() == []


class Images(D.Dataset):
    """3x64x64 float32 images (48 KiB: shared memory) whose pixels are the index, and labels."""

    def __init__(self, n=23):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return dlcore.full((3, 64, 64), float(i)), i


class Info(D.Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        info = D.get_worker_info()
        try:
            info.id = 5
            read_only = False
        except RuntimeError:
            read_only = True
        return {"read_only": read_only, "id": info.id, "num_workers": info.num_workers, "seed": info.seed,
                "pid": os.getpid(), "is_self": info.dataset is self,
                "dl": dlcore.rand(1).item(), "py": random.random(), "np": float(np.random.rand())}


class Failing(D.Dataset):
    def __init__(self, exc=ValueError):
        self.exc = exc

    def __len__(self):
        return 20

    def __getitem__(self, i):
        if i == 9:
            raise self.exc(f"bad sample {i}")
        return i


class Slow(D.Dataset):
    def __init__(self, seconds, n=8, slow_index=None):
        self.seconds, self.n, self.slow_index = seconds, n, slow_index

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if self.slow_index is None or i == self.slow_index:
            time.sleep(self.seconds)
        return i


# ---- results -------------------------------------------------------------------------------
@pytest.mark.parametrize("workers", [1, 2, 3])
def test_batches_in_order_and_equal_to_single_process(workers):
    before = _shm_files()
    ref = list(D.DataLoader(Images(), batch_size=4, num_workers=0))
    got = list(D.DataLoader(Images(), batch_size=4, num_workers=workers))
    assert len(got) == len(ref) == 6
    for (x, y), (rx, ry) in zip(got, ref):
        assert x.shape == rx.shape and x.dtype == dlcore.float32 and y.tolist() == ry.tolist()
        np.testing.assert_array_equal(_np(x), _np(rx))
    x = got[0][0]
    x.add_(1.0)  # a batch from shared memory is an ordinary writable tensor
    assert _np(x)[1, 0, 0, 0] == 2.0
    assert _shm_files() == before  # every shared file was unlinked on receipt


def test_shuffle_order_same_with_and_without_workers():
    order = lambda dl: [i for _, y in dl for i in y.tolist()]  # noqa: E731
    a = order(D.DataLoader(Images(), batch_size=5, shuffle=True, generator=dlcore.Generator().manual_seed(3)))
    b = order(D.DataLoader(Images(), batch_size=5, shuffle=True, num_workers=2,
                           generator=dlcore.Generator().manual_seed(3)))
    assert a == b and sorted(a) == list(range(23)) and a != list(range(23))


def test_tensor_dataset_and_structures_through_workers():
    x = dlcore.randn(30, 5, 7).transpose(1, 2)  # non-contiguous rows
    y = dlcore.arange(30)
    got = list(D.DataLoader(D.TensorDataset(x, y), batch_size=8, num_workers=2))
    np.testing.assert_array_equal(np.concatenate([_np(b[0]) for b in got]), _np(x))
    pairs = [{"a": np.full(3, i, np.int32), "b": (i, "s"), "c": dlcore.tensor([True, False])} for i in range(5)]
    b = next(iter(D.DataLoader(pairs, batch_size=5, num_workers=1)))
    assert b["a"].dtype == dlcore.int32 and b["a"].shape == (5, 3) and b["b"][1] == ["s"] * 5
    assert b["c"].dtype == dlcore.bool and b["c"].shape == (5, 2)


@pytest.mark.parametrize("make", [
    lambda: dlcore.randn(3, 70, 80),  # large: through shared memory
    lambda: dlcore.randn(20, 30).transpose(0, 1)[::2],  # a strided view
    lambda: dlcore.arange(6000, dtype=dlcore.int32),
    lambda: dlcore.tensor([True, False] * 9000),
    lambda: dlcore.randn(100, 100).to(dlcore.bfloat16),
    lambda: dlcore.randn(100, 100).to(dlcore.float16),
    lambda: dlcore.zeros(0, 4),
    lambda: dlcore.tensor(3.5, dtype=dlcore.float64),
    lambda: dlcore.randn(50, 50).requires_grad_(),
])
@pytest.mark.parametrize("in_worker", [False, True])
def test_tensor_reducer_round_trip(make, in_worker, monkeypatch, tmp_path):
    t = make()
    if in_worker:
        monkeypatch.setattr(_worker, "_shm_prefix", str(tmp_path / "t_"))
        monkeypatch.setattr(_worker, "_SHM_DIR", str(tmp_path))
    blob = ForkingPickler.dumps(t)
    large = t.numel() * t.element_size() >= _worker._INLINE_BYTES
    assert len(os.listdir(tmp_path)) == (1 if in_worker and large else 0)
    back = pickle.loads(blob)
    assert os.listdir(tmp_path) == []  # unlinked when received
    assert back.shape == t.shape and back.dtype == t.dtype and back.requires_grad == t.requires_grad
    f = (lambda v: _np(v.float())) if t.dtype == dlcore.bfloat16 else _np
    np.testing.assert_array_equal(f(back), f(t))
    if in_worker and large:
        assert len(blob) < 1000  # only the file's name travelled


def test_reducer_refuses_non_leaf_requiring_grad():
    with pytest.raises(RuntimeError, match="Cowardly refusing to serialize non-leaf tensor"):
        ForkingPickler.dumps(dlcore.ones(2, requires_grad=True) * 2)


# ---- errors and timeout ----------------------------------------------------------------------
@pytest.mark.parametrize("exc", [ValueError, KeyError])
def test_worker_exception_reraised_with_traceback(exc):
    seen = []
    with pytest.raises(exc) as info:
        for b in D.DataLoader(Failing(exc), batch_size=4, num_workers=2):
            seen.append(b.tolist())
    msg = str(info.value)
    assert f"Caught {exc.__name__} in DataLoader worker process 0" in msg
    assert "Original Traceback (most recent call last)" in msg and "bad sample 9" in msg
    assert "raise self.exc(f\"bad sample {i}\")" in msg  # the worker's source line
    assert seen == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_worker_init_fn_error_and_unusual_exception_types():
    def init(worker_id):
        raise ZeroDivisionError("init failed")

    with pytest.raises(ZeroDivisionError, match="Caught ZeroDivisionError in DataLoader worker process"):
        list(D.DataLoader(range(4), num_workers=1, worker_init_fn=init))

    class Odd(Exception):
        def __init__(self, a, b):
            super().__init__(a, b)

    class Raises(D.Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            raise Odd(1, 2)

    with pytest.raises(RuntimeError, match="Caught Odd in DataLoader worker process 0"):
        list(D.DataLoader(Raises(), num_workers=1))


def test_timeout():
    t0 = time.time()
    with pytest.raises(RuntimeError, match=r"DataLoader timed out after 0.5 seconds"):
        list(D.DataLoader(Slow(5.0, n=2), num_workers=1, timeout=0.5))
    assert time.time() - t0 < 12.0  # the stuck worker was terminated, not waited for to the end
    assert [b.item() for b in D.DataLoader(Slow(0.05, n=3), num_workers=1, timeout=5)] == [0, 1, 2]


def test_dead_worker_detected():
    class Dies(D.Dataset):
        def __len__(self):
            return 10

        def __getitem__(self, i):
            if i == 5:
                os._exit(3)
            return i

    with pytest.raises(RuntimeError, match=r"DataLoader worker \(pid\(s\) \d+\) exited unexpectedly"):
        list(D.DataLoader(Dies(), num_workers=2))


# ---- seeding and worker info -----------------------------------------------------------------
def test_worker_info_and_seeding():
    assert D.get_worker_info() is None
    seen = []
    dl = D.DataLoader(Info(), batch_size=None, num_workers=2, worker_init_fn=seen.append)
    dlcore.manual_seed(0)
    rows = list(dl)
    assert [r["id"] for r in rows] == [0, 1] * 4 and all(r["num_workers"] == 2 for r in rows)
    assert all(r["is_self"] and r["read_only"] for r in rows)  # the worker's copy of the dataset
    seeds = {r["id"]: r["seed"] for r in rows}
    assert seeds[1] == seeds[0] + 1  # base_seed + worker id, as in torch
    assert len({r["pid"] for r in rows}) == 2 and os.getpid() not in {r["pid"] for r in rows}
    for key in ("dl", "py", "np"):  # dlcore, random and numpy are seeded differently in each worker
        assert rows[0][key] != rows[1][key]
    dlcore.manual_seed(0)
    again = list(dl)
    assert [(r["seed"], r["dl"], r["py"], r["np"]) for r in again] == [(r["seed"], r["dl"], r["py"], r["np"])
                                                                         for r in rows]
    other = list(D.DataLoader(Info(), batch_size=None, num_workers=2, generator=dlcore.Generator().manual_seed(1)))
    assert other[0]["seed"] != rows[0]["seed"]


def test_worker_init_fn_runs_in_each_worker_with_its_id():
    class Ids(D.Dataset):
        def __len__(self):
            return 6

        def __getitem__(self, i):
            return os.environ.get("DLCORE_TEST_WORKER", "unset")

    def init(worker_id):
        os.environ["DLCORE_TEST_WORKER"] = f"w{worker_id}:{D.get_worker_info().id}"

    got = list(D.DataLoader(Ids(), batch_size=None, num_workers=3, worker_init_fn=init))
    assert got == ["w0:0", "w1:1", "w2:2"] * 2 and "DLCORE_TEST_WORKER" not in os.environ


def _sharded_dataset(base):
    class Sharded(base):
        def __init__(self, start, end):
            self.start, self.end = start, end

        def __iter__(self):
            info = D.get_worker_info() if base is D.IterableDataset else TD.get_worker_info()
            if info is None:
                return iter(range(self.start, self.end))
            per = -(-(self.end - self.start) // info.num_workers)
            lo = self.start + info.id * per
            return iter(range(lo, min(lo + per, self.end)))
    return Sharded


@pytest.mark.filterwarnings("ignore:This DataLoader will create")
@pytest.mark.parametrize("workers,bs,drop", [(0, 3, False), (1, 3, False), (2, 3, False), (2, 4, True), (3, 2, False),
                                             (2, None, False)])
def test_iterable_dataset_sharded_like_torch(workers, bs, drop):
    ours = D.DataLoader(_sharded_dataset(D.IterableDataset)(3, 17), batch_size=bs, drop_last=drop,
                        num_workers=workers)
    ref = TD.DataLoader(_sharded_dataset(TD.IterableDataset)(3, 17), batch_size=bs, drop_last=drop,
                        num_workers=workers)
    as_list = lambda b: b if isinstance(b, int) else b.tolist()  # noqa: E731  (batch_size=None: ints)
    assert [as_list(b) for b in ours] == [as_list(b) for b in ref]


# ---- persistence, prefetching, ordering --------------------------------------------------------
class Pids(D.Dataset):
    def __len__(self):
        return 6

    def __getitem__(self, i):
        return os.getpid()


@pytest.mark.parametrize("persistent", [False, True])
def test_persistent_workers(persistent):
    dl = D.DataLoader(Pids(), batch_size=2, num_workers=2, persistent_workers=persistent)
    epochs = [{p for b in dl for p in b.tolist()} for _ in range(3)]
    assert all(len(e) == 2 for e in epochs)
    assert (epochs[0] == epochs[1] == epochs[2]) == persistent
    if persistent:
        it = iter(dl)
        next(it)  # break an epoch early: the next one still starts from the beginning
        assert [b.tolist() for b in D.DataLoader(range(6), batch_size=2)] == \
            [b.tolist() for b in D.DataLoader(range(6), batch_size=2, num_workers=2, persistent_workers=True)]
        assert len([b for b in dl]) == 3
        pids = list(epochs[0])
        del dl, it
        gc.collect()
        assert _wait_dead(pids) == []


def test_persistent_iterable_dataset_restarts_each_epoch():
    dl = D.DataLoader(_sharded_dataset(D.IterableDataset)(0, 10), batch_size=2, num_workers=2,
                      persistent_workers=True)
    first = sorted(i for b in dl for i in b.tolist())
    assert first == list(range(10)) and sorted(i for b in dl for i in b.tolist()) == first


def test_prefetch_factor_bounds_work_in_flight(tmp_path):
    log = tmp_path / "fetched"

    class Logged(D.Dataset):
        def __len__(self):
            return 40

        def __getitem__(self, i):
            with open(log, "a") as f:
                f.write(f"{i}\n")
            return i

    it = iter(D.DataLoader(Logged(), batch_size=2, num_workers=2, prefetch_factor=3))
    next(it)
    expected = 2 * (3 * 2 + 1)  # the batch taken and its replacement, plus 3 per worker in flight
    deadline = time.time() + 10
    while len(log.read_text().split()) < expected and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # time to fetch more, if the bound did not hold
    assert len(log.read_text().split()) == expected
    assert sum(len(b) for b in it) == 38


def test_in_order_false_yields_batches_as_they_arrive():
    ds = Slow(1.0, n=6, slow_index=0)
    got = [b.item() for b in D.DataLoader(ds, num_workers=2, in_order=False)]
    assert sorted(got) == list(range(6)) and got[0] != 0
    assert [b.item() for b in D.DataLoader(ds, num_workers=2)] == list(range(6))


# ---- shutdown ----------------------------------------------------------------------------------
def test_break_and_garbage_collection_stop_workers():
    before = _shm_files()
    for _ in range(2):
        it = iter(D.DataLoader(Images(200), batch_size=4, num_workers=2))
        next(it)
        pids = [w.pid for w in it._workers]
        assert all(_alive(p) for p in pids)
        del it
        gc.collect()
        assert _wait_dead(pids) == []
    for i, _ in enumerate(D.DataLoader(Images(200), batch_size=4, num_workers=2)):
        if i == 1:
            break
    gc.collect()
    time.sleep(0.2)
    assert _shm_files() == before  # batches left in flight were cleaned up


def _run_script(body, **popen):
    script = textwrap.dedent("""
        import os, sys, time
        import dlcore
        import dlcore.utils.data as D

        class Endless(D.Dataset):
            def __len__(self):
                return 10**6
            def __getitem__(self, i):
                time.sleep(0.02)
                return os.getpid(), dlcore.zeros(64, 64)  # 16 KiB: through shared memory
        """) + textwrap.dedent(body)
    env = dict(os.environ)
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, **popen)


def test_ctrl_c_stops_main_and_workers():
    p = _run_script("""
        for pids, _ in D.DataLoader(Endless(), batch_size=2, num_workers=2):
            print(*set(pids.tolist()), flush=True)
        """, start_new_session=True)
    pids = set()
    while len(pids) < 2:
        line = p.stdout.readline()
        assert line, p.stderr.read()
        pids.update(int(x) for x in line.split())
    os.killpg(p.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole foreground group
    _, err = p.communicate(timeout=30)
    assert p.returncode != 0 and "KeyboardInterrupt" in err
    assert "Traceback" not in err.split("KeyboardInterrupt")[-1]  # no errors from the workers' shutdown
    assert _wait_dead(list(pids)) == []
    assert [f for f in os.listdir("/dev/shm") if f.startswith(f"dlcore_{p.pid}_")] == []


def test_killed_parent_leaves_no_orphans():
    p = _run_script("""
        for pids, _ in D.DataLoader(Endless(), batch_size=2, num_workers=2):
            print(*set(pids.tolist()), flush=True)
        """)
    pids = set()
    while len(pids) < 2:
        line = p.stdout.readline()
        assert line, p.stderr.read()
        pids.update(int(x) for x in line.split())
    p.kill()
    p.communicate(timeout=30)
    assert _wait_dead(list(pids)) == []
    assert [f for f in os.listdir("/dev/shm") if f.startswith(f"dlcore_{p.pid}_")] == []  # removed by the workers


def test_workers_after_multithreaded_parent_ops():
    p = _run_script("""
        dlcore.set_num_threads(2)
        a = dlcore.randn(512, 512)
        for _ in range(3):
            a = (a @ a).tanh()  # the parent's OpenMP threads are running
        ds = D.TensorDataset(dlcore.randn(64, 3, 64, 64))

        class Stacked(D.Dataset):
            def __len__(self):
                return 16
            def __getitem__(self, i):
                return dlcore.randn(3, 64, 64) * 2 + 1  # dlcore ops in the worker, collated with stack
        n = sum(b[0].shape[0] for b in D.DataLoader(ds, batch_size=8, num_workers=2))
        m = sum(b.shape[0] for b in D.DataLoader(Stacked(), batch_size=4, num_workers=2, timeout=30))
        print(n, m, dlcore.get_num_threads())
        """)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    assert out.split() == ["64", "16", "2"]


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_other_start_methods(method):
    import multiprocessing
    ds = D.TensorDataset(dlcore.arange(12, dtype=dlcore.float32).reshape(6, 2), dlcore.arange(6))
    for ctx in (method, multiprocessing.get_context(method)):
        got = list(D.DataLoader(ds, batch_size=4, num_workers=1, multiprocessing_context=ctx))
        assert [b[1].tolist() for b in got] == [[0, 1, 2, 3], [4, 5]]
        np.testing.assert_array_equal(_np(got[0][0]), np.arange(8, dtype=np.float32).reshape(4, 2))
