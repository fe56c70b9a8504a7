"""Op-table rows for the indexing family: gather, scatter, scatter_add, index_select, masked_fill,
one_hot, embedding, nonzero, advanced indexing (index) and index_put(_)."""
import numpy as np

import dlcore
from optable import Const, ErrorCase, OpRow


def take_along(a, idx, dim):
    """torch.gather: like np.take_along_axis, but idx may be smaller than a in the other dims."""
    crop = tuple(slice(0, s) if d != dim % a.ndim else slice(None) for d, s in enumerate(idx.shape))
    return np.take_along_axis(a[crop], idx, dim)


def scatter_positions(dim, idx):
    """The index tuple that torch.scatter writes at, for np.add.at / assignment."""
    grids = list(np.indices(idx.shape))
    grids[dim % idx.ndim] = idx
    return tuple(grids)


def scatter_ref(a, dim, idx, src):
    out = a.copy()
    vals = src if np.ndim(src) == 0 else src[tuple(slice(0, s) for s in idx.shape)]
    out[scatter_positions(dim, idx)] = vals
    return out


def scatter_add_ref(a, dim, idx, src):
    out = a.copy()
    np.add.at(out, scatter_positions(dim, idx), src[tuple(slice(0, s) for s in idx.shape)])
    return out


def unique_index(r, shape, size, dim):
    """An index of `shape` whose entries are distinct along `dim` (so scatter has no collisions)."""
    keys = r.random(shape[:dim] + (size,) + shape[dim + 1:])
    order = np.argsort(keys, axis=dim)
    return np.take(order, np.arange(shape[dim]), axis=dim).astype(np.int64)


def gather_samples(r):
    return [(r.standard_normal((3, 7)), r.integers(0, 7, (3, 4))),
            (r.standard_normal((2, 5, 3)), r.integers(0, 5, (2, 9, 2)))]


def scatter_samples(r):
    return [(r.standard_normal((3, 7)), unique_index(r, (3, 4), 7, 1), r.standard_normal((3, 4))),
            (r.standard_normal((2, 6, 3)), unique_index(r, (2, 5, 3), 6, 1), r.standard_normal((2, 7, 3)))]


def index_put_ref(a, idx, v, accumulate):
    out = a.copy()
    if accumulate:
        np.add.at(out, idx, v)
    else:
        out[idx] = v
    return out


ROWS = [
    # ---- gather / scatter
    OpRow("gather", lambda a, i: dlcore.gather(a, 1, i), lambda a, i: take_along(a, i, 1),
          gather_samples,
          errors=[ErrorCase(lambda dl: dl.gather(dl.ones(2, 3), 1, dl.tensor([[0, 5]])), IndexError,
                            "gather: index 5 is out of bounds for dimension 1 with size 3"),
                  ErrorCase(lambda dl: dl.gather(dl.ones(2, 3), 1, dl.tensor([[-1]])), IndexError,
                            "gather: index -1 is out of bounds for dimension 1 with size 3"),
                  ErrorCase(lambda dl: dl.gather(dl.ones(2, 3), 1, dl.ones(2, 3)), TypeError,
                            r"gather: index must be an int64 \(or int32\) tensor, got float32 \[2, 3\]"),
                  ErrorCase(lambda dl: dl.gather(dl.ones(2, 3), 1, dl.tensor([0, 1])), ValueError,
                            r"gather: index must have the same number of dimensions as input, got index \[2\] and "
                            r"input \[2, 3\]"),
                  ErrorCase(lambda dl: dl.gather(dl.ones(2, 3), 1, dl.zeros(3, 1, dtype=dl.int64)), ValueError,
                            r"gather: index \[3, 1\] is larger than input \[2, 3\] at dimension 0 \(only dimension 1 "
                            r"may be larger\)")]),
    OpRow("gather", lambda a, i: a.gather(0, i), lambda a, i: take_along(a, i, 0),
          lambda r: [(r.standard_normal((3, 5)), r.integers(0, 3, (6, 2))),
                     (r.standard_normal((1,)), r.integers(0, 1, (33,)))], id="dim0"),
    OpRow("scatter", lambda a, i, s: dlcore.scatter(a, 1, i, s), lambda a, i, s: scatter_ref(a, 1, i, s),
          scatter_samples,
          errors=[ErrorCase(lambda dl: dl.scatter(dl.ones(2, 3), 1, dl.tensor([[3]]), dl.ones(1, 1)), IndexError,
                            "scatter: index 3 is out of bounds for dimension 1 with size 3"),
                  ErrorCase(lambda dl: dl.scatter(dl.ones(2, 3), 1, dl.tensor([[0, 1]]), dl.ones(1, 1)), ValueError,
                            r"scatter: index \[1, 2\] is larger than src \[1, 1\] at dimension 1")]),
    OpRow("scatter", lambda a, i: a.scatter(0, i, 2.5), lambda a, i: scatter_ref(a, 0, i, 2.5),
          lambda r: [(r.standard_normal((5, 3)), unique_index(r, (2, 3), 5, 0))], id="value"),
    OpRow("scatter_add", lambda a, i, s: dlcore.scatter_add(a, 1, i, s), lambda a, i, s: scatter_add_ref(a, 1, i, s),
          lambda r: [(r.standard_normal((3, 7)), r.integers(0, 7, (3, 9)), r.standard_normal((3, 9))),
                     (r.standard_normal((2, 4, 3)), r.integers(0, 4, (2, 6, 2)), r.standard_normal((2, 7, 3)))],
          errors=[ErrorCase(lambda dl: dl.scatter_add(dl.ones(2, 3), 0, dl.tensor([[2]]), dl.ones(1, 1)), IndexError,
                            "scatter_add: index 2 is out of bounds for dimension 0 with size 2")]),
    # ---- index_select / embedding
    OpRow("index_select", lambda a, i: dlcore.index_select(a, 1, i), lambda a, i: np.take(a, i, 1),
          lambda r: [(r.standard_normal((3, 7)), r.integers(0, 7, (9,))),
                     (r.standard_normal((2, 5, 3)), np.array([4, 0, 4, 1])),
                     (r.standard_normal((2, 1)), np.zeros((0,), np.int64))],
          errors=[ErrorCase(lambda dl: dl.index_select(dl.ones(2, 3), 1, dl.tensor([1, 3])), IndexError,
                            "index_select: index 3 is out of bounds for dimension 1 with size 3"),
                  ErrorCase(lambda dl: dl.index_select(dl.ones(2, 3), 1, dl.tensor([[1]])), ValueError,
                            r"index_select: index must be a 0-d or 1-d tensor, got int64 \[1, 1\]"),
                  ErrorCase(lambda dl: dl.index_select(dl.ones(2, 3), 0, dl.tensor([-1])), IndexError,
                            "index_select: index -1 is out of bounds")]),
    OpRow("index_select", lambda a, i: a.index_select(0, i), lambda a, i: np.take(a, i, 0),
          lambda r: [(r.standard_normal((7,)), r.integers(0, 7, (33,)))], id="1d"),
    OpRow("embedding", lambda i, w: dlcore._C.embedding(i, w), lambda i, w: w[i],
          lambda r: [(r.integers(0, 7, (3, 5)), r.standard_normal((7, 4))),
                     (r.integers(0, 3, (9,)), r.standard_normal((3, 1))),
                     (np.array(2), r.standard_normal((3, 2)))],
          errors=[ErrorCase(lambda dl: dl._C.embedding(dl.tensor([0, 7]), dl.ones(5, 2)), IndexError,
                            "embedding: index 7 is out of bounds for dimension 0 with size 5"),
                  ErrorCase(lambda dl: dl._C.embedding(dl.tensor([0.0]), dl.ones(5, 2)), TypeError,
                            r"embedding: index must be an int64 \(or int32\) tensor, got float32 \[1\]"),
                  ErrorCase(lambda dl: dl._C.embedding(dl.tensor([0]), dl.ones(5)), ValueError,
                            r"embedding: weight must be 2-d \(num_embeddings, embedding_dim\), got float32 \[5\]"),
                  ErrorCase(lambda dl: dl._C.embedding(dl.tensor([0]), dl.ones(5, 2), padding_idx=5), ValueError,
                            r"embedding: padding_idx must be within num_embeddings \(5\), got 5")]),
    # padding_idx: forward only here (its rows get no gradient by design; see test_indexing.py)
    OpRow("embedding", lambda i, w: dlcore._C.embedding(i, w, padding_idx=1), lambda i, w: w[i],
          lambda r: [(r.integers(0, 4, (2, 6)), r.standard_normal((4, 3)))], grad=False, id="padding_idx"),
    # ---- masked_fill / one_hot / nonzero
    OpRow("masked_fill", lambda a, m: a.masked_fill(m, -1.5), lambda a, m: np.where(m, -1.5, a),
          lambda r: [(r.standard_normal((3, 7)), r.random((3, 7)) > 0.5),
                     (r.standard_normal((2, 5)), r.random((5,)) > 0.5),
                     (r.standard_normal(()), np.array(True))],
          errors=[ErrorCase(lambda dl: dl.masked_fill(dl.ones(2), dl.ones(2), 0.0), TypeError,
                            r"masked_fill: mask must be a bool tensor, got float32 \[2\]"),
                  ErrorCase(lambda dl: dl.masked_fill(dl.ones(2), dl.ones(2, dtype=dl.bool), dl.ones(2)), ValueError,
                            r"masked_fill: value must be a 0-d tensor or a number, got float32 \[2\]"),
                  ErrorCase(lambda dl: dl.masked_fill(dl.ones(2), dl.ones(3, dtype=dl.bool), 0.0), ValueError,
                            r"masked_fill: shapes \[2\] and \[3\] cannot be broadcast")]),
    OpRow("masked_fill", lambda a, m, v: dlcore.masked_fill(a, m, v), lambda a, m, v: np.where(m, v, a),
          lambda r: [(r.standard_normal((4, 3)), r.random((4, 3)) > 0.5, np.array(0.7))], id="tensor_value"),
    OpRow("one_hot", lambda t: dlcore._C.one_hot(t), lambda t: np.eye(t.max() + 1, dtype=np.int64)[t],
          lambda r: [(r.integers(0, 5, (3, 7)),), (np.array([0, 6, 2]),), (np.array(3),)], grad=False,
          dtypes=("float32",),
          errors=[ErrorCase(lambda dl: dl._C.one_hot(dl.tensor([0, 3]), 3), IndexError,
                            r"one_hot: class values must be smaller than num_classes \(3\), got 3"),
                  ErrorCase(lambda dl: dl._C.one_hot(dl.tensor([-1, 0])), IndexError,
                            "one_hot: class values must be non-negative, got -1"),
                  ErrorCase(lambda dl: dl._C.one_hot(dl.zeros(0, dtype=dl.int64)), ValueError,
                            "one_hot: can not infer the number of classes from an empty tensor"),
                  ErrorCase(lambda dl: dl._C.one_hot(dl.ones(2)), TypeError,
                            "one_hot: expected an int64 tensor of class indices, got float32")]),
    OpRow("one_hot", lambda t: dlcore._C.one_hot(t, num_classes=9), lambda t: np.eye(9, dtype=np.int64)[t],
          lambda r: [(r.integers(0, 9, (33,)),), (np.zeros((0, 2), np.int64),)], grad=False, dtypes=("float32",),
          id="num_classes"),
    OpRow("nonzero", lambda a: dlcore.nonzero(a), np.argwhere,
          lambda r: [(np.round(r.standard_normal((3, 7))),), (np.round(r.standard_normal((33,))),),
                     (np.array(1.5),), (np.zeros((2, 3)),)], grad=False),
    # ---- advanced indexing
    OpRow("index", lambda a, i: a[i], lambda a, i: a[i],
          lambda r: [(r.standard_normal((7, 3)), r.integers(-7, 7, (2, 5))),
                     (r.standard_normal((33,)), r.integers(0, 33, (9,))),
                     (r.standard_normal((4,)), np.array(2))],
          errors=[ErrorCase(lambda dl: dl.ones(2, 3)[dl.tensor([0, 2])], IndexError,
                            "index: index 2 is out of bounds for dimension 0 with size 2"),
                  ErrorCase(lambda dl: dl.ones(2, 3)[:, dl.tensor([-4])], IndexError,
                            "index: index -4 is out of bounds for dimension 1 with size 3"),
                  ErrorCase(lambda dl: dl.ones(2, 3)[dl.ones(2)], IndexError,
                            r"index: tensors used as indices must be int64, int32 or bool tensors, got float32 \[2\]"),
                  ErrorCase(lambda dl: dl.ones(2, 3)[dl.tensor([0, 1]), dl.tensor([0, 1, 2])], IndexError,
                            r"index: shape mismatch: indexing tensors could not be broadcast together with shapes "
                            r"\[2\] and \[3\]"),
                  ErrorCase(lambda dl: dl.ones(2, 3)[dl.ones(3, dtype=dl.bool)], IndexError,
                            r"index: the shape of the mask \[3\] at index 0 does not match the shape of the indexed "
                            r"tensor \[2, 3\] at dimension 0")]),
    OpRow("index", lambda a, i, j: a[i, :, j], lambda a, i, j: np.stack([a[i[k], :, j[k]] for k in range(len(i))]),
          lambda r: [(r.standard_normal((4, 3, 5)), r.integers(0, 4, (6,)), r.integers(0, 5, (6,)))], id="split"),
    OpRow("index", lambda a, i, j: a[:, i, j], lambda a, i, j: a[:, i, j],
          lambda r: [(r.standard_normal((2, 4, 5)), r.integers(0, 4, (3, 1)), r.integers(0, 5, (7,)))], id="adjacent"),
    OpRow("index", lambda a, m: a[m], lambda a, m: a[m],
          lambda r: [(r.standard_normal((4, 5)), r.random((4, 5)) > 0.4), (r.standard_normal((4, 5)), r.random(4) > 0.4)],
          id="mask"),
    OpRow("index_put_", lambda a, i, v: a.clone().index_put_((i,), v, accumulate=True),
          lambda a, i, v: index_put_ref(a, i, v, True),
          lambda r: [(r.standard_normal((5, 3)), r.integers(0, 5, (7,)), r.standard_normal((7, 3))),
                     (r.standard_normal((6,)), r.integers(-6, 6, (9,)), r.standard_normal(()))],
          errors=[ErrorCase(lambda dl: dl.zeros(3, 2).index_put_((dl.tensor([0, 1]),), dl.ones(3)), ValueError,
                            r"index_put_: shape mismatch: value tensor of shape \[3\] cannot be broadcast to indexing "
                            r"result of shape \[2, 2\]"),
                  ErrorCase(lambda dl: dl.zeros(3).index_put_((dl.tensor([3]),), dl.ones(())), IndexError,
                            "index_put_: index 3 is out of bounds for dimension 0 with size 3")]),
    OpRow("index_put_", lambda a, i, j, v: a.clone().index_put_((i, None, j), v),
          lambda a, i, j, v: index_put_ref(a, (i, slice(None), j), v, False),
          lambda r: [(r.standard_normal((4, 2, 5)), np.array([0, 3, 1]), np.array([4, 0, 2]), r.standard_normal((3, 2)))],
          id="assign"),
    OpRow("index_put", lambda a, i, v: a.index_put((i,), v), lambda a, i, v: index_put_ref(a, i, v, False),
          lambda r: [(r.standard_normal((7, 2)), np.array([6, 0, 3]), r.standard_normal((3, 2)))]),
]
