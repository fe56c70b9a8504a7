"""dlcore.utils.tensorboard: ``SummaryWriter`` writing TensorBoard event files.

The event files are written by the ``tensorboard`` package (an optional dependency:
``pip install tensorboard``, or dlcore's ``[tensorboard]`` extra); dlcore makes the summary
protocol buffers from its tensors, numpy arrays and Python numbers, so ``tensorboard
--logdir runs`` shows what the script logged.

Covered: scalars (``add_scalar``, ``add_scalars``), histograms (``add_histogram``,
``add_histogram_raw``), images (``add_image``, ``add_images``, ``add_figure`` for matplotlib
figures), text (``add_text``) and hyper-parameters (``add_hparams``). Not covered, raising
NotImplementedError naming the method: graphs, embeddings, audio, video, meshes, PR curves and
custom-scalar layouts.
"""
import os
import socket
import struct
import time
import zlib
from datetime import datetime

import numpy as np

__all__ = ["SummaryWriter"]


def _require_tensorboard():
    try:
        from tensorboard.compat.proto import event_pb2, summary_pb2  # noqa: F401
        from tensorboard.summary.writer.event_file_writer import EventFileWriter  # noqa: F401
    except ImportError:
        raise ImportError("dlcore.utils.tensorboard needs the tensorboard package: pip install tensorboard") from None


def _to_numpy(value, what):
    if hasattr(value, "detach") and hasattr(value, "numpy"):
        return value.detach().cpu().numpy() if hasattr(value, "cpu") else value.detach().numpy()
    if isinstance(value, (int, float, bool, np.number, np.ndarray, list, tuple)):
        return np.asarray(value)
    raise TypeError(f"SummaryWriter.{what}: expected a tensor, numpy array or number, got {type(value).__name__}")


def _scalar(value, what):
    arr = _to_numpy(value, what)
    if arr.size != 1:
        raise ValueError(f"SummaryWriter.{what}: the value must hold one element, got shape {tuple(arr.shape)}")
    return float(arr.reshape(()))


# Note [Histogram buckets]
# TensorBoard's "tensorflow" bucketing: edges at +-1e-12 * 1.1**k up to 1e20 and 0, so one
# bucket list serves values of any magnitude with ~10% relative resolution; only the
# buckets between the first and the last non-empty one are written.
def _tensorflow_edges():
    pos = [1e-12]
    while pos[-1] < 1e20:
        pos.append(pos[-1] * 1.1)
    return np.array([-v for v in reversed(pos)] + [0.0] + pos + [np.inf])


_TF_EDGES = None


def _histogram_proto(values, bins, max_bins, what):
    from tensorboard.compat.proto.summary_pb2 import HistogramProto
    global _TF_EDGES
    v = _to_numpy(values, what).astype(np.float64).ravel()
    if v.size == 0:
        raise ValueError(f"SummaryWriter.{what}: the values are empty")
    if not np.isfinite(v).all():
        raise ValueError(f"SummaryWriter.{what}: the values hold NaN or infinity")
    if bins == "tensorflow":
        if _TF_EDGES is None:
            _TF_EDGES = _tensorflow_edges()
        counts, edges = np.histogram(v, bins=np.concatenate([[-np.inf], _TF_EDGES]))
        limits = edges[1:]
    else:
        counts, edges = np.histogram(v, bins=bins)
        limits = edges[1:]
    nz = np.nonzero(counts)[0]
    lo, hi = nz[0], nz[-1] + 1
    counts, limits = counts[lo:hi], limits[lo:hi]
    if max_bins is not None and len(counts) > max_bins:
        group = -(-len(counts) // max_bins)
        pad = (-len(counts)) % group
        counts = np.concatenate([counts, np.zeros(pad, counts.dtype)]).reshape(-1, group).sum(1)
        limits = np.concatenate([limits, np.full(pad, limits[-1])]).reshape(-1, group)[:, -1]
    return HistogramProto(min=float(v.min()), max=float(v.max()), num=int(v.size), sum=float(v.sum()),
                          sum_squares=float(np.dot(v, v)), bucket_limit=limits.tolist(), bucket=counts.tolist())


def _png(image):
    """PNG bytes of a uint8 (H, W, C) array with C in 1, 3, 4 (no image library needed)."""
    h, w, c = image.shape
    color_type = {1: 0, 3: 2, 4: 6}[c]
    raw = b"".join(b"\x00" + image[y].tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def _hwc_uint8(img, dataformats, what):
    """An image in `dataformats` (CHW, HWC, HW, or NCHW/NHWC for a grid) as uint8 HWC."""
    a = _to_numpy(img, what)
    fmt = dataformats.upper()
    if a.ndim != len(fmt) or sorted(fmt) != sorted(set(fmt)) or not set(fmt) <= set("NCHW"):
        raise ValueError(f"SummaryWriter.{what}: dataformats {dataformats!r} does not describe an image of "
                         f"shape {tuple(a.shape)}")
    if "N" in fmt:  # a batch, tiled into a grid of ceil(sqrt(n)) columns
        a = np.transpose(a, [fmt.index(k) for k in "NHWC" if k in fmt] if "C" in fmt else
                         [fmt.index(k) for k in "NHW"])
        if a.ndim == 3:
            a = a[..., None]
        n, h, w, c = a.shape
        cols = int(np.ceil(np.sqrt(n)))
        rows = -(-n // cols)
        grid = np.zeros((rows * h, cols * w, c), a.dtype)
        for i in range(n):
            grid[(i // cols) * h:(i // cols + 1) * h, (i % cols) * w:(i % cols + 1) * w] = a[i]
        a = grid
    else:
        a = np.transpose(a, [fmt.index(k) for k in "HWC" if k in fmt])
        if a.ndim == 2:
            a = a[..., None]
    if a.shape[2] not in (1, 3, 4):
        raise ValueError(f"SummaryWriter.{what}: an image has 1, 3 or 4 channels, got {a.shape[2]}")
    if a.dtype != np.uint8:  # floats are in [0, 1], as in torch
        a = (np.clip(a.astype(np.float64), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return np.ascontiguousarray(a)


class SummaryWriter:
    """Writes TensorBoard event files into ``log_dir`` (default ``runs/<date>_<host><comment>``),
    with torch.utils.tensorboard.SummaryWriter's methods (module docstring)."""

    def __init__(self, log_dir=None, comment="", purge_step=None, max_queue=10, flush_secs=120, filename_suffix=""):
        _require_tensorboard()
        if log_dir is None:
            stamp = datetime.now().strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", f"{stamp}_{socket.gethostname()}{comment}")
        self.log_dir = str(log_dir)
        self.purge_step = purge_step
        self.max_queue, self.flush_secs, self.filename_suffix = max_queue, flush_secs, filename_suffix
        self._writer = None
        self._children = {}  # add_scalars' per-tag writers
        self._open()

    def _open(self):
        from tensorboard.compat.proto.event_pb2 import Event, SessionLog
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
        self._writer = EventFileWriter(self.log_dir, self.max_queue, self.flush_secs, self.filename_suffix)
        if self.purge_step is not None:  # events at or after purge_step in older files are hidden
            self._writer.add_event(Event(step=self.purge_step, file_version="brain.Event:2"))
            self._writer.add_event(Event(step=self.purge_step, session_log=SessionLog(status=SessionLog.START)))
            self.purge_step = None

    def get_logdir(self):
        return self.log_dir

    def _writer_or_raise(self, what):
        if self._writer is None:
            raise RuntimeError(f"SummaryWriter.{what}: the writer is closed")
        return self._writer

    def _add_summary(self, summary, global_step, walltime, what):
        from tensorboard.compat.proto.event_pb2 import Event
        event = Event(summary=summary, wall_time=time.time() if walltime is None else float(walltime))
        if global_step is not None:
            event.step = int(_scalar(global_step, what))
        self._writer_or_raise(what).add_event(event)

    def add_scalar(self, tag, scalar_value, global_step=None, walltime=None, new_style=False,
                   double_precision=False):
        from tensorboard.compat.proto.summary_pb2 import Summary
        value = _scalar(scalar_value, "add_scalar")
        self._add_summary(Summary(value=[Summary.Value(tag=tag, simple_value=value)]), global_step, walltime,
                          "add_scalar")

    def add_scalars(self, main_tag, tag_scalar_dict, global_step=None, walltime=None):
        """Each entry goes to its own run, ``<log_dir>/<main_tag>_<tag>``, under the tag
        ``main_tag``, so TensorBoard draws them in one chart."""
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
        self._writer_or_raise("add_scalars")
        wall = time.time() if walltime is None else float(walltime)
        for tag, value in tag_scalar_dict.items():
            path = os.path.join(self.log_dir, f"{main_tag.replace('/', '_')}_{tag}")
            child = self._children.get(path)
            if child is None:
                child = self._children[path] = EventFileWriter(path, self.max_queue, self.flush_secs,
                                                               self.filename_suffix)
            event = Event(wall_time=wall, summary=Summary(value=[Summary.Value(
                tag=main_tag, simple_value=_scalar(value, "add_scalars"))]))
            if global_step is not None:
                event.step = int(_scalar(global_step, "add_scalars"))
            child.add_event(event)

    def add_histogram(self, tag, values, global_step=None, bins="tensorflow", walltime=None, max_bins=None):
        from tensorboard.compat.proto.summary_pb2 import Summary
        histo = _histogram_proto(values, bins, max_bins, "add_histogram")
        self._add_summary(Summary(value=[Summary.Value(tag=tag, histo=histo)]), global_step, walltime,
                          "add_histogram")

    def add_histogram_raw(self, tag, min, max, num, sum, sum_squares, bucket_limits, bucket_counts,
                          global_step=None, walltime=None):
        from tensorboard.compat.proto.summary_pb2 import HistogramProto, Summary
        if len(bucket_limits) != len(bucket_counts):
            raise ValueError(f"SummaryWriter.add_histogram_raw: {len(bucket_limits)} bucket_limits but "
                             f"{len(bucket_counts)} bucket_counts")
        histo = HistogramProto(min=float(min), max=float(max), num=int(num), sum=float(sum),
                               sum_squares=float(sum_squares), bucket_limit=[float(b) for b in bucket_limits],
                               bucket=[float(c) for c in bucket_counts])
        self._add_summary(Summary(value=[Summary.Value(tag=tag, histo=histo)]), global_step, walltime,
                          "add_histogram_raw")

    def _add_image_array(self, tag, hwc, global_step, walltime, what):
        from tensorboard.compat.proto.summary_pb2 import Summary
        image = Summary.Image(height=hwc.shape[0], width=hwc.shape[1], colorspace=hwc.shape[2],
                              encoded_image_string=_png(hwc))
        self._add_summary(Summary(value=[Summary.Value(tag=tag, image=image)]), global_step, walltime, what)

    def add_image(self, tag, img_tensor, global_step=None, walltime=None, dataformats="CHW"):
        """One image: floats in [0, 1] or uint8, laid out as ``dataformats`` (CHW, HWC, HW)."""
        self._add_image_array(tag, _hwc_uint8(img_tensor, dataformats, "add_image"), global_step, walltime,
                              "add_image")

    def add_images(self, tag, img_tensor, global_step=None, walltime=None, dataformats="NCHW"):
        """A batch of images, shown as one grid."""
        self._add_image_array(tag, _hwc_uint8(img_tensor, dataformats, "add_images"), global_step, walltime,
                              "add_images")

    def add_figure(self, tag, figure, global_step=None, close=True, walltime=None):
        """A matplotlib figure (or a list of them, shown as a grid), rendered to RGBA."""
        figures = figure if isinstance(figure, (list, tuple)) else [figure]
        images = []
        for fig in figures:
            fig.canvas.draw()
            images.append(np.asarray(fig.canvas.buffer_rgba()).copy())
            if close:
                import matplotlib.pyplot as plt
                plt.close(fig)
        if len(images) == 1:
            self._add_image_array(tag, images[0], global_step, walltime, "add_figure")
        else:
            self._add_image_array(tag, _hwc_uint8(np.stack(images), "NHWC", "add_figure"), global_step, walltime,
                                  "add_figure")

    def add_text(self, tag, text_string, global_step=None, walltime=None):
        from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
        from tensorboard.compat.proto.tensor_pb2 import TensorProto
        from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
        metadata = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="text"))
        tensor = TensorProto(dtype="DT_STRING", string_val=[str(text_string).encode("utf-8")],
                             tensor_shape=TensorShapeProto(dim=[TensorShapeProto.Dim(size=1)]))
        self._add_summary(Summary(value=[Summary.Value(tag=tag + "/text_summary", metadata=metadata,
                                                       tensor=tensor)]), global_step, walltime, "add_text")

    def add_hparams(self, hparam_dict, metric_dict, hparam_domain_discrete=None, run_name=None,
                    global_step=None):
        """Writes the hyper-parameters and metrics of one run for TensorBoard's HParams view (in a
        child run named ``run_name``, default the time stamp, as torch does)."""
        from tensorboard.plugins.hparams import summary_v2
        if not isinstance(hparam_dict, dict) or not isinstance(metric_dict, dict):
            raise TypeError("SummaryWriter.add_hparams: hparam_dict and metric_dict must be dicts")
        run_name = run_name or str(time.time())
        child = SummaryWriter(os.path.join(self.log_dir, run_name), max_queue=self.max_queue,
                              flush_secs=self.flush_secs, filename_suffix=self.filename_suffix)
        try:
            from tensorboard.compat.proto.summary_pb2 import Summary
            pb = summary_v2.hparams_pb({k: (v if isinstance(v, (bool, int, float, str)) else str(v))
                                        for k, v in hparam_dict.items()})
            child._add_summary(Summary.FromString(pb.SerializeToString()), global_step, None, "add_hparams")
            for k, v in metric_dict.items():
                child.add_scalar(k, v, global_step)
        finally:
            child.close()

    def _unsupported(self, what):
        raise NotImplementedError(f"SummaryWriter.{what}: not supported by dlcore.utils.tensorboard (scalars, "
                                  "histograms, images, figures, text and hparams are)")

    def add_graph(self, *args, **kwargs):
        self._unsupported("add_graph")

    def add_embedding(self, *args, **kwargs):
        self._unsupported("add_embedding")

    def add_audio(self, *args, **kwargs):
        self._unsupported("add_audio")

    def add_video(self, *args, **kwargs):
        self._unsupported("add_video")

    def add_mesh(self, *args, **kwargs):
        self._unsupported("add_mesh")

    def add_pr_curve(self, *args, **kwargs):
        self._unsupported("add_pr_curve")

    def add_custom_scalars(self, *args, **kwargs):
        self._unsupported("add_custom_scalars")

    def flush(self):
        for w in [self._writer, *self._children.values()]:
            if w is not None:
                w.flush()

    def close(self):
        for w in [self._writer, *self._children.values()]:
            if w is not None:
                w.flush()
                w.close()
        self._writer = None
        self._children = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
