"""Op-table rows for the shape ops that copy (cat, stack, split, chunk, pad, repeat, tile, flip,
roll, tril/triu) and for sorting (sort, argsort, topk)."""
import numpy as np

import dlcore
from optable import ErrorCase, OpRow


def normal(*groups):
    def make(r):
        return [tuple(r.standard_normal(s) for s in group) for group in groups]
    return make


def distinct(*groups):
    """Values far apart from each other, so that sort order and finite differences never tie."""
    def make(r):
        out = []
        for group in groups:
            out.append(tuple(np.asarray(r.permutation(max(int(np.prod(s, dtype=int)), 1)).reshape(s) * 0.37 - 3.0)
                             for s in group))
        return out
    return make


# ---- references ---------------------------------------------------------------------------------
def pad_ref(a, pads, mode="constant", value=0.0):
    """torch.nn.functional.pad in numpy: (left, right) pairs from the last dim; negative crops."""
    width = [(0, 0)] * a.ndim
    for k in range(len(pads) // 2):
        width[a.ndim - 1 - k] = (pads[2 * k], pads[2 * k + 1])
    crop = tuple(slice(max(-l, 0), a.shape[d] - max(-r, 0)) for d, (l, r) in enumerate(width))
    a = a[crop]
    grow = [(max(l, 0), max(r, 0)) for l, r in width]
    np_mode = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode]
    if np_mode == "constant":
        return np.pad(a, grow, mode="constant", constant_values=value)
    return np.pad(a, grow, mode=np_mode)


def sort_ref(a, dim=-1, descending=False):
    if a.ndim == 0:
        return a, np.array(0)
    idx = np.argsort(-a if descending else a, axis=dim, kind="stable")
    return np.take_along_axis(a, idx, dim), idx


def topk_ref(a, k, dim=-1, largest=True):
    idx = np.argsort(-a if largest else a, axis=dim, kind="stable")
    idx = np.take(idx, np.arange(k), axis=dim)
    return np.take_along_axis(a, idx, dim), idx


def chunk_ref(a, chunks):
    """torch.chunk: pieces of ceil(n / chunks) along dim 0 (so possibly fewer than `chunks`)."""
    size = -(-a.shape[0] // chunks)
    return [a[i:i + size] for i in range(0, a.shape[0], size)]


ROWS = [
    # ---- cat / stack
    OpRow("cat", lambda a, b, c: dlcore.cat([a, b, c], dim=1),
          lambda a, b, c: np.concatenate([a, b, c], axis=1),
          normal(((2, 3, 4), (2, 1, 4), (2, 7, 4)), ((1, 1), (1, 33), (1, 2))),
          errors=[ErrorCase(lambda dl: dl.cat([dl.ones(2, 3), dl.ones(3, 3)], dim=1), ValueError,
                            r"cat: sizes of tensors must match except in dimension 1: expected size 2 but got size 3 "
                            r"in dimension 0 for tensor 1 \(\[2, 3\] vs \[3, 3\]\)"),
                  ErrorCase(lambda dl: dl.cat([dl.ones(2, 3), dl.ones(3)]), ValueError,
                            r"cat: tensors must have the same number of dimensions: got 2 and 1"),
                  ErrorCase(lambda dl: dl.cat([dl.ones(()), dl.ones(())]), ValueError,
                            r"cat: zero-dimensional tensor \(at position 0\) cannot be concatenated"),
                  ErrorCase(lambda dl: dl.cat([]), ValueError, "cat: expected a non-empty list")]),
    OpRow("cat", lambda a, b: dlcore.cat([a, b], dim=-1), lambda a, b: np.concatenate([a, b], axis=-1),
          normal(((7,), (1,)), ((3, 5), (3, 2))), id="last"),
    OpRow("cat", lambda a, e, b: dlcore.cat([a, e, b]), lambda a, e, b: np.concatenate([a, b]),
          lambda r: [(r.standard_normal((2, 3)), np.zeros((0,)), r.standard_normal((1, 3)))], id="skip_empty_1d"),
    OpRow("stack", lambda a, b: dlcore.stack([a, b], dim=1), lambda a, b: np.stack([a, b], axis=1),
          normal(((3, 5), (3, 5)), ((7,), (7,)), ((1, 1), (1, 1))),
          errors=[ErrorCase(lambda dl: dl.stack([dl.ones(2, 3), dl.ones(2, 4)]), ValueError,
                            r"stack: expects each tensor to be equal size, but got \[2, 3\] at entry 0 and "
                            r"\[2, 4\] at entry 1")]),
    OpRow("stack", lambda a, b, c: dlcore.stack([a, b, c], dim=-1), lambda a, b, c: np.stack([a, b, c], axis=-1),
          normal(((2, 3), (2, 3), (2, 3)), ((), (), ())), id="last"),
    # ---- split / chunk (views)
    OpRow("split", lambda a: dlcore.split(a, 3, dim=1), lambda a: [a[:, i:i + 3] for i in range(0, a.shape[1], 3)],
          normal(((2, 7),), ((4, 9),), ((1, 1),)),
          errors=[ErrorCase(lambda dl: dl.ones(3).split(-1), ValueError,
                            "split: split_size must be non-negative, got -1")]),
    OpRow("split", lambda a: a.split([2, 0, 5], dim=0), lambda a: [a[:2], a[2:2], a[2:]], normal(((7, 3),)),
          id="sections"),
    OpRow("split_with_sizes", lambda a: a.split_with_sizes([1, 4, 2], dim=-1),
          lambda a: [a[..., :1], a[..., 1:5], a[..., 5:]], normal(((3, 7),), ((7,),)),
          errors=[ErrorCase(lambda dl: dl.ones(2, 5).split_with_sizes([2, 2], dim=1), ValueError,
                            r"split_with_sizes: split sizes \[2, 2\] must sum exactly to 5 \(the size of dimension 1 "
                            r"of float32 \[2, 5\]\), but sum to 4")]),
    OpRow("chunk", lambda a: dlcore.chunk(a, 3, dim=0), lambda a: chunk_ref(a, 3),
          normal(((7, 2),), ((33,),), ((1, 3),), ((3, 4),)),
          errors=[ErrorCase(lambda dl: dl.ones(3).chunk(0), ValueError, "chunk: chunks must be greater than 0, got 0")]),
    # ---- pad
    OpRow("pad", lambda a: dlcore._C.pad(a, (1, 2, 0, 3), value=1.5), lambda a: pad_ref(a, (1, 2, 0, 3), value=1.5),
          normal(((2, 3, 7),), ((1, 1),)),
          errors=[ErrorCase(lambda dl: dl._C.pad(dl.ones(2, 3), (1, 2, 3)), ValueError,
                            "pad: padding length must be divisible by 2, got 3"),
                  ErrorCase(lambda dl: dl._C.pad(dl.ones(3), (1, 1, 1, 1)), ValueError,
                            r"pad: padding length 4 is too large for a 1-d input \(float32 \[3\]\)"),
                  ErrorCase(lambda dl: dl._C.pad(dl.ones(1, 3), (3, 3), mode="reflect"), ValueError,
                            r"pad: padding size should be less than the corresponding input dimension for reflect "
                            r"mode, but got padding \(3, 3\) at dimension 1 of input \[1, 3\]"),
                  ErrorCase(lambda dl: dl._C.pad(dl.ones(2, 3), (-2, -2)), ValueError,
                            r"pad: the input size 3 at dimension 1 plus padding \(-2, -2\) gives a negative output"),
                  ErrorCase(lambda dl: dl._C.pad(dl.ones(2, 3), (1, 1), mode="mirror"), ValueError,
                            "pad: mode must be one of"),
                  ErrorCase(lambda dl: dl._C.pad(dl.ones(2, 3), (1, 1), mode="reflect", value=2.0), ValueError,
                            "pad: padding mode 'reflect' doesn't take in a value argument")]),
    OpRow("pad", lambda a: dlcore._C.pad(a, (-1, 2, 1, -2)), lambda a: pad_ref(a, (-1, 2, 1, -2)),
          normal(((3, 4, 5),)), id="negative"),
    OpRow("pad", lambda a: dlcore._C.pad(a, (2, 3, 1, 1), mode="reflect"),
          lambda a: pad_ref(a, (2, 3, 1, 1), "reflect"), normal(((2, 3, 7),), ((1, 2, 4),)), id="reflect"),
    OpRow("pad", lambda a: dlcore._C.pad(a, (2, 3, 1, 0, 1, 1), mode="replicate"),
          lambda a: pad_ref(a, (2, 3, 1, 0, 1, 1), "replicate"), normal(((2, 3, 5),), ((1, 1, 1),)), id="replicate"),
    OpRow("pad", lambda a: dlcore._C.pad(a, (2, 1), mode="circular"),
          lambda a: pad_ref(a, (2, 1), "circular"), normal(((2, 3, 5),)), id="circular"),
    # ---- repeat / tile
    OpRow("repeat", lambda a: a.repeat(2, 1, 3), lambda a: np.tile(a, (2, 1, 3)), normal(((3, 1, 2),), ((1, 1, 7),)),
          errors=[ErrorCase(lambda dl: dl.ones(2, 3).repeat(2), ValueError,
                            r"repeat: number of repeat dims \(1\) can not be smaller than the number of dimensions "
                            r"of the tensor \(float32 \[2, 3\]\)")]),
    OpRow("repeat", lambda a: a.repeat(2, 3, 1), lambda a: np.tile(a, (2, 3, 1)), normal(((7,),), ((),)),
          id="new_dims"),
    OpRow("repeat", lambda a: a.repeat(0, 2), lambda a: np.tile(a, (0, 2)), normal(((3, 2),)), id="zero", grad=False),
    OpRow("tile", lambda a: dlcore.tile(a, (2,)), lambda a: np.tile(a, (2,)), normal(((3, 2),), ((7,),), ((),)),
          errors=[ErrorCase(lambda dl: dl.tile(dl.ones(2), (-1,)), ValueError, "repeat: repeats must be non-negative")]),
    # ---- flip / roll
    OpRow("flip", lambda a: dlcore.flip(a, (0, 2)), lambda a: np.flip(a, (0, 2)), normal(((2, 3, 7),), ((1, 1, 33),)),
          errors=[ErrorCase(lambda dl: dl.flip(dl.ones(2, 3), (1, -1)), ValueError,
                            r"flip: dim -1 appears multiple times in the list of dims \[1, -1\]"),
                  ErrorCase(lambda dl: dl.flip(dl.ones(2, 3), (2,)), IndexError, "flip: dimension 2 out of range")]),
    OpRow("flip", lambda a: a.flip(-1), lambda a: np.flip(a, -1), normal(((7,),), ((3, 4),)), id="method"),
    OpRow("roll", lambda a: dlcore.roll(a, (2, -1), (0, 2)), lambda a: np.roll(a, (2, -1), (0, 2)),
          normal(((3, 2, 7),), ((1, 1, 1),)),
          errors=[ErrorCase(lambda dl: dl.roll(dl.ones(2, 3), (1, 2), (0,)), ValueError,
                            r"roll: shifts and dims must align: shifts \[1, 2\], dims \[0\]")]),
    OpRow("roll", lambda a: a.roll(5), lambda a: np.roll(a, 5), normal(((3, 7),), ((2,),)), id="flat"),
    OpRow("roll", lambda a: a.roll(-9, 1), lambda a: np.roll(a, -9, 1), normal(((3, 7),)), id="big_shift"),
    # ---- tril / triu
    OpRow("tril", lambda a: dlcore.tril(a), np.tril, normal(((4, 4),), ((2, 3, 7),), ((1, 1),)),
          errors=[ErrorCase(lambda dl: dl.tril(dl.ones(3)), ValueError,
                            r"tril: input tensor must have at least 2 dimensions, got float32 \[3\]")]),
    OpRow("tril", lambda a: a.tril(-2), lambda a: np.tril(a, -2), normal(((5, 3),), ((2, 7, 4),)), id="offset"),
    OpRow("triu", lambda a: dlcore.triu(a, diagonal=1), lambda a: np.triu(a, 1), normal(((4, 6),), ((3, 2, 5),)),
          errors=[ErrorCase(lambda dl: dl.triu(dl.ones(())), ValueError, "triu: input tensor must have at least 2")]),
    OpRow("triu", lambda a: a.triu(-1), lambda a: np.triu(a, -1), normal(((7, 7),)), id="offset"),
    # ---- sorting
    OpRow("sort", lambda a: dlcore.sort(a), sort_ref, distinct(((7,),), ((3, 33),), ((),)),
          errors=[ErrorCase(lambda dl: dl.sort(dl.ones(2, 3), dim=2), IndexError, "sort: dimension 2 out of range")]),
    OpRow("sort", lambda a: a.sort(dim=0, descending=True), lambda a: sort_ref(a, 0, True),
          distinct(((5, 3),), ((1, 4),)), id="desc_dim0"),
    OpRow("sort", lambda a: dlcore.sort(a, stable=True), sort_ref,
          lambda r: [(np.round(r.standard_normal((4, 9))),)], grad=False, id="ties"),
    OpRow("argsort", lambda a: dlcore.argsort(a, dim=1, descending=True), lambda a: sort_ref(a, 1, True)[1],
          lambda r: [(np.round(r.standard_normal((3, 7))),), (r.standard_normal((2, 1)),)], grad=False,
          errors=[ErrorCase(lambda dl: dl.argsort(dl.ones(2), dim=1), IndexError, "sort: dimension 1 out of range")]),
    OpRow("topk", lambda a: dlcore.topk(a, 3), lambda a: topk_ref(a, 3), distinct(((7,),), ((2, 33),), ((4, 3),)),
          errors=[ErrorCase(lambda dl: dl.topk(dl.ones(2, 4), 5), ValueError,
                            r"topk: k \(5\) is out of range for dimension 1 of size 4")]),
    OpRow("topk", lambda a: a.topk(2, dim=0, largest=False), lambda a: topk_ref(a, 2, 0, False),
          distinct(((5, 3),)), id="smallest"),
    OpRow("topk", lambda a: dlcore.topk(a, 4), lambda a: topk_ref(a, 4),
          lambda r: [(np.round(r.standard_normal((3, 9))),)], grad=False, id="ties"),
]
