"""NMS on the CPU: dlcore.ops.nms against OpenCV's cv2.dnn.NMSBoxes and onnxruntime's
NonMaxSuppression, at 1k, 10k and 50k boxes, in the same run on the same cores.

Boxes (float32): "uniform" has top-left corners uniform in [0, 1000)^2 and sides uniform in
[10, 100) (every box overlaps ~30 others: many suppressions and many survivors); "clustered"
jitters boxes around N / 20 objects (centres uniform in [0, 1000)^2, offsets N(0, 8), sides
uniform in [20, 120)): detector-like output, most boxes suppressed. Scores uniform in
(0.001, 1), float32. IoU threshold 0.5. Each library gets its own input format, prepared
outside the timed call:
  dlcore   nms(boxes [N, 4] xyxy float32 tensor, scores [N] float32 tensor, 0.5)
  OpenCV   cv2.dnn.NMSBoxes(boxes [N, 4] xywh float64 array (Rect2d), scores, score_threshold=0,
           nms_threshold=0.5): OpenCV only takes score_threshold >= 0 and keeps scores > it, so
           every score is > 0 here; its boxes are xywh, converted once from the same corners
           (w = x2 - x1 in float64: exact, so x + w is x2 again)
  onnxruntime  a one-node NonMaxSuppression model (opset 11+, center_point_box = 0, one batch,
           one class, max_output_boxes_per_class = N, no score threshold), written here as raw
           protobuf bytes (no onnx package needed); boxes [1, N, 4], scores [1, 1, N]
Each timing is the median of several calls (alternating between the libraries, after warm-up);
the kept indices of every library are compared with dlcore's (same sequence, or the number of
indices that differ). All three visit boxes by decreasing score and suppress at IoU > 0.5; OpenCV
computes IoU in double, dlcore and onnxruntime in float32, so a pair within rounding of 0.5 could
in principle be decided differently.

    python bench/bench_nms.py [--sizes 1000,10000,50000] [--reps 7] [--threads 2]
"""
import argparse
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchutil import cpu_name, median_times  # noqa: E402

import dlcore  # noqa: E402


# ---- boxes ----------------------------------------------------------------------------------------
def make_boxes(n, dist, seed=0):
    r = np.random.default_rng(seed)
    if dist == "uniform":
        xy = r.uniform(0, 1000, (n, 2))
        wh = r.uniform(10, 100, (n, 2))
    else:
        centres = r.uniform(0, 1000, (max(1, n // 20), 2))
        c = centres[r.integers(0, len(centres), n)] + r.normal(0, 8, (n, 2))
        wh = r.uniform(20, 120, (n, 2))
        xy = c - wh / 2
    boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
    scores = r.uniform(0.001, 1.0, n).astype(np.float32)
    return boxes, scores


# ---- a one-node ONNX model, as protobuf bytes -------------------------------------------------------
def _varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(num, wire, payload):
    key = _varint((num << 3) | wire)
    if wire == 0:
        return key + _varint(payload)
    return key + _varint(len(payload)) + payload  # wire 2: length-delimited


def _s(num, text):
    return _field(num, 2, text.encode())


def _value_info(name, elem_type, dims):
    # ValueInfoProto{name=1, type=2}; TypeProto{tensor_type=1}; Tensor{elem_type=1, shape=2};
    # TensorShapeProto{dim=1}; Dimension{dim_value=1 | dim_param=2}
    shape = b"".join(_field(1, 2, _field(1, 0, d) if isinstance(d, int) else _s(2, d)) for d in dims)
    tensor_type = _field(1, 0, elem_type) + _field(2, 2, shape)
    return _s(1, name) + _field(2, 2, _field(1, 2, tensor_type))


def nms_onnx_model():
    FLOAT, INT64 = 1, 7
    attr = _s(1, "center_point_box") + _field(3, 0, 0) + _field(20, 0, 2)  # AttributeProto, type INT
    node = b"".join(_s(1, i) for i in ("boxes", "scores", "max_out", "iou_thr")) + _s(2, "selected") + \
        _s(4, "NonMaxSuppression") + _field(5, 2, attr)
    graph = _field(1, 2, node) + _s(2, "nms") + \
        _field(11, 2, _value_info("boxes", FLOAT, [1, "N", 4])) + \
        _field(11, 2, _value_info("scores", FLOAT, [1, 1, "N"])) + \
        _field(11, 2, _value_info("max_out", INT64, [1])) + \
        _field(11, 2, _value_info("iou_thr", FLOAT, [1])) + \
        _field(12, 2, _value_info("selected", INT64, ["K", 3]))
    opset = _s(1, "") + _field(2, 0, 13)
    return _field(1, 0, 8) + _s(2, "bench_nms") + _field(7, 2, graph) + _field(8, 2, opset)


# ---- the libraries ----------------------------------------------------------------------------------
def runners(boxes, scores, thr, threads):
    """name -> (call returning the kept indices as int64 numpy, note)."""
    out = {}
    tb, ts = dlcore.tensor(boxes), dlcore.tensor(scores)
    out["dlcore"] = lambda: dlcore.ops.nms(tb, ts, thr).numpy()
    try:
        import cv2
        cv2.setNumThreads(threads)
        b64 = boxes.astype(np.float64)
        xywh = np.concatenate([b64[:, :2], b64[:, 2:] - b64[:, :2]], 1)
        out["opencv"] = lambda: np.asarray(cv2.dnn.NMSBoxes(xywh, scores, 0.0, thr), dtype=np.int64).reshape(-1)
    except ImportError:
        pass
    try:
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        sess = ort.InferenceSession(nms_onnx_model(), so, providers=["CPUExecutionProvider"])
        feeds = {"boxes": boxes[None], "scores": scores[None, None], "max_out": np.array([len(scores)], np.int64),
                 "iou_thr": np.array([thr], np.float32)}
        out["onnxruntime"] = lambda: sess.run(None, feeds)[0][:, 2].astype(np.int64)
    except ImportError:
        pass
    return out


def agreement(ref, got):
    if len(ref) == len(got) and np.array_equal(ref, got):
        return "same"
    diff = len(np.setxor1d(ref, got))
    return f"{diff} differ" if diff else "same set, other order"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000,50000")
    ap.add_argument("--dists", default="uniform,clustered")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--thr", type=float, default=0.5)
    args = ap.parse_args()
    dlcore.set_num_threads(args.threads)
    print(f"# NMS, IoU > {args.thr}, float32 boxes; {cpu_name()}, {os.cpu_count()} cores, {args.threads} threads "
          f"per library; times in ms, the median of `reps` calls of each")
    print(f"{'boxes':>6} {'distribution':>12} {'kept':>6} {'reps':>4} | {'dlcore':>8} {'opencv':>8} {'onnxrt':>8} | "
          f"{'vs cv2':>7} {'vs ort':>7} | agreement with dlcore")
    for dist in args.dists.split(","):
        for n in (int(s) for s in args.sizes.split(",")):
            boxes, scores = make_boxes(n, dist)
            fns = runners(boxes, scores, args.thr, args.threads)
            names = list(fns)
            reps = max(3, args.reps if n <= 10000 else args.reps // 2 + 1)
            times = dict(zip(names, median_times([fns[k] for k in names], reps)))
            ref = fns["dlcore"]()
            agree = ", ".join(f"{k}: {agreement(ref, fns[k]())}" for k in names if k != "dlcore")
            ms = {k: f"{times[k] * 1e3:8.2f}" if k in times else f"{'-':>8}"
                  for k in ("dlcore", "opencv", "onnxruntime")}
            sp = {k: f"{times[k] / times['dlcore']:6.1f}x" if k in times else f"{'-':>7}"
                  for k in ("opencv", "onnxruntime")}
            print(f"{n:>6} {dist:>12} {len(ref):>6} {reps:>4} | {ms['dlcore']} {ms['opencv']} {ms['onnxruntime']} | "
                  f"{sp['opencv']} {sp['onnxruntime']} | {agree}", flush=True)


if __name__ == "__main__":
    main()
